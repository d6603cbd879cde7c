"""Blocked time in a feed of several calendars names its employee ("Lunch – Anna Berg"), over
real HTTP on SQLite and PostgreSQL, read by icalendar and vobject: in set and "all" links with
the full and limited profiles; a one-calendar link and the busy profile stay as they were; a
renamed employee changes the feed's ETag and text; bookings keep their summaries."""

from __future__ import annotations

from typing import Any

import icalendar
import pytest
import requests
import vobject

from support import Api, LiveServer, Salon, block, book, make_link, make_salon


@pytest.fixture
def api(live: LiveServer) -> Api:
    return Api(live.url)


def summaries(link: dict[str, Any]) -> list[str]:
    response = requests.get(link["feed_url"], timeout=30)
    assert response.status_code == 200, response.text
    from_vobject = sorted(e.summary.value for e in vobject.readOne(response.text).vevent_list)
    found = sorted(str(e["SUMMARY"]) for e in
                   icalendar.Calendar.from_ical(response.content).walk("VEVENT"))
    assert found == from_vobject
    return found


def staff(api: Api) -> tuple[Salon, list[int]]:
    salon = make_salon(api)  # calendar "Anna Berg"
    ids = [salon.calendar] + [
        api.ok("POST", f"/businesses/{salon.business}/calendars", 201, json={"name": n})["id"]
        for n in ("Bo  Holm", "Carl; Ø, \\N")]
    for calendar in ids:
        block(api, salon, calendar=calendar, title="Lunch", start="2026-12-01T12:00:00",
              end="2026-12-01T13:00:00", rrule="FREQ=DAILY;COUNT=3")
    book(api, salon, "2026-12-01T10:00:00", client_id=salon.client)
    return salon, ids


def test_several_calendars_name_whose_lunch_it_is(api: Api) -> None:
    # Names are escaped as every summary is (icalendar reads a literal "\\N" as a line break).
    salon, ids = staff(api)
    everyone = make_link(api, salon.business, profile="full")
    assert summaries(everyone) == ["Haircut – Jens Hansen", "Lunch – Anna Berg",
                                   "Lunch – Bo Holm", "Lunch – Carl; Ø, \n"]
    chosen = make_link(api, salon.business, scope="set", calendar_ids=ids[:2],
                       profile="limited")
    assert summaries(chosen) == ["Busy – Anna Berg", "Busy – Bo Holm", "Haircut"]
    # One calendar: no name needed; busy: the time only.
    one = make_link(api, salon.business, scope="calendar", calendar_ids=[ids[1]])
    assert summaries(one) == ["Lunch"]
    busy = make_link(api, salon.business, profile="busy")
    assert summaries(busy) == ["Busy"] * 4


def test_a_renamed_employee_changes_the_feed(api: Api) -> None:
    salon, ids = staff(api)
    link = make_link(api, salon.business, profile="full")
    first = requests.get(link["feed_url"], timeout=30)
    api.ok("PATCH", f"/businesses/{salon.business}/calendars/{ids[1]}", json={"name": "Bo Lund"})
    again = requests.get(link["feed_url"], headers={"If-None-Match": first.headers["ETag"]},
                         timeout=30)
    assert again.status_code == 200 and again.headers["ETag"] != first.headers["ETag"]
    assert "Lunch – Bo Lund" in summaries(link)

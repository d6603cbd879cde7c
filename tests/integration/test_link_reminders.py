"""Reminders per link over real HTTP, on SQLite and PostgreSQL, on a FixedClock at support.NOW:
none by default; a link's `reminder_minutes` puts a display VALARM on each of its bookings (not
on blocked time), read back by icalendar and vobject; the alarm's text shows only what the
profile shows; the feed's ETag follows the setting; bad values are refused."""

from __future__ import annotations

import datetime as dt
from typing import Any

import icalendar
import pytest
import requests
import vobject

from support import Api, LiveServer, Salon, assert_error, block, book, make_link, make_salon


@pytest.fixture
def api(live: LiveServer) -> Api:
    return Api(live.url)


@pytest.fixture
def salon(api: Api) -> Salon:
    made = make_salon(api)
    book(api, made, "2026-12-01T10:00:00", client_id=made.client)
    book(api, made, "2026-12-02", all_day=True)
    block(api, made, title="Lunch", start="2026-12-01T12:00:00", end="2026-12-01T13:00:00")
    return made


def get(url: str, **headers: str) -> requests.Response:
    response = requests.get(url, headers={"Accept-Encoding": "identity", **headers}, timeout=30)
    assert response.status_code in (200, 304), response.text
    return response


def events(text: str) -> dict[str, icalendar.Event]:
    return {str(e["SUMMARY"]): e for e in icalendar.Calendar.from_ical(text).walk("VEVENT")}


def patch(api: Api, salon: Salon, link: dict[str, Any], **fields: Any) -> requests.Response:
    return api.patch(f"/businesses/{salon.business}/links/{link['id']}", json=fields)


def test_no_alarm_by_default_then_one_per_booking(api: Api, salon: Salon) -> None:
    link = make_link(api, salon.business, profile="full")
    assert link["reminder_minutes"] is None
    first = get(link["feed_url"])
    assert "VALARM" not in first.text
    changed = patch(api, salon, link, reminder_minutes=15)
    assert changed.status_code == 200 and changed.json()["reminder_minutes"] == 15
    # The old ETag no longer matches: the subscriber gets the alarms.
    again = get(link["feed_url"], **{"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200 and again.headers["ETag"] != first.headers["ETag"]
    found = events(again.text)
    assert set(found) == {"Haircut – Jens Hansen", "Haircut", "Lunch – Anna Berg"}
    for summary in ("Haircut – Jens Hansen", "Haircut"):
        [alarm] = found[summary].walk("VALARM")
        assert str(alarm["ACTION"]) == "DISPLAY"
        assert alarm.decoded("TRIGGER") == -dt.timedelta(minutes=15)
        assert str(alarm["DESCRIPTION"]) == summary
    assert found["Lunch – Anna Berg"].walk("VALARM") == []  # blocked time has no alarm
    parsed = vobject.readOne(again.text)
    alarms = [e.valarm.trigger.value for e in parsed.vevent_list if hasattr(e, "valarm")]
    assert alarms == [-dt.timedelta(minutes=15)] * 2
    # An unchanged poll is answered 304; a day's alarm, then none again.
    assert get(link["feed_url"], **{"If-None-Match": again.headers["ETag"]}).status_code == 304
    assert patch(api, salon, link, reminder_minutes=1440).status_code == 200
    day = events(get(link["feed_url"]).text)["Haircut"].walk("VALARM")[0]
    assert day.decoded("TRIGGER") == -dt.timedelta(days=1)
    cleared = patch(api, salon, link, reminder_minutes=None)
    assert cleared.json()["reminder_minutes"] is None
    assert "VALARM" not in get(link["feed_url"]).text


@pytest.mark.parametrize("profile, shown", [("limited", "Haircut"), ("busy", "Busy")])
def test_the_alarm_text_follows_the_profile(api: Api, salon: Salon, profile: str,
                                            shown: str) -> None:
    link = make_link(api, salon.business, profile=profile, reminder_minutes=30)
    text = get(link["feed_url"]).text
    assert "Jens" not in text and "jens@example.com" not in text
    alarms = [a for e in icalendar.Calendar.from_ical(text).walk("VEVENT")
              for a in e.walk("VALARM")]
    assert len(alarms) == 2
    assert {str(a["DESCRIPTION"]) for a in alarms} == {shown}


def test_bad_reminders_are_refused(api: Api, salon: Salon) -> None:
    path = f"/businesses/{salon.business}/links"
    for value in (-1, 40321, 10**30, "15", 1.5, True):
        response = api.post(path, json={"scope": "all", "profile": "full",
                                        "reminder_minutes": value})
        assert_error(response, 422, "invalid", "reminder_minutes")
    link = make_link(api, salon.business, profile="full", reminder_minutes=10)
    assert_error(patch(api, salon, link, reminder_minutes=-5), 422, "invalid")
    assert api.ok("GET", f"{path}/{link['id']}")["reminder_minutes"] == 10

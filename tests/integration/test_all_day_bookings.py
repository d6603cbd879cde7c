"""All-day bookings (a course day, a retreat) end to end over real HTTP, on SQLite and
PostgreSQL, on a FixedClock at support.NOW: the API's dates (end exclusive), the errors, moves,
availability blocking the employee's whole local day (in its zone, not UTC's), overlaps, the feed
and CalDAV writing DTSTART;VALUE=DATE (read by icalendar, vobject and python-caldav), and the
Google copy as an all-day event."""

from __future__ import annotations

import datetime as dt
from typing import Any

import caldav
import icalendar
import pytest
import requests
import vobject

from google_world import World
from server.domain import bookings
from support import Api, LiveServer, Salon, assert_error, book, make_link, make_salon

DAY = dt.date(2026, 11, 26)  # a Thursday, two days after NOW


@pytest.fixture
def api(live: LiveServer) -> Api:
    return Api(live.url)


def all_day(api: Api, salon: Salon, start: dt.date, end: dt.date | None = None,
            **fields: Any) -> requests.Response:
    body: dict[str, Any] = {"calendar_id": salon.calendar, "service_id": salon.service,
                            "all_day": True, "start": start.isoformat(), **fields}
    if end is not None:
        body["end"] = end.isoformat()
    return api.post(f"/businesses/{salon.business}/bookings", json=body)


def open_all_week(api: Api, salon: Salon, opens: str, closes: str) -> None:
    api.ok("PUT", f"/businesses/{salon.business}/calendars/{salon.calendar}/opening-hours",
           json={"intervals": [{"weekday": d, "opens": opens, "closes": closes}
                               for d in range(7)]})


def slot_days(api: Api, salon: Salon, start: dt.date, end: dt.date) -> list[str]:
    answer = api.ok("GET", "/availability", params={
        "business_id": salon.business, "service_id": salon.service,
        "calendar_id": [salon.calendar], "start": start.isoformat(), "end": end.isoformat()})
    return sorted({slot[:10] for slot in answer["calendars"][0]["slots"]})


def feed_events(url: str) -> list[icalendar.Event]:
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text
    return list(icalendar.Calendar.from_ical(response.content).walk("VEVENT"))


# --- the API ------------------------------------------------------------------------------


def test_dates_in_dates_out_end_exclusive(api: Api) -> None:
    salon = make_salon(api)
    response = all_day(api, salon, DAY, DAY + dt.timedelta(days=2), client_id=salon.client)
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["all_day"] is True
    assert made["start_local"] == "2026-11-26T00:00:00"
    assert made["end_local"] == "2026-11-28T00:00:00"
    assert made["start"] == "2026-11-26T00:00:00+01:00"
    # The service's buffers do not reach into the neighbouring days.
    assert (made["occupied_start"], made["occupied_end"]) == (made["start"], made["end"])
    # One day by default.
    single = all_day(api, salon, DAY + dt.timedelta(days=5)).json()
    assert single["end_local"] == "2026-12-02T00:00:00"
    # A timed booking says so.
    assert book(api, salon, "2026-12-10T10:00:00")["all_day"] is False


def test_wrong_kinds_and_lengths_are_refused_with_a_reason(api: Api) -> None:
    salon = make_salon(api)
    base = {"calendar_id": salon.calendar, "service_id": salon.service}
    path = f"/businesses/{salon.business}/bookings"
    cases = [
        ({"all_day": True, "start": "2026-11-26T10:00:00"}, "dates"),
        ({"all_day": True, "start": "2026-11-26", "end": "2026-11-26T12:00:00"}, "dates"),
        ({"start": "2026-11-26"}, "all_day"),
        ({"all_day": True, "start": "2026-11-26", "end": "2026-11-26"}, "exclusive"),
        ({"all_day": True, "start": "2026-11-26", "end": "2026-11-20"}, "after"),
        ({"all_day": True, "start": "2026-11-26", "end": "2027-11-26"}, "14 days"),
        ({"all_day": True, "start": "2026-11-26", "source": "online"}, "staff"),
        ({"all_day": True, "start": "2026-13-45"}, None),
        ({"all_day": True, "start": "0001-01-01", "end": "9999-12-31"}, "between"),
        ({"all_day": True, "start": "1900-01-01", "end": "8999-12-31"}, "14 days"),
    ]
    for fields, words in cases:
        response = api.post(path, json={**base, **fields})
        assert response.status_code in (400, 422), (fields, response.status_code, response.text)
        if words:
            assert words in response.json()["error"]["message"], (fields, response.text)
    listed = api.ok("GET", path, params={"start": "2026-11-01T00:00:00Z",
                                         "end": "2027-12-31T00:00:00Z"})
    assert listed["items"] == []  # nothing was written


def test_moves_keep_the_days_and_kinds_change_with_a_new_start(api: Api) -> None:
    salon = make_salon(api)
    made = all_day(api, salon, DAY, DAY + dt.timedelta(days=3)).json()
    path = f"/businesses/{salon.business}/bookings/{made['id']}"
    moved = api.ok("PATCH", path, json={"start": "2026-12-07"})
    assert (moved["start_local"], moved["end_local"]) == ("2026-12-07T00:00:00",
                                                          "2026-12-10T00:00:00")
    assert_error(api.request("PATCH", path, json={"all_day": False}), 422, None, "start")
    timed = api.ok("PATCH", path, json={"all_day": False, "start": "2026-12-07T10:00:00"})
    assert timed["all_day"] is False and timed["end_local"] == "2026-12-07T10:45:00"
    again = api.ok("PATCH", path, json={"all_day": True, "start": "2026-12-08"})
    assert again["all_day"] is True and again["end_local"] == "2026-12-09T00:00:00"


def test_the_whole_local_day_is_busy_for_overlaps_and_availability(api: Api) -> None:
    # New York: the local day is 05:00Z to 05:00Z next day, so an evening opening lies on the
    # next UTC day; it must still count as the booked day.
    salon = make_salon(api, tz="America/New_York")
    open_all_week(api, salon, "19:00", "23:00")
    before = slot_days(api, salon, DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=2))
    assert before == ["2026-11-25", "2026-11-26", "2026-11-27"]
    assert all_day(api, salon, DAY).status_code == 201
    after = slot_days(api, salon, DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=2))
    assert after == ["2026-11-25", "2026-11-27"]
    # A timed booking that day, even late in the evening, overlaps it; the next day is free.
    late = api.post(f"/businesses/{salon.business}/bookings", json={
        "calendar_id": salon.calendar, "service_id": salon.service,
        "start": "2026-11-26T22:00:00"})
    assert_error(late, 409, "conflict", "booking")
    book(api, salon, "2026-11-27T00:30:00")
    # And an all-day booking over a day with a timed booking is refused.
    assert_error(all_day(api, salon, DAY + dt.timedelta(days=1)), 409, "conflict")


# --- feeds and CalDAV ---------------------------------------------------------------------


def test_feed_and_caldav_write_dates(api: Api, live: LiveServer) -> None:
    salon = make_salon(api)
    made = all_day(api, salon, DAY, DAY + dt.timedelta(days=2), client_id=salon.client).json()
    book(api, salon, "2026-11-30T10:00:00")
    link = make_link(api, salon.business, profile="limited")
    raw = requests.get(link["feed_url"], timeout=30).text
    assert "DTSTART;VALUE=DATE:20261126\r\n" in raw and "DTEND;VALUE=DATE:20261128\r\n" in raw
    events = {str(e["UID"]): e for e in feed_events(link["feed_url"])}
    event = events[made["uid"]]
    assert event.decoded("DTSTART") == DAY
    assert event.decoded("DTEND") == DAY + dt.timedelta(days=2)
    assert str(event["SUMMARY"]) == "Haircut" and "Jens" not in raw
    parsed = vobject.readOne(raw)
    starts = {e.uid.value: e.dtstart.value for e in parsed.vevent_list}
    assert starts[made["uid"]] == DAY
    assert isinstance(next(v for k, v in starts.items() if k != made["uid"]), dt.datetime)

    account = link["caldav"]
    client = caldav.DAVClient(url=account["server"], username=account["username"],
                              password=account["password"])
    calendar = client.principal().calendars()[0]
    found = calendar.search(start=dt.datetime(2026, 11, 27, 12, tzinfo=dt.timezone.utc),
                            end=dt.datetime(2026, 11, 27, 13, tzinfo=dt.timezone.utc),
                            event=True)
    assert [e.vobject_instance.vevent.uid.value for e in found] == [made["uid"]]
    item = found[0].vobject_instance.vevent
    assert item.dtstart.value == DAY and item.dtend.value == DAY + dt.timedelta(days=2)
    # A range after the exclusive end day does not find it.
    later = calendar.search(start=dt.datetime(2026, 11, 28, 12, tzinfo=dt.timezone.utc),
                            end=dt.datetime(2026, 11, 29, 12, tzinfo=dt.timezone.utc),
                            event=True)
    assert later == []


# --- the Google copy ----------------------------------------------------------------------


def test_the_google_copy_is_an_all_day_event(world: World) -> None:
    first = world.first_day
    with world.runtime.db.write() as session:
        bookings.create_booking(session, world.business, calendar_id=world.anna,
                                service_id=world.service, start=first,
                                end=first + dt.timedelta(days=2), all_day=True, now=world.now)
    assert world.push().inserted == 1
    [event] = world.google()
    assert event["start"] == {"date": first.isoformat()}
    assert event["end"] == {"date": (first + dt.timedelta(days=2)).isoformat()}

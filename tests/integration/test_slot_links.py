"""`slots` links over real HTTP, on SQLite and PostgreSQL, on a FixedClock at support.NOW: the
open times of one service as an ICS feed of TRANSP:TRANSPARENT "Available: <service>" events
(read by icalendar and vobject) and as JSON, the very times GET /availability offers; a strong
ETag that changes only when the slots do; no booking or blocked time ever shown; no CalDAV
account and no free/busy; bad links refused; the window bounded."""

from __future__ import annotations

import datetime as dt
from typing import Any

import icalendar
import pytest
import requests
import vobject

from support import Api, LiveServer, Salon, assert_error, block, book, make_link, make_salon

UTC = dt.timezone.utc


@pytest.fixture
def api(live: LiveServer) -> Api:
    return Api(live.url)


def open_hours(api: Api, salon: Salon, calendar: int, opens: str, closes: str) -> None:
    api.ok("PUT", f"/businesses/{salon.business}/calendars/{calendar}/opening-hours",
           json={"intervals": [{"weekday": d, "opens": opens, "closes": closes}
                               for d in range(5)]})  # Monday to Friday


def prepared(api: Api) -> Salon:
    salon = make_salon(api)
    api.ok("PATCH", f"/businesses/{salon.business}/services/{salon.service}",
           json={"slot_step_minutes": 60, "max_horizon_days": 14})
    open_hours(api, salon, salon.calendar, "09:00", "12:00")
    return salon


def slots_link(api: Api, salon: Salon, **fields: Any) -> dict[str, Any]:
    return make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar],
                     profile="slots", service_id=salon.service, **fields)


def json_url(link: dict[str, Any]) -> str:
    return link["feed_url"][:-len(".ics")] + ".json"


def fetch(url: str, **headers: str) -> requests.Response:
    return requests.get(url, headers=headers, timeout=30)


def offered(api: Api, salon: Salon, first: str, end: str) -> list[dt.datetime]:
    answer = api.ok("GET", "/availability", params={
        "business_id": salon.business, "service_id": salon.service,
        "calendar_id": [salon.calendar], "start": first, "end": end})
    return [dt.datetime.fromisoformat(s) for s in answer["calendars"][0]["slots"]]


def test_the_feed_and_json_are_the_availability(api: Api) -> None:
    salon = prepared(api)
    book(api, salon, "2026-11-26T10:00:00", client_id=salon.client)
    block(api, salon, title="Dentist (private)", start="2026-11-27T09:00:00",
          end="2026-11-27T10:00:00")
    link = slots_link(api, salon)
    assert link["service_id"] == salon.service and link["profile"] == "slots"
    response = fetch(link["feed_url"])
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/calendar")
    text = response.text
    assert "Jens" not in text and "Dentist" not in text and "Busy" not in text
    events = list(icalendar.Calendar.from_ical(response.content).walk("VEVENT"))
    starts = sorted(e.decoded("DTSTART") for e in events)
    expected = offered(api, salon, "2026-11-24", "2026-12-25")
    assert starts == [s.astimezone(UTC) for s in expected]
    assert len(starts) > 20
    # The booked hour and the blocked hour are not offered; 11:00 that day is.
    assert dt.datetime(2026, 11, 26, 9, tzinfo=UTC) not in starts  # 10:00 Copenhagen
    assert dt.datetime(2026, 11, 27, 8, tzinfo=UTC) not in starts  # 09:00 Copenhagen
    assert dt.datetime(2026, 11, 26, 10, tzinfo=UTC) in starts
    for event in events:
        assert str(event["SUMMARY"]) == "Available: Haircut"
        assert str(event["TRANSP"]) == "TRANSPARENT"
        assert event.decoded("DTEND") - event.decoded("DTSTART") == dt.timedelta(minutes=45)
    assert len({str(e["UID"]) for e in events}) == len(events)
    parsed = vobject.readOne(text)
    assert sorted(e.dtstart.value for e in parsed.vevent_list) == starts

    answer = fetch(json_url(link))
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    assert body["service"] == "Haircut" and body["duration_minutes"] == 45
    assert body["from"] == "2026-11-24"
    [calendar] = body["calendars"]
    assert calendar["name"] == "Anna Berg" and calendar["timezone"] == "Europe/Copenhagen"
    assert [dt.datetime.fromisoformat(s["start"]) for s in calendar["slots"]] == expected


def test_the_etag_changes_only_when_the_slots_do(api: Api) -> None:
    salon = prepared(api)
    link = slots_link(api, salon)
    first = fetch(link["feed_url"])
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert fetch(link["feed_url"], **{"If-None-Match": etag}).status_code == 304
    # A booking outside opening hours changes no slot: still 304.
    book(api, salon, "2026-11-26T18:00:00")
    assert fetch(link["feed_url"], **{"If-None-Match": etag}).status_code == 304
    # One inside takes a slot away.
    book(api, salon, "2026-11-26T09:00:00")
    changed = fetch(link["feed_url"], **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.content.count(b"BEGIN:VEVENT") == first.content.count(b"BEGIN:VEVENT") - 1
    json_etag = fetch(json_url(link)).headers["ETag"]
    assert fetch(json_url(link), **{"If-None-Match": json_etag}).status_code == 304


def test_a_set_names_the_employee_and_an_inactive_service_offers_nothing(api: Api) -> None:
    salon = prepared(api)
    bo = api.ok("POST", f"/businesses/{salon.business}/calendars", 201,
                json={"name": "Bo Berg"})["id"]
    open_hours(api, salon, bo, "13:00", "14:00")
    link = make_link(api, salon.business, scope="set", calendar_ids=[salon.calendar, bo],
                     profile="slots", service_id=salon.service)
    summaries = {str(e["SUMMARY"]) for e in icalendar.Calendar.from_ical(
        fetch(link["feed_url"]).content).walk("VEVENT")}
    assert summaries == {"Available: Haircut – Anna Berg", "Available: Haircut – Bo Berg"}
    api.ok("PATCH", f"/businesses/{salon.business}/services/{salon.service}",
           json={"active": False})
    assert b"BEGIN:VEVENT" not in fetch(link["feed_url"]).content
    assert fetch(json_url(link)).json()["calendars"] == []


def test_no_caldav_no_freebusy_and_other_links_have_no_json(api: Api, live: LiveServer) -> None:
    salon = prepared(api)
    link = slots_link(api, salon)
    account = link["caldav"]
    dav = requests.request("PROPFIND", account["server"], headers={"Depth": "0"}, timeout=30,
                           auth=(account["username"], account["password"]))
    assert dav.status_code == 401
    assert fetch(link["feed_url"][:-len(".ics")] + ".vfb").status_code == 404
    other = make_link(api, salon.business, profile="full")
    assert fetch(json_url(other)).status_code == 404
    assert requests.post(json_url(link), timeout=30).status_code == 405


def test_bad_slots_links_are_refused(api: Api) -> None:
    salon = prepared(api)
    path = f"/businesses/{salon.business}/links"
    base = {"scope": "all", "profile": "slots"}
    assert_error(api.post(path, json=base), 422, "invalid", "service_id")
    assert_error(api.post(path, json={**base, "service_id": 99999}), 404)
    assert_error(api.post(path, json={**base, "service_id": salon.service,
                                      "reminder_minutes": 5}), 422, "invalid")
    assert_error(api.post(path, json={"scope": "all", "profile": "full",
                                      "service_id": salon.service}), 422, "invalid")
    other = api.ok("POST", "/businesses", 201, json={"name": "Other", "timezone": "UTC"})
    foreign = api.ok("POST", f"/businesses/{other['id']}/services", 201,
                     json={"name": "X", "duration_minutes": 30})["id"]
    assert_error(api.post(path, json={**base, "service_id": foreign}), 404)
    link = slots_link(api, salon)
    assert_error(api.patch(f"{path}/{link['id']}", json={"profile": "full"}), 422, "invalid",
                 "slots")
    full = make_link(api, salon.business, profile="full")
    assert_error(api.patch(f"{path}/{full['id']}", json={"profile": "slots"}), 422,
                 "invalid", "slots")


def test_the_window_is_bounded_by_the_availability_limits(api: Api) -> None:
    salon = prepared(api)
    api.ok("PATCH", f"/businesses/{salon.business}/services/{salon.service}",
           json={"max_horizon_days": 3650})
    link = slots_link(api, salon)
    body = fetch(json_url(link)).json()
    first, until = (dt.date.fromisoformat(body[k]) for k in ("from", "until"))
    assert (until - first).days == 31
    last = max(dt.datetime.fromisoformat(s["start"]) for s in body["calendars"][0]["slots"])
    assert last.date() < until

"""GET /feeds/<token>.vfb over real HTTP, on SQLite and PostgreSQL, on a FixedClock at
support.NOW: a VFREEBUSY read by icalendar and vobject, with merged FBTYPE=BUSY periods of the
link's bookings and blocked time (repeating too) over a week back and 183 days ahead; the same periods as
CalDAV's free-busy-query asked through python-caldav; conditional GET; the same refusals as the
feed; nothing but times; a hostile series bounded."""

from __future__ import annotations

import datetime as dt
from typing import Any

import caldav
import icalendar
import pytest
import requests
import vobject

from support import NOW, Api, LiveServer, Salon, block, book, make_link, make_salon

UTC = dt.timezone.utc
Period = tuple[dt.datetime, dt.datetime]


@pytest.fixture
def api(live: LiveServer) -> Api:
    return Api(live.url)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)


def vfb(link: dict[str, Any], **headers: str) -> requests.Response:
    return requests.get(link["freebusy_url"], headers=headers, timeout=30)


def periods_of(text: bytes) -> list[Period]:
    (freebusy,) = icalendar.Calendar.from_ical(text).walk("VFREEBUSY")
    found: list[Period] = []
    lines = freebusy.get("FREEBUSY", [])
    for line in lines if isinstance(lines, list) else [lines]:
        assert line.params["FBTYPE"] == "BUSY"
        found += [(a, b) for a, b in line.dts] if hasattr(line, "dts") else [line.dt]
    return found


def merge(periods: list[Period]) -> list[Period]:
    result: list[Period] = []
    for low, high in sorted(periods):
        if result and low <= result[-1][1]:
            result[-1] = (result[-1][0], max(result[-1][1], high))
        else:
            result.append((low, high))
    return result


def furnish(api: Api) -> tuple[Salon, dict[str, Any]]:
    salon = make_salon(api)
    made = {
        "a": book(api, salon, "2026-12-01T10:00:00", client_id=salon.client),  # 10:00-10:45
        "b": book(api, salon, "2026-12-01T10:45:00"),  # touches a: one period
        "c": book(api, salon, "2026-12-03T14:00:00"),
        "far": book(api, salon, "2027-06-03T14:00:00"),  # beyond the 183 days ahead
        "gone": book(api, salon, "2026-12-04T09:00:00"),
    }
    api.ok("POST", f"/businesses/{salon.business}/bookings/{made['gone']['id']}/cancel")
    block(api, salon, title="Lunch with Dr. Secret", start="2026-12-07T12:00:00",
          end="2026-12-07T13:00:00", rrule="FREQ=WEEKLY;COUNT=3")
    return salon, made


def test_busy_periods_merged_over_the_window(api: Api) -> None:
    salon, made = furnish(api)
    link = make_link(api, salon.business, profile="busy")
    assert link["freebusy_url"].endswith(f"/feeds/{link['token']}.vfb")
    response = vfb(link)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/calendar")
    text = response.content
    assert b"Jens" not in text and b"Secret" not in text and b"Haircut" not in text
    (freebusy,) = icalendar.Calendar.from_ical(text).walk("VFREEBUSY")
    window_start = dt.datetime.combine(NOW.date() - dt.timedelta(days=7), dt.time(),
                                       tzinfo=UTC)
    assert freebusy.decoded("DTSTART") == window_start
    assert freebusy.decoded("DTEND") == window_start + dt.timedelta(days=7 + 183)
    lunch = [(dt.datetime(2026, 12, d, 11, tzinfo=UTC), dt.datetime(2026, 12, d, 12, tzinfo=UTC))
             for d in (7, 14, 21)]
    assert periods_of(text) == [
        (utc(made["a"]["start"]), utc(made["b"]["end"])),
        (utc(made["c"]["start"]), utc(made["c"]["end"])), *lunch]
    # vobject reads the same.
    parsed = vobject.readOne(text.decode("utf-8"))
    read = [period for line in parsed.vfreebusy.contents["freebusy"] for period in line.value]
    assert [(a, a + b if isinstance(b, dt.timedelta) else b) for a, b in read] == \
        periods_of(text)


def test_caldav_free_busy_query_agrees(api: Api) -> None:
    salon, _ = furnish(api)
    link = make_link(api, salon.business, profile="busy")
    account = link["caldav"]
    client = caldav.DAVClient(url=account["server"], username=account["username"],
                              password=account["password"])
    calendar = client.principal().calendars()[0]
    start, end = dt.datetime(2026, 11, 30, tzinfo=UTC), dt.datetime(2026, 12, 20, tzinfo=UTC)
    answer = calendar.freebusy_request(start, end)
    dav: list[Period] = []
    for line in answer.vobject_instance.vfreebusy.contents.get("freebusy", []):
        dav += [(a, a + b if isinstance(b, dt.timedelta) else b) for a, b in line.value]
    ours = [(a, b) for a, b in periods_of(vfb(link).content) if a < end and b > start]
    assert merge(dav) == ours and len(ours) == 4


def test_conditional_get_and_refusals(api: Api, live: LiveServer) -> None:
    salon, _ = furnish(api)
    link = make_link(api, salon.business, profile="limited")  # every profile serves it
    first = vfb(link)
    etag = first.headers["ETag"]
    assert etag.startswith('"') and vfb(link).content == first.content
    assert vfb(link, **{"If-None-Match": etag}).status_code == 304
    book(api, salon, "2026-12-02T09:00:00")
    changed = vfb(link, **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert len(periods_of(changed.content)) == len(periods_of(first.content)) + 1
    # The feed's ETag is another one: the two bodies differ.
    feed = requests.get(link["feed_url"], timeout=30)
    assert feed.headers["ETag"] != changed.headers["ETag"]
    assert requests.post(link["freebusy_url"], timeout=30).status_code == 405
    head = requests.head(link["freebusy_url"], timeout=30)
    assert head.status_code == 200 and head.content == b""
    unknown = requests.get(f"{live.url}/feeds/bcl_{'x' * 32}.vfb", timeout=30)
    assert unknown.status_code == 404
    api.ok("DELETE", f"/businesses/{salon.business}/links/{link['id']}", 204)
    assert vfb(link).status_code == 404


def test_an_hourly_series_forever_is_bounded(api: Api) -> None:
    salon = make_salon(api)
    block(api, salon, title="Ping", start="2026-11-25T00:00:00", end="2026-11-25T00:10:00",
          rrule="FREQ=HOURLY")
    link = make_link(api, salon.business, profile="busy")
    response = vfb(link)
    assert response.status_code == 200
    periods = periods_of(response.content)
    # Half a year of hours: below the 10,000 occurrences one expansion may take.
    assert 24 * 175 < len(periods) <= 24 * 184
    assert periods[0][0] == dt.datetime(2026, 11, 24, 23, tzinfo=UTC)

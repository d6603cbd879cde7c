"""GET /feeds/<token>.ics over real HTTP, on SQLite and PostgreSQL: the document (parsed with
icalendar and vobject), times across the DST changes of 2027 read through the feed's own
VTIMEZONEs, stable UIDs and change tracking, the window, conditional GET and gzip, read-only
methods, 404s that tell nothing apart, the failure limiter, 'all' links following calendars,
and hostile text."""

from __future__ import annotations

import datetime as dt
import gzip
import http.client
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar
import pytest
import requests
import vobject
from dateutil.rrule import rrulestr

from support import (
    NOW, Api, LiveServer, Salon, assert_error, block, book, make_link, make_runtime, make_salon,
    start_server,
)

UTC = dt.timezone.utc
CPH, NYC = "Europe/Copenhagen", "America/New_York"
IDENTITY = {"Accept-Encoding": "identity"}


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def api(live: LiveServer) -> Api:
    return Api(live.url)


@pytest.fixture
def salon(api: Api) -> Salon:
    return make_salon(api)


# --- API helpers --------------------------------------------------------------------------


def add_calendar(api: Api, business: int, name: str, tz: str | None = None) -> int:
    body = {"name": name, **({"timezone": tz} if tz else {})}
    calendar: int = api.ok("POST", f"/businesses/{business}/calendars", 201, json=body)["id"]
    return calendar


# --- HTTP and iCalendar helpers -----------------------------------------------------------


def fetch(url: str, method: str = "GET", **headers: str) -> requests.Response:
    """The feed without content coding (unless asked for), so bodies compare byte for byte."""
    return requests.request(method, url, headers={**IDENTITY, **headers}, timeout=30)


def feed(url: str) -> bytes:
    response = fetch(url)
    assert response.status_code == 200, (response.status_code, response.text)
    return response.content


def content_lines(body: bytes) -> list[bytes]:
    """The physical lines: every one ends with CRLF, and no CR or LF stands alone."""
    assert body.endswith(b"\r\n")
    lines = body[:-2].split(b"\r\n")
    for line in lines:
        assert b"\r" not in line and b"\n" not in line, line[:80]
    return lines


def unfold(body: bytes) -> bytes:
    return body.replace(b"\r\n ", b"").replace(b"\r\n\t", b"")


def parse(body: bytes) -> icalendar.Calendar:
    calendars = icalendar.Calendar.from_ical(body, multiple=True)
    assert len(calendars) == 1, "exactly one VCALENDAR"
    calendar: icalendar.Calendar = calendars[0]
    return calendar


def events_by_uid(calendar: icalendar.Calendar) -> dict[str, icalendar.Event]:
    events = calendar.walk("VEVENT")
    found = {str(event["UID"]): event for event in events}
    assert len(found) == len(events), "UIDs are unique"
    return found


def uids(body: bytes) -> set[str]:
    return set(events_by_uid(parse(body)))


@dataclass(frozen=True)
class Transition:
    at: dt.datetime  # UTC instant from which `offset` applies
    offset: dt.timedelta


class FeedZone:
    """A VTIMEZONE read by hand from its observances (no tz database involved): each onset
    (DTSTART, RDATEs, RRULE occurrences) is a local time in TZOFFSETFROM, after which
    TZOFFSETTO applies."""

    def __init__(self, component: icalendar.Timezone) -> None:
        self.tzid = str(component["TZID"])
        found = []
        for observance in component.subcomponents:
            assert observance.name in ("STANDARD", "DAYLIGHT"), observance.name
            before = observance["TZOFFSETFROM"].td
            after = observance["TZOFFSETTO"].td
            first = observance["DTSTART"].dt
            onsets = [first]
            rdates = observance.get("RDATE", [])
            for value in rdates if isinstance(rdates, list) else [rdates]:
                onsets.extend(item.dt for item in value.dts)
            if "RRULE" in observance:
                recur = observance["RRULE"]
                until = recur.get("UNTIL")
                if until:
                    # A VTIMEZONE's UNTIL is in UTC (RFC 5545); onsets are local wall times
                    # in the offset before the change.
                    moment = until[0]
                    if isinstance(moment, dt.datetime) and moment.tzinfo is not None:
                        recur = recur.copy()
                        recur["UNTIL"] = [(moment.astimezone(UTC) + before).replace(tzinfo=None)]
                rule = rrulestr(recur.to_ical().decode(), dtstart=first)
                onsets.extend(rule.between(first, dt.datetime(2040, 1, 1), inc=False))
            found.extend(Transition((onset - before).replace(tzinfo=UTC), after)
                         for onset in onsets)
        self.transitions = sorted(found, key=lambda t: t.at)
        assert self.transitions, f"{self.tzid}: no observance"

    def instant(self, local: dt.datetime) -> dt.datetime:
        """The UTC instant of a local time: the first one if it happens twice (RFC 5545)."""
        local = local.replace(tzinfo=None)
        ends = [t.at for t in self.transitions[1:]] + [dt.datetime.max.replace(tzinfo=UTC)]
        candidates = [(local - t.offset).replace(tzinfo=UTC)
                      for t, end in zip(self.transitions, ends)
                      if t.at <= (local - t.offset).replace(tzinfo=UTC) < end]
        first = self.transitions[0]
        assert (local - first.offset).replace(tzinfo=UTC) >= first.at, (
            f"{local} lies before the first observance of the VTIMEZONE {self.tzid} "
            f"({first.at + first.offset:%Y-%m-%d %H:%M} local); its offset is undefined")
        assert candidates, f"{local} does not exist in the VTIMEZONE {self.tzid}"
        return min(candidates)


def feed_zones(calendar: icalendar.Calendar) -> dict[str, FeedZone]:
    return {str(c["TZID"]): FeedZone(c) for c in calendar.walk("VTIMEZONE")}


def instant_from_feed(prop: Any, zones: dict[str, FeedZone]) -> dt.datetime:
    """The instant of a DTSTART/DTEND: TZID through the feed's own VTIMEZONE; UTC as is."""
    value: dt.datetime = prop.dt
    assert isinstance(value, dt.datetime)
    if "TZID" in prop.params:
        return zones[prop.params["TZID"]].instant(value)
    assert value.utcoffset() == dt.timedelta(0), f"floating time {value} in a feed"
    return value.astimezone(UTC)


def iana_instant(local: dt.datetime, tzid: str) -> dt.datetime:
    return local.replace(tzinfo=ZoneInfo(tzid), fold=0).astimezone(UTC)


def api_instant(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value).astimezone(UTC)


def used_tzids(body: bytes) -> set[str]:
    """Every TZID parameter in the feed (DTSTART, DTEND, EXDATE, ...)."""
    return {m.decode() for m in re.findall(rb";TZID=([^:;]+)", unfold(body))}


def excluded_dates(event: icalendar.Event) -> set[dt.datetime]:
    value = event.get("EXDATE")
    if value is None:
        return set()
    lists = value if isinstance(value, list) else [value]
    return {item.dt.replace(tzinfo=None) for each in lists for item in each.dts}


# --- the document -------------------------------------------------------------------------


def test_feed_document_parses_with_icalendar_and_vobject(api: Api, live: LiveServer,
                                                         salon: Salon) -> None:
    ny = add_calendar(api, salon.business, "Nora York", NYC)
    made = [book(api, salon, "2026-12-01T10:00", client_id=salon.client, notes="First visit"),
            book(api, salon, "2027-06-01T10:00", calendar=ny)]
    block(api, salon, title="Lunch", start="2026-12-07T12:00", end="2026-12-07T13:00",
          rrule="FREQ=WEEKLY;BYDAY=MO", exdates=["2026-12-14T12:00"])
    block(api, salon, title="Holiday", all_day=True, start="2026-12-24", end="2026-12-27")
    link = make_link(api, salon.business, label="Front desk")

    response = fetch(link["feed_url"])
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    body = response.content
    content_lines(body)
    assert body.startswith(b"BEGIN:VCALENDAR\r\n") and body.endswith(b"END:VCALENDAR\r\n")

    calendar = parse(body)
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["PRODID"]).startswith("-//bookingcal//")
    assert calendar_name_of(body) == "Salon – Front desk"
    assert str(calendar["X-WR-TIMEZONE"]) == CPH
    lines = content_lines(unfold(body))
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H" in lines  # feeds.refresh_minutes = 60
    assert b"X-PUBLISHED-TTL:PT1H" in lines
    events = events_by_uid(calendar)
    assert len(events) == 4
    assert {b["uid"] for b in made} <= set(events)
    # Every TZID that is used has its VTIMEZONE.
    zones = feed_zones(calendar)
    assert used_tzids(body) == {CPH, NYC}
    assert used_tzids(body) <= set(zones)
    for event in events.values():
        for name in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SEQUENCE", "LAST-MODIFIED",
                     "CREATED", "SUMMARY"):
            assert name in event, name

    parsed = vobject.readOne(body.decode("utf-8"))
    assert parsed.name == "VCALENDAR"
    assert len(parsed.vevent_list) == 4
    assert {str(tz.tzid.value) for tz in parsed.vtimezone_list} == {CPH, NYC}
    assert [c.name for c in vobject.readComponents(body.decode("utf-8"))] == ["VCALENDAR"]


# --- DST ----------------------------------------------------------------------------------

# The days before, of and after each DST change of 2027 in both zones.
CHANGES = [dt.date(2027, 3, 14), dt.date(2027, 3, 28), dt.date(2027, 10, 31),
           dt.date(2027, 11, 7)]
DST_DAYS = [day + dt.timedelta(days=d) for day in CHANGES for d in (-1, 0, 1)]
REPEATING = {
    # zone: (title, start, end, rrule, exdates)
    CPH: [("Lunch", "2027-03-25T12:00", "2027-03-25T13:00", "FREQ=DAILY;COUNT=7",
           ["2027-03-27T12:00"]),
          ("Early", "2027-10-28T07:00", "2027-10-28T08:00",
           "FREQ=DAILY;UNTIL=20271103T235959", ["2027-10-31T07:00"])],
    NYC: [("Pickup", "2027-03-11T17:00", "2027-03-11T18:00", "FREQ=DAILY;COUNT=7",
           ["2027-03-13T17:00"]),
          ("Evening", "2027-11-04T17:00", "2027-11-04T18:00", "FREQ=DAILY;COUNT=6", []),
          ("Team", "2027-01-04T08:00", "2027-01-04T09:00", "FREQ=WEEKLY;BYDAY=MO", [])],
}
# Bookings whose start and end lie on either side of a change (both ends exist once).
ACROSS = {CPH: [("2027-03-28T01:30", "2027-03-28T04:00"), ("2027-10-31T01:30", "2027-10-31T04:00")],
          NYC: [("2027-03-14T00:30", "2027-03-14T04:00"), ("2027-11-07T00:30", "2027-11-07T03:00")]}


def test_times_across_dst_changes_read_through_the_feeds_own_vtimezone(
        api: Api, live: LiveServer) -> None:
    salon = make_salon(api, tz=CPH)
    calendars = {CPH: add_calendar(api, salon.business, "Copenhagen", CPH),
                 NYC: add_calendar(api, salon.business, "New York", NYC)}
    expected: dict[str, tuple[dt.datetime, dt.datetime]] = {}  # uid -> UTC start, end
    for tzid, calendar in calendars.items():
        requested: list[tuple[dt.datetime, dt.datetime | None]] = [
            (dt.datetime.combine(day, dt.time(10)), None) for day in DST_DAYS]
        requested += [(dt.datetime.fromisoformat(s), dt.datetime.fromisoformat(e))
                      for s, e in ACROSS[tzid]]
        for start, end in requested:
            booking = book(api, salon, start.isoformat(), calendar=calendar,
                           **({"end": end.isoformat()} if end else {}))
            # The API's instant is the IANA one for the wall-clock time asked for.
            assert api_instant(booking["start"]) == iana_instant(start, tzid)
            if end:
                assert api_instant(booking["end"]) == iana_instant(end, tzid)
            expected[booking["uid"]] = (api_instant(booking["start"]),
                                        api_instant(booking["end"]))
    series = {}
    for tzid, items in REPEATING.items():
        for title, start, end, rule, exdates in items:
            item = block(api, salon, calendar=calendars[tzid], title=title, start=start,
                         end=end, rrule=rule, exdates=exdates)
            series[item["uid"]] = (tzid, start, end, rule, exdates)
    link = make_link(api, salon.business)
    body = feed(link["feed_url"])
    calendar = parse(body)
    zones = feed_zones(calendar)
    assert set(zones) == {CPH, NYC}
    tz_objects = {tzid: component.to_tz(lookup_tzid=False)
                  for tzid, component in ((str(c["TZID"]), c)
                                          for c in calendar.walk("VTIMEZONE"))}
    events = events_by_uid(calendar)
    assert set(events) == set(expected) | set(series)

    offsets_seen: dict[str, set[dt.timedelta]] = {CPH: set(), NYC: set()}
    for uid, (start, end) in expected.items():
        event = events[uid]
        tzid = event["DTSTART"].params["TZID"]
        assert instant_from_feed(event["DTSTART"], zones) == start, (uid, event["DTSTART"].dt)
        assert instant_from_feed(event["DTEND"], zones) == end, (uid, event["DTEND"].dt)
        # icalendar's own reading of the VTIMEZONE (not the tz database) agrees.
        local = event["DTSTART"].dt.replace(tzinfo=None)
        assert local.replace(tzinfo=tz_objects[tzid]).astimezone(UTC) == start
        offsets_seen[tzid].add(local - start.replace(tzinfo=None))
    # Both offsets of each zone were exercised.
    assert offsets_seen == {CPH: {dt.timedelta(hours=1), dt.timedelta(hours=2)},
                            NYC: {dt.timedelta(hours=-5), dt.timedelta(hours=-4)}}

    for uid, (tzid, start, end, rule, exdates) in series.items():
        event = events[uid]
        assert event["RRULE"].to_ical().decode() == rule
        excluded = excluded_dates(event)
        assert excluded == {dt.datetime.fromisoformat(d) for d in exdates}
        first_local = event["DTSTART"].dt.replace(tzinfo=None)
        assert first_local == dt.datetime.fromisoformat(start)
        length = event["DTEND"].dt.replace(tzinfo=None) - first_local
        occurrences = [o for o in rrulestr(rule, dtstart=first_local).between(
            first_local, dt.datetime(2027, 12, 31), inc=True) if o not in excluded]
        assert occurrences
        offsets = set()
        for local in occurrences:
            # Same wall-clock time every day, so the UTC instant shifts with the change.
            assert zones[tzid].instant(local) == iana_instant(local, tzid), (uid, local)
            assert zones[tzid].instant(local + length) == iana_instant(local + length, tzid)
            offsets.add(local - zones[tzid].instant(local).replace(tzinfo=None))
        assert len(offsets) == 2, (uid, "the series crosses a change")

    # vobject reads the VTIMEZONEs with its own code.
    for vevent in vobject.readOne(body.decode("utf-8")).vevent_list:
        uid = vevent.uid.value
        if uid in expected:
            assert vevent.dtstart.value.astimezone(UTC) == expected[uid][0], uid
            assert vevent.dtend.value.astimezone(UTC) == expected[uid][1], uid
        else:
            tzid, start, *_ = series[uid]
            assert vevent.dtstart.value.astimezone(UTC) == iana_instant(
                dt.datetime.fromisoformat(start), tzid)


def test_a_booking_in_the_repeated_hour_keeps_its_instant(api: Api, live: LiveServer) -> None:
    """01:30 happens twice in New York on 2027-11-07 (EDT, then EST) and 02:30 twice in
    Copenhagen on 2027-10-31. A booking at the second one must not be published as the first."""
    salon = make_salon(api, tz=CPH)
    ny = add_calendar(api, salon.business, "New York", NYC)
    second = [book(api, salon, "2027-11-07T01:30:00-05:00", calendar=ny),
              book(api, salon, "2027-10-31T02:30:00+01:00")]
    first = [book(api, salon, "2027-11-07T01:30:00-04:00", calendar=ny,
                  end="2027-11-07T01:40:00-04:00"),
             book(api, salon, "2027-10-31T02:00:00+02:00", end="2027-10-31T02:15:00+02:00")]
    body = feed(make_link(api, salon.business)["feed_url"])
    calendar = parse(body)
    zones = feed_zones(calendar)
    events = events_by_uid(calendar)
    for booking in first + second:
        event = events[booking["uid"]]
        assert (instant_from_feed(event["DTSTART"], zones),
                instant_from_feed(event["DTEND"], zones)) == (
            api_instant(booking["start"]), api_instant(booking["end"])), booking["start"]
    by_vobject = {v.uid.value: v for v in vobject.readOne(body.decode("utf-8")).vevent_list}
    for booking in first + second:
        vevent = by_vobject[booking["uid"]]
        assert (vevent.dtstart.value.astimezone(UTC), vevent.dtend.value.astimezone(UTC)) == (
            api_instant(booking["start"]), api_instant(booking["end"])), booking["start"]


def test_an_item_that_began_before_the_window_is_covered_by_the_vtimezone(
        tmp_path: Path, database_url: str) -> None:
    """A booking may start up to 14 days before the window and still overlap it; the VTIMEZONE
    must reach back to its start, here across the change of 2026-10-25."""
    live = start_server(make_runtime(tmp_path, database_url,
                                     extra="[feeds]\nwindow_days_back = 28\n"))
    try:
        api = Api(live.url)
        salon = make_salon(api, tz=CPH)
        # The window starts 2026-10-27 (NOW - 28 days); this booking runs 2026-10-20..11-02.
        long = book(api, salon, "2026-10-20T10:00", end="2026-11-02T10:00")
        calendar = parse(feed(make_link(api, salon.business)["feed_url"]))
        event = events_by_uid(calendar)[long["uid"]]
        zones = feed_zones(calendar)
        assert instant_from_feed(event["DTSTART"], zones) == api_instant(long["start"])
        assert instant_from_feed(event["DTEND"], zones) == api_instant(long["end"])
    finally:
        live.stop()


# --- items and changes --------------------------------------------------------------------


def test_uids_sequence_and_modification_times_follow_the_booking(
        api: Api, live: LiveServer, salon: Salon) -> None:
    kept = book(api, salon, "2026-12-01T10:00", client_id=salon.client)
    moved = book(api, salon, "2026-12-02T10:00")
    cancelled = book(api, salon, "2026-12-03T10:00")
    deleted = book(api, salon, "2026-12-04T10:00")
    link = make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar])
    base = f"/businesses/{salon.business}/bookings"

    first = events_by_uid(parse(feed(link["feed_url"])))
    assert set(first) == {b["uid"] for b in (kept, moved, cancelled, deleted)}
    for uid in first:
        assert uid.isascii() and re.fullmatch(r"[0-9a-f-]{36}", uid), uid
    assert events_by_uid(parse(feed(link["feed_url"]))).keys() == first.keys()
    before = first[moved["uid"]]
    assert int(before["SEQUENCE"]) == 0
    assert before["LAST-MODIFIED"].dt == before["DTSTAMP"].dt == NOW

    live.clock.advance(dt.timedelta(hours=3))
    api.ok("PATCH", f"{base}/{moved['id']}", json={"start": "2026-12-02T15:00"})
    api.ok("POST", f"{base}/{cancelled['id']}/cancel")
    api.ok("DELETE", f"{base}/{deleted['id']}", 204)

    after = events_by_uid(parse(feed(link["feed_url"])))
    assert set(after) == {kept["uid"], moved["uid"]}
    event = after[moved["uid"]]
    assert int(event["SEQUENCE"]) == 1
    assert event["LAST-MODIFIED"].dt == event["DTSTAMP"].dt == NOW + dt.timedelta(hours=3)
    assert event["CREATED"].dt == NOW
    assert event["DTSTART"].dt.replace(tzinfo=None) == dt.datetime(2026, 12, 2, 15)
    # The untouched booking is unchanged, byte for byte.
    assert after[kept["uid"]].to_ical() == first[kept["uid"]].to_ical()


def test_all_day_and_repeating_blocked_time(api: Api, live: LiveServer, salon: Salon) -> None:
    holiday = block(api, salon, title="Holiday", all_day=True, start="2026-12-24",
                    end="2026-12-27")
    weekly = block(api, salon, title="Team meeting", start="2026-12-07T09:00",
                   end="2026-12-07T10:00", rrule="FREQ=WEEKLY;BYDAY=MO",
                   exdates=["2026-12-14T09:00", "2026-12-28T09:00"])
    body = feed(make_link(api, salon.business)["feed_url"])
    lines = content_lines(unfold(body))
    assert b"DTSTART;VALUE=DATE:20261224" in lines
    assert b"DTEND;VALUE=DATE:20261227" in lines
    assert b"RRULE:FREQ=WEEKLY;BYDAY=MO" in lines
    assert b"EXDATE;TZID=Europe/Copenhagen:20261214T090000,20261228T090000" in lines or {
        b"EXDATE;TZID=Europe/Copenhagen:20261214T090000",
        b"EXDATE;TZID=Europe/Copenhagen:20261228T090000"} <= set(lines)
    events = events_by_uid(parse(body))
    assert events[holiday["uid"]]["DTSTART"].dt == dt.date(2026, 12, 24)
    assert events[holiday["uid"]]["DTEND"].dt == dt.date(2026, 12, 27)  # exclusive
    # An "all" link names whose blocked time it is.
    assert str(events[weekly["uid"]]["SUMMARY"]) == "Team meeting – Anna Berg"


def test_the_window_is_90_days_back_and_730_ahead(api: Api, live: LiveServer,
                                                  salon: Salon) -> None:
    def at(days: int) -> dict[str, Any]:
        moment = (NOW + dt.timedelta(days=days)).replace(hour=10, minute=0)
        return book(api, salon, moment.isoformat())

    absent = [at(-100), at(2 * 365 + 10), at(-91)]
    present = [at(-80), at(-89), at(0), at(365), at(2 * 365 - 10)]
    got = uids(feed(make_link(api, salon.business)["feed_url"]))
    assert got == {b["uid"] for b in present}
    assert not got & {b["uid"] for b in absent}


# --- conditional GET, HEAD, gzip ----------------------------------------------------------


def raw_get(url: str, **headers: str) -> tuple[requests.Response, bytes]:
    """The response and its body exactly as sent (no content decoding)."""
    response = requests.get(url, headers=headers, timeout=30, stream=True)
    return response, response.raw.read(decode_content=False)


def test_conditional_get_head_and_gzip(api: Api, live: LiveServer, salon: Salon) -> None:
    booking = book(api, salon, "2026-12-01T10:00", client_id=salon.client)
    url = make_link(api, salon.business)["feed_url"]

    plain = fetch(url)
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    etag = plain.headers["ETag"]
    assert re.fullmatch(r'"[^"]+"', etag), etag  # strong: no W/
    assert plain.headers["Vary"] == "Accept-Encoding"
    assert fetch(url).headers["ETag"] == etag

    not_modified = fetch(url, **{"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["ETag"] == etag
    assert fetch(url, **{"If-None-Match": f'"other", {etag}'}).status_code == 304
    assert fetch(url, **{"If-None-Match": '"other"'}).status_code == 200
    since = fetch(url, **{"If-Modified-Since": plain.headers["Last-Modified"]})
    assert since.status_code == 304 and since.content == b""

    head = fetch(url, "HEAD")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["ETag"] == etag
    assert head.headers["Content-Type"] == "text/calendar; charset=utf-8"

    zipped, raw = raw_get(url, **{"Accept-Encoding": "gzip"})
    assert zipped.status_code == 200 and zipped.headers["Content-Encoding"] == "gzip"
    assert raw[:2] == b"\x1f\x8b"
    assert gzip.decompress(raw) == plain.content
    gzip_etag = zipped.headers["ETag"]
    assert gzip_etag != etag and not gzip_etag.startswith("W/")
    assert raw_get(url, **{"Accept-Encoding": "gzip", "If-None-Match": gzip_etag}
                   )[0].status_code == 304
    # The gzip representation's ETag does not validate the identity one, nor the reverse.
    assert fetch(url, **{"If-None-Match": gzip_etag}).status_code == 200
    assert raw_get(url, **{"Accept-Encoding": "gzip", "If-None-Match": etag}
                   )[0].status_code == 200

    # A change: new ETag, 200 for the old validators.
    live.clock.advance(dt.timedelta(minutes=10))
    api.ok("PATCH", f"/businesses/{salon.business}/bookings/{booking['id']}",
           json={"start": "2026-12-01T11:00"})
    changed = fetch(url, **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.content != plain.content
    assert fetch(url, **{"If-Modified-Since": plain.headers["Last-Modified"]}
                 ).status_code == 200
    assert fetch(url, **{"If-None-Match": changed.headers["ETag"]}).status_code == 304


def test_a_bare_request_without_accept_headers(api: Api, live: LiveServer,
                                               salon: Salon) -> None:
    book(api, salon, "2026-12-01T10:00")
    url = urlsplit(make_link(api, salon.business)["feed_url"])
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        # Only the request line and Host: no Accept, no Accept-Encoding, no User-Agent.
        connection.putrequest("GET", url.path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 200
    assert response.getheader("Content-Encoding") is None
    assert response.getheader("Content-Type") == "text/calendar; charset=utf-8"
    assert len(parse(body).walk("VEVENT")) == 1
    assert body == fetch(url.geturl()).content


def test_gzip_refused_with_q_zero_is_not_sent(api: Api, live: LiveServer,
                                              salon: Salon) -> None:
    """RFC 9110 12.5.3: "gzip;q=0" means gzip is not acceptable."""
    url = make_link(api, salon.business)["feed_url"]
    response, raw = raw_get(url, **{"Accept-Encoding": "gzip;q=0, identity"})
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert raw.startswith(b"BEGIN:VCALENDAR")


@pytest.mark.parametrize("method", ["PUT", "DELETE", "POST", "PATCH"])
def test_feeds_are_read_only(api: Api, live: LiveServer, salon: Salon, method: str) -> None:
    book(api, salon, "2026-12-01T10:00")
    url = make_link(api, salon.business)["feed_url"]
    before = feed(url)
    response = requests.request(method, url, data=b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
                                headers={"Content-Type": "text/calendar"}, timeout=30)
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["Allow"].split(",")} == {"GET", "HEAD"}
    assert feed(url) == before


# --- unknown, revoked, expired; the failure limiter -----------------------------------------


def test_unknown_revoked_and_expired_tokens_look_alike(api: Api, live: LiveServer,
                                                      salon: Salon) -> None:
    revoked = make_link(api, salon.business)
    api.ok("DELETE", f"/businesses/{salon.business}/links/{revoked['id']}", 204)
    expiring = make_link(api, salon.business,
                         expires_at=(NOW + dt.timedelta(hours=1)).isoformat())
    rotated = make_link(api, salon.business)
    api.ok("POST", f"/businesses/{salon.business}/links/{rotated['id']}/rotate")
    assert fetch(expiring["feed_url"]).status_code == 200
    live.clock.advance(dt.timedelta(hours=2))

    urls = {
        "unknown": f"{live.url}/feeds/bcl_{'Q' * 32}.ics",
        "no prefix": f"{live.url}/feeds/{'Q' * 36}.ics",
        "too long": f"{live.url}/feeds/bcl_{'Q' * 300}.ics",
        "revoked": revoked["feed_url"],
        "expired": expiring["feed_url"],
        "rotated away": rotated["feed_url"],
    }
    answers = {name: fetch(url) for name, url in urls.items()}
    reference = answers["unknown"]
    assert reference.status_code == 404 and reference.content
    for name, response in answers.items():
        assert response.status_code == 404, name
        assert response.content == reference.content, name
        assert response.headers["Content-Type"] == reference.headers["Content-Type"], name
        assert "ETag" not in response.headers and "Last-Modified" not in response.headers
    heads = [fetch(url, "HEAD") for url in urls.values()]
    assert {(h.status_code, h.content) for h in heads} == {(404, b"")}


def test_failed_tokens_block_the_address(tmp_path: Path, database_url: str) -> None:
    """After links.failed_attempts_per_hour unknown tokens from one address, further unknown
    tokens from it are answered 429 for up to an hour; a valid token is still served (feed
    fetchers share addresses; tests/hostile/test_token_limiter.py has the rest)."""
    live = start_server(make_runtime(tmp_path, database_url,
                                     extra="[links]\nfailed_attempts_per_hour = 5\n"))
    try:
        api = Api(live.url)
        salon = make_salon(api)
        valid = make_link(api, salon.business)["feed_url"]
        assert fetch(valid).status_code == 200  # successes are not counted
        for attempt in range(5):
            assert fetch(f"{live.url}/feeds/bcl_{attempt:032d}.ics").status_code == 404
        blocked = fetch(f"{live.url}/feeds/bcl_{'9' * 32}.ics")
        assert blocked.status_code == 429
        assert int(blocked.headers["Retry-After"]) > 0
        assert "BEGIN:VCALENDAR" not in blocked.text
        again = fetch(valid)
        assert again.status_code == 200 and b"BEGIN:VCALENDAR" in again.content
        # The JSON API is not behind the feed limiter.
        api.ok("GET", f"/businesses/{salon.business}/links")
    finally:
        live.stop()


# --- 'all' links follow calendars ---------------------------------------------------------


def test_an_all_link_follows_calendars(api: Api, live: LiveServer, salon: Salon) -> None:
    first = book(api, salon, "2026-12-01T10:00")
    link = make_link(api, salon.business)
    single = make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar])
    url = link["feed_url"]
    before = fetch(url)
    assert uids(before.content) == {first["uid"]}

    live.clock.advance(dt.timedelta(minutes=5))
    newcomer = add_calendar(api, salon.business, "Bo Lund")
    theirs = book(api, salon, "2026-12-01T10:00", calendar=newcomer)
    grown = fetch(url)
    assert grown.headers["ETag"] != before.headers["ETag"]
    assert uids(grown.content) == {first["uid"], theirs["uid"]}
    assert uids(feed(single["feed_url"])) == {first["uid"]}

    live.clock.advance(dt.timedelta(minutes=5))
    api.ok("PATCH", f"/businesses/{salon.business}/calendars/{newcomer}", json={"active": False})
    shrunk = fetch(url, **{"If-None-Match": grown.headers["ETag"]})
    assert shrunk.status_code == 200
    assert shrunk.headers["ETag"] != grown.headers["ETag"]
    if shrunk.headers["ETag"] == before.headers["ETag"]:
        assert shrunk.content == before.content  # a strong ETag names one exact body
    assert uids(shrunk.content) == {first["uid"]}

    api.ok("PATCH", f"/businesses/{salon.business}/calendars/{newcomer}", json={"active": True})
    assert uids(feed(url)) == {first["uid"], theirs["uid"]}
    api.ok("DELETE", f"/businesses/{salon.business}/calendars/{salon.calendar}", 204)
    assert uids(feed(url)) == {theirs["uid"]}
    # A link to a calendar that is gone shows an empty calendar, not an error.
    assert uids(feed(single["feed_url"])) == set()


def test_if_modified_since_sees_a_calendar_leave_the_feed(api: Api, live: LiveServer,
                                                         salon: Salon) -> None:
    book(api, salon, "2026-12-01T10:00")
    url = make_link(api, salon.business)["feed_url"]
    live.clock.advance(dt.timedelta(hours=1))
    newcomer = add_calendar(api, salon.business, "Bo Lund")
    book(api, salon, "2026-12-01T10:00", calendar=newcomer)
    seen = fetch(url)
    assert len(parse(seen.content).walk("VEVENT")) == 2

    live.clock.advance(dt.timedelta(hours=1))
    api.ok("PATCH", f"/businesses/{salon.business}/calendars/{newcomer}", json={"active": False})
    # The feed lost an event since Last-Modified: a client revalidating by date must see it.
    response = fetch(url, **{"If-Modified-Since": seen.headers["Last-Modified"]})
    assert response.status_code == 200, response.headers
    assert len(parse(response.content).walk("VEVENT")) == 1
    assert response.headers["Last-Modified"] != seen.headers["Last-Modified"]


def test_if_modified_since_sees_the_window_move(api: Api, live: LiveServer,
                                               salon: Salon) -> None:
    """The window moves every day: an item far ahead enters it without any write."""
    url = make_link(api, salon.business)["feed_url"]
    ahead = book(api, salon, (NOW + dt.timedelta(days=730, hours=12)).isoformat())
    seen = fetch(url)
    assert ahead["uid"] not in uids(seen.content)
    live.clock.advance(dt.timedelta(days=1))
    assert ahead["uid"] in uids(feed(url))
    response = fetch(url, **{"If-Modified-Since": seen.headers["Last-Modified"]})
    assert response.status_code == 200, response.headers
    assert ahead["uid"] in uids(response.content)


# --- hostile text -------------------------------------------------------------------------

HOSTILE = [
    "Line one\r\nLine two\nLine three\rend",
    'Comma, semicolon; quote" backslash\\ colon: done',
    "X-INJECT:1\r\nSUMMARY:pwn",
    "bell\x07 esc\x1b[31m red\x7f del\x08 tab\tend",
    "Emoji 💇‍♀️✂️🇩🇰 ÆØÅ ñ 中文 𝄞",
    "END:VEVENT\r\nBEGIN:VEVENT\r\nUID:evil\r\nSUMMARY:pwn",
]
LONG = ("Lang tekst ÆØÅ 💇 " * 600)[:9_985] + "\r\nX-INJECT:2"  # 9,997 characters


def visible(text: str) -> str:
    """Text as a calendar shows it: CR and CRLF become LF, other control characters go."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")


def calendar_name_of(body: bytes) -> str:
    """X-WR-CALNAME, unescaped (icalendar leaves X- properties as they are; vobject reads them
    as TEXT, their default type)."""
    value: str = vobject.readOne(body.decode("utf-8")).contents["x-wr-calname"][0].value
    return value


def assert_safe_lines(body: bytes, events: int) -> None:
    lines = content_lines(body)
    for line in lines:
        assert len(line) <= 75, (len(line), line[:80])
        assert not line.startswith((b"X-INJECT", b"SUMMARY:pwn", b"UID:evil")), line
    assert not re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", body)
    assert lines.count(b"BEGIN:VEVENT") == lines.count(b"END:VEVENT") == events
    assert lines.count(b"BEGIN:VCALENDAR") == lines.count(b"END:VCALENDAR") == 1


def test_hostile_text_stays_inside_its_values(api: Api, live: LiveServer) -> None:
    business = api.ok("POST", "/businesses", 201, json={
        "name": "Salon\r\nX-INJECT:1;\"evil\"", "timezone": CPH})["id"]
    base = f"/businesses/{business}"
    calendar = api.ok("POST", f"{base}/calendars", 201, json={
        "name": "Anna\r\nX-INJECT:1\x07, \"Berg\"; 💇"})
    service = api.ok("POST", f"{base}/services", 201, json={
        "name": "Cut, colour; \"style\"\r\nX-INJECT:1", "duration_minutes": 30})
    salon = Salon(business, calendar["id"], service["id"], 0)
    # Names are at most 200 characters: a 10,000-character one is refused, not truncated.
    assert_error(api.post(f"{base}/clients", json={"name": "N" * 10_000}), 422, "invalid")
    # NUL is refused outright (PostgreSQL cannot store it); other control characters are
    # accepted and left out of the feed.
    assert_error(api.post(f"{base}/clients", json={"name": "nul\x00 bell\x07"}), 422,
                 "invalid", "NUL")

    expected: dict[str, dict[str, str]] = {}
    for n, text in enumerate(HOSTILE + [LONG]):
        client = api.ok("POST", f"{base}/clients", 201, json={
            "name": text[:200], "email": text[:320], "phone": text[:64], "address": text,
            "notes": text})
        booking = book(api, salon, f"2026-12-{n + 1:02d}T10:00", client_id=client["id"],
                       location=text, notes=text)
        expected[booking["uid"]] = {"client": client["name"], "text": text}
    blocked = block(api, salon, title=HOSTILE[5], start="2026-12-20T10:00",
                    end="2026-12-20T11:00")
    count = len(expected) + 1

    full = make_link(api, business, scope="calendar", calendar_ids=[salon.calendar])
    every = make_link(api, business, label="Desk\r\nX-INJECT:1")
    limited = make_link(api, business, profile="limited")
    for link in (full, every, limited):
        body = feed(link["feed_url"])
        assert_safe_lines(body, count)
        parsed = parse(body)
        assert len(parsed.walk("VEVENT")) == count
        assert len(vobject.readOne(body.decode("utf-8")).vevent_list) == count
        assert "\n" not in calendar_name_of(body) and "\x07" not in calendar_name_of(body)

    calendar_name = visible(calendar["name"])
    full_events = events_by_uid(parse(feed(full["feed_url"])))
    assert calendar_name_of(feed(full["feed_url"])) == " ".join(calendar_name.split())
    for uid, facts in expected.items():
        event = full_events[uid]
        text = visible(facts["text"])
        assert str(event["SUMMARY"]) == f"{visible(service['name'])} – {visible(facts['client'])}"
        description = str(event["DESCRIPTION"])
        for line in (f"Client: {visible(facts['client'])}", f"Address: {text}",
                     f"Client notes: {text}", f"Notes: {text}",
                     f"Employee: {calendar_name}"):
            assert line in description, line[:60]
        assert str(event["LOCATION"]) == text
    assert str(full_events[blocked["uid"]]["SUMMARY"]) == visible(HOSTILE[5])

    limited_events = events_by_uid(parse(feed(limited["feed_url"])))
    for uid in expected:
        assert str(limited_events[uid]["SUMMARY"]) == visible(service["name"])
        assert str(limited_events[uid]["DESCRIPTION"]) == f"Employee: {calendar_name}"
        assert "LOCATION" not in limited_events[uid]
    # An "all" link names whose blocked time it is, the name's whitespace made single spaces.
    assert str(limited_events[blocked["uid"]]["SUMMARY"]) == \
        "Busy – " + " ".join(calendar_name.split())


@pytest.mark.parametrize("resource, field", [("clients", "name"), ("bookings", "notes"),
                                             ("blocked-times", "title"), ("links", "label")])
def test_a_nul_character_is_refused_on_every_engine(api: Api, live: LiveServer, salon: Salon,
                                                    resource: str, field: str) -> None:
    """JSON may carry U+0000, which PostgreSQL cannot store: it is a 422 naming the problem on
    both engines, never a 500 (and never stored on SQLite only)."""
    bodies: dict[str, dict[str, Any]] = {
        "clients": {"name": "Ida"},
        "bookings": {"calendar_id": salon.calendar, "service_id": salon.service,
                     "client_id": salon.client, "start": "2026-12-01T10:00"},
        "blocked-times": {"calendar_id": salon.calendar, "start": "2026-12-02T10:00",
                          "end": "2026-12-02T11:00"},
        "links": {"scope": "all", "profile": "full"},
    }
    response = api.post(f"/businesses/{salon.business}/{resource}",
                        json={**bodies[resource], field: "before\x00after"})
    assert_error(response, 422, "invalid", "NUL")
    # Without the NUL the same request is fine.
    api.ok("POST", f"/businesses/{salon.business}/{resource}", 201,
           json={**bodies[resource], field: "before after"})

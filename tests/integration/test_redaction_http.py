"""Redaction end to end, on SQLite and PostgreSQL: bookings whose every sensitive field holds a
unique marker (inside generated text) go in through the API; the `full` feed shows every marker,
the `limited` and `busy` feeds show the same events at the same times and no marker in any byte
of their bodies or headers."""

from __future__ import annotations

import datetime as dt
import gzip
from typing import Any
from uuid import UUID

import icalendar
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support import Api, LiveServer, make_salon

UTC = dt.timezone.utc
BOOKINGS = 20
CLIENT_FIELDS = ("name", "email", "phone", "address", "notes")
BOOKING_FIELDS = ("location", "notes")
MARKS_PER_BOOKING = len(CLIENT_FIELDS) + len(BOOKING_FIELDS)


# Text around the markers: any characters but surrogates (not encodable) and U+0000 (PostgreSQL
# refuses it in text; test_feeds.py covers that on its own).
around = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
                 max_size=30)


Case = tuple[list[dict[str, tuple[str, str]]], list[str]]
BLOCKED = 3


@st.composite
def marked_bookings(draw: st.DrawFn) -> Case:
    """For each booking, field -> (marker, text holding it); and a marker per blocked time."""
    count = BOOKINGS * MARKS_PER_BOOKING + BLOCKED
    uuids: list[UUID] = draw(st.lists(st.uuids(), min_size=count, max_size=count, unique=True))
    marks = iter("MRK" + u.hex for u in uuids)
    result = []
    for _ in range(BOOKINGS):
        fields = {}
        for field in [f"client_{f}" for f in CLIENT_FIELDS] + list(BOOKING_FIELDS):
            mark = next(marks)
            if field == "client_phone":  # at most 64 characters
                fields[field] = (mark, "+45 " + mark)
            elif field == "client_email":
                fields[field] = (mark, f"{mark}@example.com")
            else:
                fields[field] = (mark, draw(around) + mark + draw(around))
        result.append(fields)
    return result, [next(marks) for _ in range(BLOCKED)]


def fetch(url: str, method: str = "GET", **headers: str) -> requests.Response:
    return requests.request(method, url, headers={"Accept-Encoding": "identity", **headers},
                            timeout=30)


def unfold(body: bytes) -> bytes:
    return body.replace(b"\r\n ", b"").replace(b"\r\n\t", b"")


def header_bytes(response: requests.Response) -> bytes:
    return "\n".join(f"{k}: {v}" for k, v in response.headers.items()).encode("utf-8")


def instant(prop: Any) -> dt.datetime | dt.date:
    value = prop.dt
    return value.astimezone(UTC) if isinstance(value, dt.datetime) else value


def make_business(api: Api, case: Case) -> tuple[int, dict[str, Any], list[str]]:
    """A business with the marked bookings and blocked time; returns its id, the expected
    events (uid -> kind, start, end) and every marker."""
    salon = make_salon(api)
    base = f"/businesses/{salon.business}"
    ny = api.ok("POST", f"{base}/calendars", 201,
                json={"name": "Nora York", "timezone": "America/New_York"})["id"]
    cases, title_marks = case
    expected: dict[str, Any] = {}
    marks: list[str] = list(title_marks)
    for n, fields in enumerate(cases):
        marks += [mark for mark, _ in fields.values()]
        client = api.ok("POST", f"{base}/clients", 201, json={
            f: fields[f"client_{f}"][1] for f in CLIENT_FIELDS})
        booking = api.ok("POST", f"{base}/bookings", 201, json={
            "calendar_id": ny if n % 2 else salon.calendar, "service_id": salon.service,
            "client_id": client["id"], "start": f"2027-03-{n + 1:02d}T10:00",
            **{f: fields[f][1] for f in BOOKING_FIELDS}})
        expected[booking["uid"]] = ("booking", dt.datetime.fromisoformat(booking["start"]),
                                    dt.datetime.fromisoformat(booking["end"]))
    titles = [f"Away: {mark}, sorry" for mark in title_marks]
    blocked = [
        {"title": titles[0], "all_day": True, "start": "2027-04-01", "end": "2027-04-04"},
        {"title": titles[1], "start": "2027-03-22T12:00", "end": "2027-03-22T13:00",
         "rrule": "FREQ=DAILY;COUNT=14", "exdates": ["2027-03-25T12:00"]},
        {"title": titles[2], "start": "2027-04-10T09:00", "end": "2027-04-10T17:00"},
    ]
    for body in blocked:
        item = api.ok("POST", f"{base}/blocked-times", 201,
                      json={"calendar_id": salon.calendar, **body})
        times: tuple[dt.datetime | dt.date, ...] = (
            dt.date.fromisoformat(body["start"]), dt.date.fromisoformat(body["end"])) \
            if body.get("all_day") else (dt.datetime.fromisoformat(item["start"]),
                                         dt.datetime.fromisoformat(item["end"]))
        expected[item["uid"]] = ("blocked", *times)
    return salon.business, expected, marks


def check_redacted(profile: str, response: requests.Response, head: requests.Response,
                   expected: dict[str, Any], marks: list[str]) -> None:
    body = response.content
    assert response.status_code == 200, response.text
    for where in (body, unfold(body), header_bytes(response), header_bytes(head)):
        leaked = [mark for mark in marks if mark.encode() in where]
        assert not leaked, (profile, leaked[:3])
    calendar = icalendar.Calendar.from_ical(body)
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    assert len(calendar.walk("VEVENT")) == len(expected)
    assert set(events) == set(expected)
    for uid, (kind, start, end) in expected.items():
        event = events[uid]
        assert (instant(event["DTSTART"]), instant(event["DTEND"])) == (start, end), uid
        assert "LOCATION" not in event
        summary = str(event["SUMMARY"])
        if profile == "busy":
            assert summary == "Busy"
        elif kind == "blocked":  # an "all" link names whose blocked time it is
            assert summary == "Busy – Anna Berg"
        else:
            assert summary == "Haircut"
        if profile == "busy":
            assert "DESCRIPTION" not in event
        elif kind == "booking":
            assert str(event["DESCRIPTION"]).startswith("Employee: ")


@settings(max_examples=4, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(case=marked_bookings())
def test_feeds_show_client_data_only_in_full(live: LiveServer, case: Case) -> None:
    api = Api(live.url)
    business, expected, marks = make_business(api, case)
    assert len(set(marks)) == len(marks) == BOOKINGS * MARKS_PER_BOOKING + BLOCKED
    links = {profile: api.ok("POST", f"/businesses/{business}/links", 201,
                             json={"scope": "all", "profile": profile})
             for profile in ("full", "limited", "busy")}

    full = fetch(links["full"]["feed_url"])
    assert full.status_code == 200
    text = unfold(full.content)
    missing = [mark for mark in marks if mark.encode() not in text]
    assert not missing, missing[:3]  # positive control: the markers do reach a feed
    assert len(icalendar.Calendar.from_ical(full.content).walk("VEVENT")) == len(expected)

    for profile in ("limited", "busy"):
        url = links[profile]["feed_url"]
        check_redacted(profile, fetch(url), fetch(url, "HEAD"), expected, marks)
        zipped = requests.get(url, headers={"Accept-Encoding": "gzip"}, timeout=30,
                              stream=True)
        plain = gzip.decompress(zipped.raw.read(decode_content=False))
        assert not [mark for mark in marks if mark.encode() in unfold(plain)]

    # A full link turned busy: the texts rendered (and cached) for `full` are not reused.
    path = f"/businesses/{business}/links/{links['full']['id']}"
    api.ok("PATCH", path, json={"profile": "busy"})
    url = links["full"]["feed_url"]
    check_redacted("busy", fetch(url), fetch(url, "HEAD"), expected, marks)

"""The redaction allow-list, as a property: whatever text the sensitive fields hold, `full` shows
all of it and `limited` / `busy` show none of it, neither in the view nor in the rendered VEVENT.

Every sensitive field holds a unique marker ("MRK" + 32 hex digits) inside arbitrary unicode
text (control characters, line breaks, iCalendar syntax included). Markers are ASCII letters and
digits, which iCalendar never escapes, so a marker that reaches the output appears verbatim once
the lines are unfolded."""

from __future__ import annotations

import dataclasses
import datetime as dt
import unicodedata
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar, Event

from server.domain.timeutil import to_local
from server.publishing.ical import render_event
from server.redaction import (
    BUSY, PROFILES, BlockedFacts, BookingFacts, EventView, blocked_view, booking_view,
)

SENSITIVE_BOOKING_FIELDS = ("client_name", "client_email", "client_phone", "client_address",
                            "client_notes", "location", "notes")
ZONES = ("Europe/Copenhagen", "America/New_York", "UTC", "Asia/Kolkata", "Australia/Lord_Howe")

# Any text, surrogates excluded (they cannot be encoded, so no field can hold one).
any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
hostile_text = st.one_of(any_text, st.sampled_from([
    "", "\r\n", "X-INJECT:1\r\nSUMMARY:pwn", ',;"\\:', "\x00\x07\x1b", "💇‍♀️🇩🇰", " ",
    "\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\n"]))
# A name that is not empty once control characters are gone.
visible_name = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=40)
local_times = st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2029, 1, 1)
                           ).map(lambda d: d.replace(microsecond=0))
# Booking instants: times in the repeated autumn hour (either of its two passes) come up often.
autumn_hours = st.sampled_from([
    (dt.datetime(2027, 10, 31, 0, 0, tzinfo=dt.timezone.utc), "Europe/Copenhagen"),
    (dt.datetime(2027, 10, 31, 1, 0, tzinfo=dt.timezone.utc), "Europe/Copenhagen"),
    (dt.datetime(2027, 11, 7, 5, 0, tzinfo=dt.timezone.utc), "America/New_York"),
    (dt.datetime(2027, 11, 7, 6, 0, tzinfo=dt.timezone.utc), "America/New_York"),
])
durations = st.integers(min_value=1, max_value=14 * 24 * 60).map(
    lambda m: dt.timedelta(minutes=m))
instants = st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2027, 1, 1),
                        timezones=st.just(dt.timezone.utc)).map(
    lambda d: d.replace(microsecond=0))


def local(instant: dt.datetime, tzid: str) -> dt.datetime:
    """The wall-clock time as the database gives it back: naive, fold 0."""
    return instant.astimezone(ZoneInfo(tzid)).replace(tzinfo=None, fold=0)


def marker(value: UUID) -> str:
    return "MRK" + value.hex


@st.composite
def embedded(draw: st.DrawFn, mark: str) -> str:
    """The marker inside arbitrary text."""
    return draw(hostile_text) + mark + draw(hostile_text)


@st.composite
def bookings(draw: st.DrawFn) -> tuple[BookingFacts, dict[str, str]]:
    marks = [marker(u) for u in draw(st.lists(st.uuids(), min_size=len(SENSITIVE_BOOKING_FIELDS),
                                              max_size=len(SENSITIVE_BOOKING_FIELDS),
                                              unique=True))]
    by_field = dict(zip(SENSITIVE_BOOKING_FIELDS, marks))
    # As the server keeps a booking: its instants, and the wall-clock times they are in the zone.
    if draw(st.booleans()):
        hour, tzid = draw(autumn_hours)
        start_utc = hour + dt.timedelta(minutes=draw(st.integers(0, 59)))
    else:
        start_utc = draw(local_times).replace(tzinfo=dt.timezone.utc)
        tzid = draw(st.sampled_from(ZONES))
    end_utc = start_utc + draw(durations)
    created = draw(instants)
    facts = BookingFacts(
        uid=str(draw(st.uuids())), start_local=local(start_utc, tzid),
        end_local=local(end_utc, tzid), start_utc=start_utc, end_utc=end_utc,
        tzid=tzid, revision=draw(st.integers(0, 10_000)),
        created=created, updated=created + draw(durations),
        service_name=draw(visible_name), employee_name=draw(visible_name),
        **{field: draw(embedded(mark)) for field, mark in by_field.items()})
    return facts, by_field


@st.composite
def blocked_items(draw: st.DrawFn) -> tuple[BlockedFacts, str]:
    mark = marker(draw(st.uuids()))
    all_day = draw(st.booleans())
    start = draw(local_times)
    if all_day:
        start = start.replace(hour=0, minute=0, second=0)
        end = start + dt.timedelta(days=draw(st.integers(1, 30)))
    else:
        end = start + draw(durations)
    rrule = draw(st.sampled_from([None, "FREQ=DAILY;COUNT=5", "FREQ=WEEKLY;BYDAY=MO,WE",
                                  "FREQ=MONTHLY;UNTIL=20281231T000000"]))
    exdates = (start + dt.timedelta(days=1),) if rrule and draw(st.booleans()) else ()
    created = draw(instants)
    facts = BlockedFacts(
        uid=str(draw(st.uuids())), title=draw(embedded(mark)), all_day=all_day,
        start_local=start, end_local=end, tzid=draw(st.sampled_from(ZONES)), rrule=rrule,
        exdates=exdates, revision=draw(st.integers(0, 10_000)), created=created,
        updated=created + draw(durations))
    return facts, mark


# --- helpers ------------------------------------------------------------------------------


def visible(text: str) -> str:
    """Text as a calendar shows it: CR and CRLF become LF; no other control characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")


def unfold(text: str) -> str:
    return text.replace("\r\n ", "").replace("\r\n\t", "")


def view_text(view: EventView) -> str:
    """Every value the view holds, as one string."""
    return repr(dataclasses.asdict(view))


def parse_event(text: str) -> Event:
    calendar = Calendar.from_ical("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
                                  + text + "END:VCALENDAR\r\n")
    (event,) = calendar.walk("VEVENT")
    return event


def assert_wellformed(text: str) -> None:
    assert text.startswith("BEGIN:VEVENT\r\n") and text.endswith("END:VEVENT\r\n")
    lines = text.removesuffix("\r\n").split("\r\n")
    for line in lines:
        assert len(line.encode("utf-8")) <= 75, line
        assert "\r" not in line and "\n" not in line
        assert not line.startswith(("X-INJECT", "SUMMARY:pwn")), line
    # Text that looks like iCalendar stays inside its value: one component, one SUMMARY.
    assert (lines.count("BEGIN:VEVENT"), lines.count("END:VEVENT")) == (1, 1)
    assert sum(line.startswith("SUMMARY") for line in lines) == 1


def assert_moment(prop: Any, local_time: dt.datetime, instant: dt.datetime | None,
                  tzid: str) -> None:
    """A DTSTART/DTEND is the local time with its TZID, or (UTC zone, or a wall-clock time that
    the TZID would read as another instant) the instant in UTC; either way the same moment."""
    value = prop.dt
    if "TZID" in prop.params:
        assert prop.params["TZID"] == tzid
        assert value.replace(tzinfo=None) == local_time
        if instant is not None:  # read as RFC 5545 says: the first of two equal times
            assert value.replace(tzinfo=ZoneInfo(tzid), fold=0).astimezone(
                dt.timezone.utc) == instant
    else:
        assert value.utcoffset() == dt.timedelta(0), "no floating times"
        assert instant is not None or tzid == "UTC"
        assert value == (instant or local_time.replace(tzinfo=dt.timezone.utc))
        assert local(value, tzid) == local_time


def assert_times(event: Event, facts: Any, all_day: bool) -> None:
    if all_day:
        assert (event["DTSTART"].dt, event["DTEND"].dt) == (
            facts.start_local.date(), facts.end_local.date())
    else:
        assert_moment(event["DTSTART"], facts.start_local, getattr(facts, "start_utc", None),
                      facts.tzid)
        assert_moment(event["DTEND"], facts.end_local, getattr(facts, "end_utc", None),
                      facts.tzid)
    assert event["UID"] == facts.uid
    assert int(event["SEQUENCE"]) == facts.revision


def assert_no_marker(text: str, marks: list[str]) -> None:
    for mark in marks:
        assert mark not in text


# --- properties ---------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(bookings())
def test_booking_views_show_exactly_what_their_profile_allows(
        case: tuple[BookingFacts, dict[str, str]]) -> None:
    facts, by_field = case
    marks = list(by_field.values())
    for profile in PROFILES:
        view = booking_view(facts, profile)
        text = render_event(view)
        assert_wellformed(text)
        event = parse_event(text)
        assert_times(event, facts, all_day=False)
        assert (view.start_local, view.end_local, view.tzid) == (
            facts.start_local, facts.end_local, facts.tzid)
        assert (view.start_utc, view.end_utc) == (facts.start_utc, facts.end_utc)
        if profile == "full":
            # Positive control: every sensitive field reaches the full output.
            for field, mark in by_field.items():
                assert mark in view_text(view), field
                assert mark in unfold(text), field
            parsed = str(event["SUMMARY"]) + str(event["DESCRIPTION"]) + str(
                event["LOCATION"])
            assert all(mark in parsed for mark in marks)
            continue
        assert_no_marker(view_text(view), marks)
        assert_no_marker(text, marks)
        assert_no_marker(unfold(text), marks)
        assert "LOCATION" not in event
        if profile == "busy":
            assert view.summary == BUSY and str(event["SUMMARY"]) == BUSY
            assert view.description is None and "DESCRIPTION" not in event
        else:
            assert view.summary == facts.service_name
            assert str(event["SUMMARY"]) == visible(facts.service_name)


@settings(max_examples=100, deadline=None)
@given(blocked_items())
def test_blocked_views_hide_the_title_outside_full(case: tuple[BlockedFacts, str]) -> None:
    facts, mark = case
    for profile in PROFILES:
        view = blocked_view(facts, profile)
        text = render_event(view)
        assert_wellformed(text)
        event = parse_event(text)
        assert_times(event, facts, all_day=facts.all_day)
        assert (view.rrule, view.exdates) == (facts.rrule, facts.exdates)
        if facts.rrule:
            assert event["RRULE"].to_ical().decode() == facts.rrule
        if profile == "full":
            assert view.summary == facts.title
            assert mark in unfold(text) and mark in str(event["SUMMARY"])
            continue
        assert view.summary == BUSY and str(event["SUMMARY"]) == BUSY
        assert mark not in view_text(view)
        assert mark not in text and mark not in unfold(text)
        assert "DESCRIPTION" not in event and "LOCATION" not in event


@pytest.mark.parametrize("instant, tzid", [
    (dt.datetime(2027, 10, 31, 1, 30, tzinfo=dt.timezone.utc), "Europe/Copenhagen"),  # 02:30 CET
    (dt.datetime(2027, 11, 7, 6, 30, tzinfo=dt.timezone.utc), "America/New_York"),  # 01:30 EST
])
def test_the_second_pass_of_the_repeated_hour_renders_its_own_instant(
        instant: dt.datetime, tzid: str) -> None:
    """Facts built from freshly computed times (server.domain.timeutil.to_local gives the
    second pass of the repeated hour as a naive time with fold=1, as datetime.astimezone does)
    render the same instant as facts read back from the database (fold=0)."""
    end = instant + dt.timedelta(minutes=45)
    for start_local in (to_local(instant, tzid), local(instant, tzid)):
        facts = BookingFacts(
            uid="u", start_local=start_local, end_local=to_local(end, tzid),
            start_utc=instant, end_utc=end, tzid=tzid, revision=0, created=instant,
            updated=instant, service_name="Haircut", employee_name="Anna",
            client_name=None, client_email=None, client_phone=None, client_address=None,
            client_notes=None, location=None, notes=None)
        event = parse_event(render_event(booking_view(facts, "busy")))
        assert_moment(event["DTSTART"], local(instant, tzid), instant, tzid)
        assert_moment(event["DTEND"], local(end, tzid), end, tzid)

"""To Google: bookings reach the fake Google Calendar through the real client library, from the
journal, in batches, idempotently, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes import FaultKind
from google_world import World
from server.domain import bookings
from server.google import settings as google_settings
from server.google.copies import is_ours
from server.google.event_ids import is_valid
from support import NOW


def test_bookings_reach_google_once_and_an_idle_pass_writes_nothing(world: World) -> None:
    ids = [world.book(day, client_id=world.client) for day in range(1, 8)]
    report = world.push()
    assert (report.inserted, report.failed) == (7, [])
    events = world.google()
    assert len(events) == 7
    assert {e["summary"] for e in events} == {"Haircut – Ida Jensen"}
    for event in events:
        assert is_valid(event["id"]) and is_ours(event)
        assert "attendees" not in event
        assert event["reminders"] == {"useDefault": False}
    # One batch request carried all the inserts.
    assert world.fake.count("batch") == 1
    assert world.fake.count("calendar.events.insert") == 7
    world.fake.clear_log()
    assert world.push().writes == 0
    assert world.fake.count() == 0  # nothing to send: not even a request
    assert len(ids) == 7


def test_moves_cancellations_and_deletions_follow(world: World) -> None:
    moved, cancelled, deleted = (world.book(day) for day in (1, 2, 3))
    world.push()
    with world.runtime.db.write() as session:
        bookings.update_booking(session, world.business, moved, now=NOW,
                                start=dt.datetime(2026, 12, 1, 14))
        bookings.cancel_booking(session, world.business, cancelled, NOW)
        bookings.delete_booking(session, world.business, deleted, NOW)
    report = world.push()
    assert (report.updated, report.deleted, report.inserted) == (1, 2, 0)
    events = world.google()
    assert len(events) == 1
    assert events[0]["start"]["dateTime"].startswith("2026-12-01T14:00:00")
    assert world.push().writes == 0


def test_hiding_client_details_rewrites_every_copy(world: World) -> None:
    for day in (1, 2):
        world.book(day, client_id=world.client, notes="secret", location="Algade 1")
    world.push()
    with world.runtime.db.write() as session:
        google_settings.update_settings(session, world.business, now=NOW, hide_client_details=True)
    assert world.push().updated == 2
    for event in world.google():
        text = repr(event)
        assert "Ida" not in text and "ida@example.com" not in text and "secret" not in text
        assert event["summary"] == "Haircut"


def test_a_lost_insert_response_creates_no_duplicate(world: World) -> None:
    world.book(1)
    world.fake.inject_fault(FaultKind.LOST_RESPONSE_500, endpoint="calendar.events.insert")
    report = world.push()
    assert report.failed == [] and report.inserted == 1
    assert len(world.fake.events("primary", include_deleted=True)) == 1


def test_a_copy_deleted_in_google_is_restored_when_written_again(world: World) -> None:
    booking = world.book(1)
    world.push()
    [event] = world.google()
    world.fake.user_delete_event("primary", event["id"])
    assert world.google() == []
    with world.runtime.db.write() as session:
        bookings.update_booking(session, world.business, booking, now=NOW, notes="changed")
    report = world.push()
    assert report.failed == []
    [restored] = world.google()
    assert restored["id"] == event["id"] and restored["status"] == "confirmed"


def test_rate_limits_are_retried_and_nothing_is_lost(world: World) -> None:
    for day in range(1, 4):
        world.book(day)
    world.fake.inject_fault(FaultKind.TOO_MANY_REQUESTS, endpoint="calendar.events.insert",
                            times=2, retry_after=1)
    report = world.push()
    assert report.failed == [] and report.inserted == 3
    assert len(world.google()) == 3


def instances(world: World) -> list[dict[str, Any]]:
    answer = world.api.call(world.api.events().list(
        calendarId="primary", singleEvents=True, orderBy="startTime",
        timeMin="2026-11-01T00:00:00Z", timeMax="2027-06-01T00:00:00Z"))
    return list(answer["items"])


def test_repeating_all_day_and_multi_day_blocked_time_across_dst(world: World) -> None:
    from server.domain import blocked

    with world.runtime.db.write() as session:
        # Weekly on Fridays at 10:00 local, across the change to summer time (28 March 2027),
        # one week left out.
        blocked.create_blocked(
            session, world.business, calendar_id=world.anna, now=NOW, title="Training",
            start=dt.datetime(2027, 3, 19, 10), end=dt.datetime(2027, 3, 19, 11),
            rrule="FREQ=WEEKLY;COUNT=4", exdates=[dt.datetime(2027, 3, 26, 10)])
        blocked.create_blocked(
            session, world.business, calendar_id=world.anna, now=NOW, title="Holiday",
            start=dt.date(2026, 12, 24), end=dt.date(2026, 12, 28), all_day=True)
        blocked.create_blocked(
            session, world.business, calendar_id=world.anna, now=NOW, title="Course",
            start=dt.datetime(2027, 1, 4, 15), end=dt.datetime(2027, 1, 6, 12))
        blocked.create_blocked(
            session, world.business, calendar_id=world.anna, now=NOW, title="Inventory",
            start=dt.date(2027, 2, 1), end=dt.date(2027, 2, 2), all_day=True,
            rrule="FREQ=MONTHLY;COUNT=3", exdates=[dt.date(2027, 3, 1)])
    report = world.push()
    assert (report.inserted, report.failed) == (4, [])
    # Blocked time shows as "Busy", whatever its title.
    assert {e["summary"] for e in world.google()} == {"Busy"}
    assert sorted(e["recurrence"] for e in world.google() if "recurrence" in e) == [
        ["RRULE:FREQ=MONTHLY;COUNT=3", "EXDATE;VALUE=DATE:20270301"],
        ["RRULE:FREQ=WEEKLY;COUNT=4", "EXDATE;TZID=Europe/Copenhagen:20270326T100000"]]
    seen = [(e["start"].get("dateTime") or e["start"]["date"],
             e["end"].get("dateTime") or e["end"]["date"]) for e in instances(world)]
    assert seen == [
        ("2026-12-24", "2026-12-28"),  # all-day, several days
        ("2027-01-04T15:00:00+01:00", "2027-01-06T12:00:00+01:00"),  # timed, several days
        ("2027-02-01", "2027-02-02"),
        ("2027-03-19T10:00:00+01:00", "2027-03-19T11:00:00+01:00"),
        ("2027-04-01", "2027-04-02"),
        ("2027-04-02T10:00:00+02:00", "2027-04-02T11:00:00+02:00"),  # summer time: still 10:00
        ("2027-04-09T10:00:00+02:00", "2027-04-09T11:00:00+02:00"),
    ]
    assert world.push().writes == 0


MARKED = ("name", "email", "phone", "address", "client_notes", "notes", "location")
slots = iter([(day, hour) for day in range(1, 29) for hour in range(8, 18)])
tags = itertools.count(1000)


@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                              max_size=12), min_size=len(MARKED), max_size=len(MARKED)),
       hide=st.booleans())
def test_client_details_reach_google_only_as_the_setting_says(
        world: World, words: list[str], hide: bool) -> None:
    """Every client detail carries a marker: with details shown only the client's name reaches
    the fake (in any request it receives), with details hidden nothing of the client does."""
    from server.domain import clients

    tag = f"mk{next(tags)}x"
    markers = {field: f"{tag}{field}" for field in MARKED}
    text = {field: f"{words[n]} {markers[field]} {words[n]}".strip()
            for n, field in enumerate(MARKED)}
    day, hour = next(slots)
    with world.runtime.db.write() as session:
        google_settings.update_settings(session, world.business, now=NOW, hide_client_details=hide)
        client = clients.create_client(
            session, world.business, name=text["name"], now=NOW,
            email=f"{markers['email']}@example.com", phone=text["phone"],
            address=text["address"], notes=text["client_notes"]).id
    world.fake.clear_log()
    world.book(day, hour, client_id=client, notes=text["notes"], location=text["location"])
    assert world.push().failed == []
    received = json.dumps([r.body for r in world.fake.requests()], ensure_ascii=False)
    assert markers["name"] not in received if hide else markers["name"] in received
    leaked = [field for field in MARKED[1:] if markers[field] in received]
    assert leaked == []


def test_erasing_a_client_rewrites_the_copies_in_google(world: World) -> None:
    from server.domain import clients

    for day in (1, 2):
        world.book(day, client_id=world.client)
    world.push()
    assert {e["summary"] for e in world.google()} == {"Haircut – Ida Jensen"}
    with world.runtime.db.write() as session:
        assert clients.erase_client(session, world.business, world.client, NOW) == 2
    report = world.push()
    assert (report.updated, report.failed) == (2, [])
    assert not [e for e in world.google() if "Ida" in json.dumps(e)]

"""To Google: bookings reach the fake Google Calendar through the real client library, from the
journal, in batches, idempotently, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from fakes import FakeGoogle, FaultKind
from server.domain import bookings, businesses, calendars, clients, services
from server.google import oauth, settings
from server.google.api import GoogleCalendarApi
from server.google.copies import is_ours
from server.google.event_ids import is_valid
from server.google.push import PushReport, push
from server.runtime import Runtime
from support import NOW, google_toml, make_runtime

TZ = "Europe/Copenhagen"


@dataclass
class World:
    runtime: Runtime
    fake: FakeGoogle
    api: GoogleCalendarApi
    business: int
    anna: int
    service: int
    client: int
    connection: int

    def book(self, day: int, hour: int = 10, **extra: Any) -> int:
        with self.runtime.db.write() as session:
            return bookings.create_booking(
                session, self.business, calendar_id=self.anna, service_id=self.service,
                start=dt.datetime(2026, 12, day, hour), now=NOW, **extra).id

    def push(self) -> PushReport:
        return push(self.runtime.db, self.runtime.keyring, self.api, self.connection, NOW)

    def google(self) -> list[dict[str, Any]]:
        return self.fake.events("primary")


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    with FakeGoogle() as fake:
        secret = tmp_path / "google-secret"
        secret.write_text(fake.client_secret, encoding="utf-8")
        runtime = make_runtime(tmp_path, database_url, extra=google_toml(fake, secret))
        tokens = fake.issue_tokens()
        with runtime.db.write() as session:
            business = businesses.create_business(session, name="Salon", timezone=TZ,
                                                  now=NOW).id
            anna = calendars.create_calendar(session, business, name="Anna", now=NOW).id
            service = services.create_service(session, business, name="Haircut",
                                              duration_minutes=45, now=NOW).id
            client = clients.create_client(session, business, name="Ida Jensen", now=NOW,
                                           email="ida@example.com").id
            connection = oauth.connect(session, runtime.keyring, business, tokens, NOW).id
            settings.update_settings(session, business, now=NOW, calendars=[
                settings.CalendarChoice(anna, "primary")])
        api = GoogleCalendarApi(runtime.config.google, tokens["refresh_token"],
                                sleep=lambda seconds: None)
        yield World(runtime, fake, api, business, anna, service, client, connection)
        assert fake.internal_errors == []
        runtime.db.dispose()


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
        settings.update_settings(session, world.business, now=NOW, hide_client_details=True)
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

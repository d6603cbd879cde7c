"""Outlook busy time blocks online booking like Google's: read by the bridge from the fake
Graph, mirrored with the one blocking policy, named in the refusal with its provider; staff
bookings are not refused; the business's switch decides."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from fakes.microsoft_fake import FakeMicrosoft
from microsoft_world import CALENDAR, TZ, MicrosoftWorld, make_microsoft_world
from server.clock import FixedClock
from server.db.models import MicrosoftConnection
from server.domain import hours
from server.domain.timeutil import zone
from server.microsoft import connections
from server.sync.engine import Engine
from support import Api, LiveServer, assert_error, start_server

UTC = dt.timezone.utc


@pytest.fixture
def live_ms(tmp_path: Path, database_url: str) -> Iterator[tuple[MicrosoftWorld, LiveServer]]:
    with FakeMicrosoft() as fake, make_microsoft_world(tmp_path, database_url, fake) as world:
        with world.runtime.db.write() as session:
            hours.set_weekly(session, world.business, world.anna, [
                hours.Interval(day, dt.time(8), dt.time(17)) for day in range(7)])
        server = start_server(world.runtime)
        try:
            yield world, server
        finally:
            server.stop()
        assert fake.internal_errors == []


def outlook_event(world: MicrosoftWorld, hour: int, **fields: str) -> str:
    start = dt.datetime.combine(world.first_day, dt.time(hour), tzinfo=zone(TZ)).astimezone(UTC)
    end = start + dt.timedelta(hours=1)
    return world.fake.user_add(CALENDAR, {
        "subject": "Dentist", **fields,
        "start": {"dateTime": start.replace(tzinfo=None).isoformat(), "timeZone": "UTC"},
        "end": {"dateTime": end.replace(tzinfo=None).isoformat(), "timeZone": "UTC"}})


def read(world: MicrosoftWorld) -> None:
    [report] = Engine(world.runtime, worker="t", providers=[world.provider()]).run_once(
        force_pull=True)
    assert report.error is None


def blocking(world: MicrosoftWorld, on: bool) -> None:
    with world.runtime.db.write() as session:
        connections.update_settings(session, world.business, now=world.now,
                                    block_online_booking=on)


def test_outlook_busy_time_refuses_online_bookings_not_staff_ones(
        live_ms: tuple[MicrosoftWorld, LiveServer]) -> None:
    world, live = live_ms
    blocking(world, True)
    busy = outlook_event(world, 10)
    outlook_event(world, 13, showAs="free")
    read(world)
    api = Api(live.url)
    body = {"calendar_id": world.anna, "service_id": world.service,
            "start": f"{world.first_day.isoformat()}T10:00:00", "source": "online"}
    refused = assert_error(api.post(f"/businesses/{world.business}/bookings", json=body), 409,
                           contains="Outlook event")
    reason = refused["details"]["reasons"][0]
    assert reason["id"] == busy and reason["google_calendar"] == CALENDAR
    assert "Outlook calendar" in refused["message"]
    free = {**body, "start": f"{world.first_day.isoformat()}T13:00:00"}
    api.ok("POST", f"/businesses/{world.business}/bookings", 201, json=free)
    api.ok("POST", f"/businesses/{world.business}/bookings", 201,
           json={**body, "source": "staff"})


def test_the_business_switch_decides(live_ms: tuple[MicrosoftWorld, LiveServer]) -> None:
    world, live = live_ms
    outlook_event(world, 10)
    read(world)
    api = Api(live.url)
    body = {"calendar_id": world.anna, "service_id": world.service,
            "start": f"{world.first_day.isoformat()}T10:00:00", "source": "online"}
    api.ok("POST", f"/businesses/{world.business}/bookings", 201, json=body)


DELTA = f"GET /v1.0/me/calendars/{CALENDAR}/calendarView/delta"


def online(world: MicrosoftWorld, hour: int) -> dict[str, object]:
    return {"calendar_id": world.anna, "service_id": world.service, "source": "online",
            "start": f"{world.first_day.isoformat()}T{hour:02d}:00:00"}


def test_a_stale_mirror_is_read_before_an_online_booking(
        live_ms: tuple[MicrosoftWorld, LiveServer]) -> None:
    world, live = live_ms
    blocking(world, True)
    read(world)
    api = Api(live.url)
    # Made in Outlook after the bridge's last look; the mirror is still fresh: not seen.
    outlook_event(world, 10, subject="New")
    before = len(world.fake.requests(DELTA))
    first = api.ok("POST", f"/businesses/{world.business}/bookings", 201,
                   json=online(world, 10))
    assert len(world.fake.requests(DELTA)) == before and first["warnings"] == []
    api.ok("DELETE", f"/businesses/{world.business}/bookings/{first['id']}", 204)
    # Older than availability.google_max_age_seconds: one delta read first, and it blocks.
    live.clock.advance(dt.timedelta(minutes=10))
    refused = assert_error(api.post(f"/businesses/{world.business}/bookings",
                                    json=online(world, 10)), 409, contains="Outlook event")
    assert "warnings" not in refused["details"]
    assert len(world.fake.requests(DELTA)) == before + 1
    # Read just now: the next booking asks Graph nothing.
    api.ok("POST", f"/businesses/{world.business}/bookings", 201, json=online(world, 13))
    assert len(world.fake.requests(DELTA)) == before + 1


def test_unreachable_graph_falls_back_to_the_mirror_and_says_so(
        live_ms: tuple[MicrosoftWorld, LiveServer]) -> None:
    world, live = live_ms
    blocking(world, True)
    outlook_event(world, 10)
    read(world)
    live.clock.advance(dt.timedelta(minutes=10))
    world.fake.fail(503, DELTA, times=5)
    api = Api(live.url)
    made = api.ok("POST", f"/businesses/{world.business}/bookings", 201,
                  json=online(world, 14))
    assert made["warnings"] == ["Microsoft could not be reached; checked against the Outlook "
                                "events mirrored before (synced 10 min ago)"]
    assert [r.status for r in world.fake.requests(DELTA)][-1:] == [503]  # one attempt each
    refused = assert_error(api.post(f"/businesses/{world.business}/bookings",
                                    json=online(world, 10)), 409, contains="Outlook event")
    assert "Microsoft could not be reached" in refused["details"]["warnings"][0]


def test_the_freshness_read_is_bounded_and_leaves_full_reads_to_the_bridge(
        live_ms: tuple[MicrosoftWorld, LiveServer]) -> None:
    """Only a short incremental delta read: never a full read after a 410, never the window's
    renewal, never more than freshness.MAX_PAGES pages; nothing half-read is stored."""
    from server.db.models import MicrosoftReadState
    from server.microsoft.freshness import MAX_PAGES
    from server.microsoft.pull import RENEW_AFTER

    world, live = live_ms
    blocking(world, True)
    read(world)
    api = Api(live.url)

    def book_online(hour: int) -> list[str]:
        live.clock.advance(dt.timedelta(minutes=10))  # the mirror is stale again
        made = api.ok("POST", f"/businesses/{world.business}/bookings", 201,
                      json=online(world, hour))
        warnings: list[str] = made["warnings"]
        return warnings

    def cursor() -> str | None:
        with world.runtime.db.read() as session:
            return session.execute(select(MicrosoftReadState.sync_token)).scalar_one()

    # The delta token expired: one read answered 410, no full read after it.
    world.fake.mailbox.expire_tokens()
    before = len(world.fake.requests(DELTA))
    [note] = book_online(9)
    assert note.startswith("Outlook events were not refreshed (")
    assert [r.status for r in world.fake.requests(DELTA)[before:]] == [410]
    read(world)  # the bridge reads it again
    # More pages of changes than allowed: read, not stored; the bridge's cursor stays.
    world.fake.mailbox.max_page_size = 1
    for hour in range(MAX_PAGES + 1):
        outlook_event(world, 14 + hour)
    kept = cursor()
    before = len(world.fake.requests(DELTA))
    [note] = book_online(11)
    assert f"more than {MAX_PAGES} pages" in note
    assert len(world.fake.requests(DELTA)) - before == MAX_PAGES
    assert cursor() == kept
    refused = api.post(f"/businesses/{world.business}/bookings", json=online(world, 14))
    assert refused.status_code == 201  # not mirrored yet: the bridge has not read it
    # The read window is due for renewal: that is the bridge's full read; Graph is not asked.
    read(world)
    assert isinstance(world.runtime.clock, FixedClock)
    world.runtime.clock.advance(RENEW_AFTER)
    later = (world.runtime.clock.now() + dt.timedelta(days=8)).astimezone(zone(TZ)).date()
    before = len(world.fake.requests(DELTA))
    made = api.ok("POST", f"/businesses/{world.business}/bookings", 201,
                  json={**online(world, 10), "start": f"{later.isoformat()}T10:00:00"})
    [note] = made["warnings"]
    assert note.startswith("Outlook events were not refreshed (the Microsoft sync token")
    assert len(world.fake.requests(DELTA)) == before


def test_no_graph_call_while_paused_or_to_be_reconnected(
        live_ms: tuple[MicrosoftWorld, LiveServer]) -> None:
    world, live = live_ms
    blocking(world, True)
    read(world)
    live.clock.advance(dt.timedelta(minutes=10))
    api = Api(live.url)
    before = len(world.fake.log)
    for status, paused_until, says, hour in (
            ("paused", world.now + dt.timedelta(days=1), "Outlook sync is paused", 9),
            ("needs_reconnect", None, "the Microsoft connection needs reconnecting", 11)):
        with world.runtime.db.write() as session:
            session.execute(update(MicrosoftConnection).values(status=status,
                                                               paused_until=paused_until))
        made = api.ok("POST", f"/businesses/{world.business}/bookings", 201,
                      json=online(world, hour))
        assert len(made["warnings"]) == 1 and made["warnings"][0].startswith(says)
        assert "(synced 10 min ago)" in made["warnings"][0]
    assert len(world.fake.log) == before

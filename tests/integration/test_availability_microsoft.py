"""Outlook busy time blocks online booking like Google's: read by the bridge from the fake
Graph, mirrored with the one blocking policy, named in the refusal with its provider; staff
bookings are not refused; the business's switch decides."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.microsoft_fake import FakeMicrosoft
from microsoft_world import CALENDAR, TZ, MicrosoftWorld, make_microsoft_world
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

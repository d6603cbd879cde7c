"""Edits of our copies of bookings applied as reschedules (`edits_from_calendars = "apply"`) are
held to the business's own settings: the service's buffers, the business's opening-hours
requirement, and the configured `[availability]` (an online booking's horizon), never to
built-in defaults. Through the sync engine (the bridge's pass) against the fake Google and the
strict fake Graph, and a phone's move on a writable CalDAV account (real HTTP, the same domain
path), on SQLite and PostgreSQL, on the injected clock (support.NOW; every date derives from
it). More phone moves: tests/integration/test_caldav_writable.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fakes import FakeGoogle
from fakes.microsoft_fake import FakeMicrosoft
from google_world import TZ, World, bridge, make_world
from microsoft_world import MicrosoftWorld, make_microsoft_world
from server.api.routes_google import status_out
from server.db.models import Booking
from server.domain import bookings, businesses, hours, services
from server.sync.engine import Engine
from support import NOW, Api, LiveServer, book, make_runtime, make_salon, start_server
from test_caldav_writable import (  # noqa: F401  (fixtures)
    Phone, api, assert_refused_and_unchanged, booking_of, moved_text, writable_link,
)
from test_microsoft_edits import copy_at as outlook_copy_at
from test_microsoft_edits import move_copy as outlook_move

UTC = dt.timezone.utc
HORIZON = "\n[availability]\nmax_horizon_days = 30\n"


@pytest.fixture
def short_horizon(tmp_path: Path, database_url: str) -> Iterator[World]:
    """A Google world whose deployment opens online booking 30 days ahead (default: 90)."""
    with FakeGoogle() as fake, make_world(tmp_path, database_url, fake, extra=HORIZON) as made:
        yield made
        assert fake.internal_errors == []


@pytest.fixture
def ms_short_horizon(tmp_path: Path, database_url: str) -> Iterator[MicrosoftWorld]:
    with FakeMicrosoft() as fake, make_microsoft_world(tmp_path, database_url, fake,
                                                       extra=HORIZON) as made:
        yield made
        assert fake.internal_errors == []


def local(world: World | MicrosoftWorld, day: int, hour: int, minute: int = 0) -> dt.datetime:
    date = world.first_day + dt.timedelta(days=day - 1)
    return dt.datetime.combine(date, dt.time(hour, minute), tzinfo=ZoneInfo(TZ))


def choose(world: World | MicrosoftWorld, **fields: Any) -> None:
    with world.runtime.db.write() as session:
        businesses.update_business(session, world.business, **fields)


def open_daily(world: World | MicrosoftWorld, opens: int = 9, closes: int = 17) -> None:
    with world.runtime.db.write() as session:
        hours.set_weekly(session, world.business, world.anna, [
            hours.Interval(day, dt.time(opens), dt.time(closes)) for day in range(7)])


def start_of(world: World | MicrosoftWorld, booking_id: int) -> dt.datetime:
    with world.runtime.db.read() as session:
        found = session.get(Booking, booking_id)
        assert found is not None
        return found.start_utc


def sync(world: World) -> None:
    [report] = bridge(world).run_once(force_pull=True)
    assert report.error is None, report.error


def move_google_copy(world: World, start: dt.datetime, to: dt.datetime,
                     minutes: int = 45) -> None:
    """The account's owner drags our copy that starts at `start` to `to` in Google."""
    [copy] = [e for e in world.google() if e.get("status") != "cancelled" and
              dt.datetime.fromisoformat(e["start"]["dateTime"]) == start]
    world.fake.user_patch_event("primary", str(copy["id"]), {
        "start": {"dateTime": to.isoformat()},
        "end": {"dateTime": (to + dt.timedelta(minutes=minutes)).isoformat()}})


def reasons(world: World) -> list[str]:
    with world.runtime.db.read() as session:
        return [r.reason for r in status_out(session, world.business, world.now).edit_refusals]


def test_a_move_into_a_buffer_is_refused(world: World) -> None:
    """A 30-minute buffer after the service: a move that reaches another booking's buffer, or
    whose own buffer reaches another booking, is refused; one clear of both is applied."""
    with world.runtime.db.write() as session:
        services.update_service(session, world.business, world.service, now=world.now,
                                buffer_after_minutes=30)
    choose(world, edits_from_calendars="apply")
    moved, other = world.book(1), world.book(1, hour=14)  # the other: 14:00-14:45, to 15:15
    sync(world)
    ten = local(world, 1, 10)
    for onto in (local(world, 1, 15), local(world, 1, 13)):  # its buffer; our buffer
        move_google_copy(world, ten, onto)
        sync(world)  # read: refused; written again
        assert start_of(world, moved) == ten.astimezone(UTC)
        assert "buffers included" in reasons(world)[0] and f"booking {other}" in reasons(world)[0]
        sync(world)
    assert len(reasons(world)) == 2
    move_google_copy(world, ten, local(world, 1, 15, 15))  # right after the other's buffer
    sync(world)
    assert start_of(world, moved) == local(world, 1, 15, 15).astimezone(UTC)
    assert len(reasons(world)) == 2


def test_a_move_outside_hours_is_refused_when_the_business_requires_hours(
        world: World) -> None:
    open_daily(world)
    choose(world, edits_from_calendars="apply", calendar_moves_within_hours=True)
    made = world.book(1)
    sync(world)
    ten = local(world, 1, 10)
    move_google_copy(world, ten, local(world, 2, 18))
    sync(world)
    assert start_of(world, made) == ten.astimezone(UTC)
    assert "outside the opening hours" in reasons(world)[0]
    sync(world)
    choose(world, calendar_moves_within_hours=False)
    move_google_copy(world, ten, local(world, 2, 18))
    sync(world)
    assert start_of(world, made) == local(world, 2, 18).astimezone(UTC)


def book_online(world: World | MicrosoftWorld, day: int) -> int:
    with world.runtime.db.write() as session:
        return bookings.create_booking(
            session, world.business, calendar_id=world.anna, service_id=world.service,
            start=local(world, day, 10).replace(tzinfo=None), now=world.now, source="online",
            rules=world.runtime.config.availability).id


def test_an_online_booking_moves_within_the_configured_horizon(
        short_horizon: World) -> None:
    """The deployment opens online booking 30 days ahead: an online booking moved in Google
    to 40 days ahead is refused (the built-in 90 would accept it); 20 days ahead is applied."""
    world = short_horizon
    open_daily(world)
    choose(world, edits_from_calendars="apply")
    made = book_online(world, 1)
    sync(world)
    ten = local(world, 1, 10)
    move_google_copy(world, ten, local(world, 40, 10))
    sync(world)
    assert start_of(world, made) == ten.astimezone(UTC)
    assert "bookings open only until" in reasons(world)[0]
    sync(world)
    move_google_copy(world, ten, local(world, 20, 10))
    sync(world)
    assert start_of(world, made) == local(world, 20, 10).astimezone(UTC)


def test_outlook_moves_use_the_configured_horizon_too(
        ms_short_horizon: MicrosoftWorld) -> None:
    world = ms_short_horizon
    open_daily(world)
    choose(world, edits_from_calendars="apply")
    made = book_online(world, 1)
    engine = Engine(world.runtime, worker="ms-test", providers=[world.provider()])

    def sync_outlook() -> None:
        [report] = engine.run_once(force_pull=True)
        assert report.error is None, report.error

    sync_outlook()
    ten = local(world, 1, 10).astimezone(UTC)
    outlook_move(world, outlook_copy_at(world, ten), local(world, 40, 10),
                 local(world, 40, 10, 45))
    sync_outlook()
    assert start_of(world, made) == ten
    sync_outlook()
    outlook_move(world, outlook_copy_at(world, ten), local(world, 20, 10),
                 local(world, 20, 10, 45))
    sync_outlook()
    assert start_of(world, made) == local(world, 20, 10).astimezone(UTC)


# --- a phone's move on a writable CalDAV account -------------------------------------------


def cph_day(days: int, hour: int, minute: int = 0) -> dt.datetime:
    """`days` days after the injected clock's day, at `hour` in Copenhagen."""
    day = NOW.astimezone(ZoneInfo(TZ)).date() + dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ZoneInfo(TZ))


@pytest.fixture
def short_live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    server = start_server(make_runtime(tmp_path, database_url, extra=HORIZON))
    try:
        yield server
    finally:
        server.stop()


def test_a_phone_move_into_another_bookings_buffer_is_refused(api: Api) -> None:
    salon = make_salon(api, buffer_after=30)
    moved = book(api, salon, cph_day(7, 10).isoformat())
    other = book(api, salon, cph_day(8, 14).isoformat())  # 14:00-14:45, its buffer to 15:15
    phone = Phone(writable_link(api, salon))
    reason = assert_refused_and_unchanged(api, salon, phone, moved, moved_text(
        phone, moved["uid"], cph_day(8, 15), cph_day(8, 15, 45)))
    assert "buffers included" in reason and f"booking {other['id']}" in reason
    assert phone.put(moved["uid"], moved_text(phone, moved["uid"], cph_day(8, 15, 15),
                                              cph_day(8, 16))).status_code == 204
    assert dt.datetime.fromisoformat(booking_of(api, salon, moved)["start"]) == \
        cph_day(8, 15, 15)


def test_a_phone_move_of_an_online_booking_uses_the_configured_horizon(
        short_live: LiveServer) -> None:
    api = Api(short_live.url)
    salon = make_salon(api)
    api.ok("PUT", f"/businesses/{salon.business}/calendars/{salon.calendar}/opening-hours",
           json={"intervals": [{"weekday": day, "opens": "08:00", "closes": "18:00"}
                               for day in range(7)]})
    made = book(api, salon, cph_day(7, 10).isoformat(), source="online")
    phone = Phone(writable_link(api, salon))
    reason = assert_refused_and_unchanged(api, salon, phone, made, moved_text(
        phone, made["uid"], cph_day(40, 10), cph_day(40, 10, 45)))
    assert "bookings open only until" in reason
    answer = phone.put(made["uid"], moved_text(phone, made["uid"], cph_day(20, 10),
                                               cph_day(20, 10, 45)))
    assert answer.status_code == 204, answer.text
    assert dt.datetime.fromisoformat(booking_of(api, salon, made)["start"]) == cph_day(20, 10)
    api.session.close()


def test_the_api_books_and_moves_online_within_the_configured_horizon(
        short_live: LiveServer) -> None:
    """create_booking and update_booking of the JSON API hold an online booking to the
    configured [availability] (30 days here; the built-in default would allow 90)."""
    api = Api(short_live.url)
    salon = make_salon(api)
    api.ok("PUT", f"/businesses/{salon.business}/calendars/{salon.calendar}/opening-hours",
           json={"intervals": [{"weekday": day, "opens": "08:00", "closes": "18:00"}
                               for day in range(7)]})
    base = f"/businesses/{salon.business}/bookings"
    body = {"calendar_id": salon.calendar, "service_id": salon.service, "source": "online"}
    refused = api.post(base, json={**body, "start": cph_day(40, 10).isoformat()})
    assert refused.status_code == 409 and "bookings open only until" in refused.text
    made = api.ok("POST", base, 201, json={**body, "start": cph_day(20, 10).isoformat()})
    moved = api.patch(f"{base}/{made['id']}", json={"start": cph_day(40, 11).isoformat()})
    assert moved.status_code == 409 and "bookings open only until" in moved.text
    assert dt.datetime.fromisoformat(booking_of(api, salon, made)["start"]) == cph_day(20, 10)
    # Staff may book beyond it; the domain has no built-in rules to fall back on.
    api.ok("POST", base, 201, json={**body, "source": "staff",
                                    "start": cph_day(40, 10).isoformat()})
    with short_live.runtime.db.write() as session, \
            pytest.raises(bookings.MissingRulesError, match=r"\[availability\]"):
        bookings.create_booking(session, salon.business, calendar_id=salon.calendar,
                                service_id=salon.service, start=cph_day(21, 10),
                                now=NOW, source="online")
    api.session.close()

"""A property test over random schedules on a real SQLite database: random opening hours and
exceptions, bookings, blocked time (repeating too), mirrored Google events (busy, free, all-day)
and service rules. For each:

- a day left free of everything offers every start that fits its opening hours (not empty where
  there is room);
- every slot availability returns is accepted by the booking writer as an online booking;
- every start time in opening hours that is not returned is explained by a refused run, and the
  booking writer refuses it too.

Each booking attempt runs in its own transaction and is rolled back, so the schedule stays as
generated."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, update

from server.config import AvailabilityConfig
from server.db.models import (
    BlockedTime, Booking, GoogleCalendarMap, GoogleConnection, GoogleReadState, JournalEntry,
    MirroredEvent, OpeningException, OpeningHours,
)
from server.domain import blocked, bookings, businesses, calendars, hours, services
from server.domain.availability import candidates, rules_for
from server.domain.schedules import availability, day_window
from server.domain.timeutil import wall_to_utc
from server.errors import ConflictError
from server.runtime import Runtime
from support import NOW, make_runtime

TZ = "Europe/Copenhagen"
FIRST = dt.date(2026, 11, 30)  # a Monday; the range is three days from here
DAYS = 3
DEFAULTS = AvailabilityConfig()


class Rollback(Exception):
    """Raised to end a booking attempt's transaction without committing it."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder: Path = tmp_path_factory.mktemp("property")
    runtime = make_runtime(folder, f"sqlite:///{folder}/property.sqlite3")
    with runtime.db.write() as session:
        business = businesses.create_business(session, name="Salon", timezone=TZ, now=NOW).id
        calendar = calendars.create_calendar(session, business, name="Anna", now=NOW).id
        service = services.create_service(session, business, name="Cut", duration_minutes=30,
                                          now=NOW).id
        connection = GoogleConnection(business_id=business, refresh_token_encrypted="x",
                                      block_online_booking=True, created_at=NOW, updated_at=NOW)
        session.add(connection)
        session.flush()
        session.add(GoogleCalendarMap(business_id=business, connection_id=connection.id,
                                      calendar_id=calendar,
                                      write_calendar="primary", read_calendar="primary"))
        session.add(GoogleReadState(business_id=business, connection_id=connection.id,
                                    google_calendar="primary",
                                    synced_at=NOW, max_span_seconds=0))
    yield {"runtime": runtime, "business": business, "calendar": calendar,
           "service": service, "connection": connection.id}
    runtime.db.dispose()


quarter = st.integers(min_value=28, max_value=80)  # 07:00 .. 20:00 in quarter hours


@st.composite
def day_hours(draw: st.DrawFn) -> list[tuple[dt.time, dt.time]]:
    spans = []
    edges = sorted(draw(st.lists(quarter, min_size=0, max_size=4, unique=True)))
    for low, high in zip(edges[::2], edges[1::2]):
        spans.append((dt.time(low // 4, low % 4 * 15), dt.time(high // 4, high % 4 * 15)))
    return spans


@st.composite
def moment(draw: st.DrawFn, busy_days: list[int]) -> dt.datetime:
    day = FIRST + dt.timedelta(days=draw(st.sampled_from(busy_days)))
    minutes = draw(st.integers(min_value=6 * 60, max_value=21 * 60)) // 5 * 5
    return dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minutes)


@st.composite
def schedules(draw: st.DrawFn) -> dict[str, Any]:
    free_day = draw(st.integers(min_value=0, max_value=DAYS - 1))
    busy_days = [d for d in range(-1, DAYS + 1) if d != free_day]
    weekly = {weekday: draw(day_hours()) for weekday in range(7)}
    exceptions = {day: draw(day_hours()) for day in busy_days
                  if draw(st.booleans()) and 0 <= day < DAYS}
    items = []
    for _ in range(draw(st.integers(min_value=0, max_value=8))):
        kind = draw(st.sampled_from(["booking", "blocked", "repeating", "google", "free",
                                     "all_day"]))
        start = draw(moment(busy_days))
        length = dt.timedelta(minutes=draw(st.integers(min_value=5, max_value=180)) // 5 * 5)
        items.append((kind, start, length))
    rules = {"duration_minutes": draw(st.sampled_from([15, 30, 45, 60, 90])),
             "buffer_before_minutes": draw(st.sampled_from([0, 5, 15, 30])),
             "buffer_after_minutes": draw(st.sampled_from([0, 10, 15, 30])),
             "slot_step_minutes": draw(st.sampled_from([5, 15, 20, 30, 60])),
             "min_notice_minutes": 60, "max_horizon_days": 90}
    return {"free_day": free_day, "weekly": weekly, "exceptions": exceptions,
            "items": items, "rules": rules}


def write_schedule(world: dict[str, Any], plan: dict[str, Any]) -> None:
    runtime: Runtime = world["runtime"]
    business, calendar = world["business"], world["calendar"]
    with runtime.db.write() as session:
        for model in (Booking, BlockedTime, OpeningException, OpeningHours, MirroredEvent,
                      JournalEntry):
            session.execute(delete(model))
        hours.set_weekly(session, business, calendar, [
            hours.Interval(weekday, opens, closes)
            for weekday, spans in plan["weekly"].items() for opens, closes in spans])
        for day, spans in plan["exceptions"].items():
            hours.set_exception(session, business, calendar, FIRST + dt.timedelta(days=day),
                                intervals=spans)
        services.update_service(session, business, world["service"], now=NOW, **plan["rules"])
        free = FIRST + dt.timedelta(days=plan["free_day"])
        for index, (kind, start, length) in enumerate(plan["items"]):
            if kind == "booking":
                try:
                    with session.begin_nested():
                        bookings.create_booking(session, business, calendar_id=calendar,
                                                service_id=world["service"], start=start,
                                                end=start + length, now=NOW)
                except ConflictError:
                    pass  # overlapping another random item: skip it
            elif kind in ("blocked", "repeating"):
                try:
                    with session.begin_nested():
                        blocked.create_blocked(
                            session, business, calendar_id=calendar, start=start,
                            end=start + length, now=NOW,
                            rrule=None if kind != "repeating" else "FREQ=WEEKLY;COUNT=2"
                            if start.date() + dt.timedelta(days=1) == free
                            else "FREQ=DAILY;COUNT=2")
                except ConflictError:
                    pass
            else:
                whole = kind == "all_day"
                if whole:
                    low, high = day_window(TZ, start.date(), start.date() + dt.timedelta(days=1))
                else:
                    low = wall_to_utc(start, TZ)
                    high = low + length
                session.add(MirroredEvent(
                    business_id=business, connection_id=world["connection"],
                    google_calendar="primary", event_id=f"event{index}", summary="x",
                    all_day=whole, start_utc=low, end_utc=high,
                    start_date=start.date() if whole else None,
                    end_date=start.date() + dt.timedelta(days=1) if whole else None,
                    transparency="transparent" if kind == "free" else "opaque",
                    blocks=kind != "free", updated_at=NOW))
                span = int((high - low).total_seconds())
                session.execute(update(GoogleReadState).values(max_span_seconds=span).where(
                    GoogleReadState.max_span_seconds < span))


def try_online(world: dict[str, Any], start: dt.datetime) -> ConflictError | None:
    """Book online in a transaction that is always rolled back; the refusal, or None."""
    runtime: Runtime = world["runtime"]
    try:
        with runtime.db.write() as session:
            bookings.create_booking(session, world["business"], calendar_id=world["calendar"],
                                    service_id=world["service"], start=start, now=NOW,
                                    source="online", rules=DEFAULTS)
            raise Rollback()
    except Rollback:
        return None
    except ConflictError as exc:
        return exc


@settings(max_examples=30, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(plan=schedules())
def test_random_schedules(world: dict[str, Any], plan: dict[str, Any]) -> None:
    write_schedule(world, plan)
    end = FIRST + dt.timedelta(days=DAYS)
    with world["runtime"].db.read() as session:
        service, [answer] = availability(
            session, world["business"], [world["calendar"]], world["service"], FIRST, end,
            NOW, DEFAULTS, explain=True)
        rules = rules_for(service, DEFAULTS)
    offered = set(answer.slots)
    grid = candidates(answer.schedule, rules)
    assert offered <= set(grid)
    # The free day offers every start its opening hours leave room for.
    free = FIRST + dt.timedelta(days=plan["free_day"])
    spans = plan["exceptions"].get(plan["free_day"], plan["weekly"][free.weekday()])
    step, length = rules.step, rules.duration
    room = 0
    for opens, closes in spans:
        width = dt.datetime.combine(free, closes) - dt.datetime.combine(free, opens)
        if width >= length:
            room += (width - length) // step + 1
    day_low, day_high = day_window(TZ, free, free + dt.timedelta(days=1))
    on_free_day = [s for s in offered if day_low <= s < day_high]
    assert len(on_free_day) == room, (spans, sorted(on_free_day))
    # Every slot is accepted online.
    for slot in sorted(offered):
        assert try_online(world, slot) is None, slot
    # Every other start is explained, and refused by the booking writer too.
    explained: dict[dt.datetime, set[str]] = {}
    runs = answer.refused or []
    for start in grid:
        if start in offered:
            continue
        run = next((r for r in runs if r.first <= start <= r.last), None)
        assert run is not None and run.reasons, start
        explained[start] = {r.kind for r in run.reasons}
        refusal = try_online(world, start)
        assert refusal is not None, (start, explained[start])

#!/usr/bin/env python
"""Benchmark of GET /api/v1/availability on SQLite and PostgreSQL.

Per engine it measures, in one run:

1. 30 days of slots for one calendar (opening hours 09:00-17:00, a 45-minute service every 15
   minutes, some bookings and blocked time in the window, Google busy time blocking) whose
   history holds 1k and 100k bookings, with 10k mirrored Google events on the Google calendar it
   reads: the time per request over HTTP and the ratio 100k/1k (indexed range reads keep it near
   1; it must stay below 1.5);
2. side by side, the baseline: reading the calendar's bookings without the lower bound that the
   calendar's longest span gives (a scan of its history), on both histories;
3. 30 days of slots for 20 calendars in one request.

Usage: .venv/bin/python bench/availability_bench.py [--engine sqlite|postgresql|both] [--quick]

PostgreSQL runs on a throwaway server (tests/pgserver.py) that the script starts and stops.
Absolute times depend on the machine; compare the ratios.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from api_bench import (  # noqa: E402  (the shared bench helpers)
    NOISE, _import_harness, bulk_load, database_url, fmt_ms, label, median_ms, table,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from support import Api, LiveServer

TZID = "Europe/Copenhagen"
FIRST_DAY = dt.date(2026, 12, 1)  # the window: 30 days from here, a week after the test clock
RATIO_LIMIT = 1.5


@dataclass(frozen=True)
class Sizes:
    small: int
    large: int
    events: int
    days: int
    calendars: int
    repeats: int
    warmup: int


FULL = Sizes(small=1_000, large=100_000, events=10_000, days=30, calendars=20, repeats=15,
             warmup=3)
QUICK = Sizes(small=1_000, large=5_000, events=1_000, days=7, calendars=20, repeats=7,
              warmup=2)


@dataclass(frozen=True)
class World:
    business: int
    service: int
    small: int
    large: int
    many: list[int]


def _window(days: int) -> tuple[dt.datetime, dt.datetime]:
    from server.domain.schedules import day_window
    return day_window(TZID, FIRST_DAY, FIRST_DAY + dt.timedelta(days=days))


def _calendar(api: Api, business: int, name: str) -> int:
    calendar = int(api.ok("POST", f"/businesses/{business}/calendars", 201,
                          json={"name": name})["id"])
    api.ok("PUT", f"/businesses/{business}/calendars/{calendar}/opening-hours", json={
        "intervals": [{"weekday": d, "opens": "09:00", "closes": "17:00"} for d in range(7)]})
    return calendar


def _window_items(live: LiveServer, business: int, calendar: int, service: int,
                  days: int) -> None:
    """A realistic window: two bookings a day and a daily lunch break, through the domain."""
    from server.domain import blocked, bookings

    now = live.clock.now()
    with live.runtime.db.write() as session:
        for offset in range(days):
            day = FIRST_DAY + dt.timedelta(days=offset)
            for hour in (10, 14):
                bookings.create_booking(session, business, calendar_id=calendar,
                                        service_id=service, now=now,
                                        start=dt.datetime.combine(day, dt.time(hour)))
        blocked.create_blocked(session, business, calendar_id=calendar, now=now,
                               start=dt.datetime.combine(FIRST_DAY, dt.time(12)),
                               end=dt.datetime.combine(FIRST_DAY, dt.time(12, 30)),
                               rrule="FREQ=DAILY")


def _google(engine: Engine, business: int, calendars: list[int], events: int,
            now: dt.datetime) -> None:
    """A connection whose Google calendar every calendar reads, with `events` mirrored events
    (one every 4 hours, half of them before the window), inserted directly as the bridge's
    pull would have left them."""
    from sqlalchemy import insert

    from server.db.models import (
        GoogleCalendarMap, GoogleConnection, GoogleReadState, MirroredEvent,
    )

    start, _ = _window(1)
    with engine.begin() as conn:
        connection = conn.execute(insert(GoogleConnection).values(
            business_id=business, account_email="bench@example.com",
            refresh_token_encrypted="-", scopes="", status="connected", direction="both",
            hide_client_details=False, block_online_booking=True, reminders=False,
            copy_version=1, created_at=now, updated_at=now).returning(
            GoogleConnection.id)).scalar_one()
        conn.execute(insert(GoogleCalendarMap), [
            {"business_id": business, "connection_id": connection, "calendar_id": c,
             "write_calendar": "primary", "read_calendar": "primary", "sent_seq": 0,
             "backfilled": True}
            for c in calendars])
        conn.execute(insert(GoogleReadState).values(
            business_id=business, connection_id=connection, google_calendar="primary",
            synced_at=now, pull_requested=False, max_span_seconds=3600))
        rows = []
        for i in range(events):
            begin = start + dt.timedelta(hours=4 * (i - events // 2), minutes=30)
            rows.append({"business_id": business, "connection_id": connection,
                         "google_calendar": "primary", "event_id": f"bench{i}",
                         "summary": "Busy", "all_day": False, "start_utc": begin,
                         "end_utc": begin + dt.timedelta(hours=1), "transparency": "opaque",
                         "status": "confirmed", "event_type": "default", "blocks": True,
                         "updated_at": now})
        for offset in range(0, len(rows), 5000):
            conn.execute(insert(MirroredEvent), rows[offset:offset + 5000])


def build(live: LiveServer, sizes: Sizes) -> World:
    from sqlalchemy import text

    from support import Api

    api = Api(live.url)
    business = int(api.ok("POST", "/businesses", 201,
                          json={"name": "Availability bench", "timezone": TZID})["id"])
    service = int(api.ok("POST", f"/businesses/{business}/services", 201, json={
        "name": "Haircut", "duration_minutes": 45, "buffer_after_minutes": 5,
        "slot_step_minutes": 15})["id"])
    client = int(api.ok("POST", f"/businesses/{business}/clients", 201,
                        json={"name": "Jens Hansen"})["id"])
    small = _calendar(api, business, f"History {label(sizes.small)}")
    large = _calendar(api, business, f"History {label(sizes.large)}")
    many = [_calendar(api, business, f"Team {n}") for n in range(sizes.calendars)]
    engine = live.runtime.db.engine
    window_start, _ = _window(1)
    for calendar, count in ((small, sizes.small), (large, sizes.large)):
        # Hourly bookings, all of them ending before the window: pure history.
        anchor = window_start - dt.timedelta(hours=count // 2 + 2)
        bulk_load(engine, business_id=business, calendar_id=calendar, service_id=service,
                  client_id=client, count=count, anchor=anchor, now=live.clock.now())
    for calendar in [small, large, *many]:
        _window_items(live, business, calendar, service, sizes.days)
    _google(engine, business, [small, large, *many], sizes.events, live.clock.now())
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return World(business, service, small, large, many)


def request(api: Api, world: World, calendars: list[int], days: int) -> int:
    body = api.ok("GET", "/availability", params={
        "business_id": world.business, "service_id": world.service, "calendar_id": calendars,
        "start": FIRST_DAY.isoformat(),
        "end": (FIRST_DAY + dt.timedelta(days=days)).isoformat()})
    return sum(len(c["slots"]) for c in body["calendars"])


def naive_bookings(live: LiveServer, calendar: int, days: int) -> int:
    """The baseline: the window's bookings read without the lower bound on their start."""
    from sqlalchemy import select

    from server.db.models import Booking

    start, end = _window(days)
    with live.runtime.db.read() as session:
        return len(session.execute(select(Booking.id).where(
            Booking.calendar_id == calendar, Booking.occupied_start_utc < end,
            Booking.occupied_end_utc > start)).all())


def run_engine(engine_name: str, sizes: Sizes) -> bool:
    from support import Api, make_runtime, start_server

    with tempfile.TemporaryDirectory(prefix="bookingcal-avail-bench-") as tmp, \
            database_url(engine_name, Path(tmp)) as url:
        live = start_server(make_runtime(Path(tmp), url))
        try:
            print(f"=== {engine_name}: availability ===")
            print(NOISE)
            began = time.perf_counter()
            world = build(live, sizes)
            print(f"(loaded {label(sizes.small)} + {label(sizes.large)} bookings of history, "
                  f"{label(sizes.events)} mirrored Google events, {sizes.calendars + 2} "
                  f"calendars in {time.perf_counter() - began:.1f} s)")
            api = Api(live.url)
            small, large = label(sizes.small), label(sizes.large)
            timings = median_ms({
                small: lambda: request(api, world, [world.small], sizes.days),
                large: lambda: request(api, world, [world.large], sizes.days),
                f"baseline {small}": lambda: naive_bookings(live, world.small, sizes.days),
                f"baseline {large}": lambda: naive_bookings(live, world.large, sizes.days),
            }, sizes.repeats, sizes.warmup)
            print()
            print(f"[1] {sizes.days} days of slots for one calendar, per request (HTTP)")
            print(table(["history", "median", "slots"], [
                [key, fmt_ms(timings[key].median_ms), str(timings[key].items)]
                for key in (small, large)]))
            ratio = timings[large].median_ms / timings[small].median_ms
            ok = ratio < RATIO_LIMIT
            print(f"  ratio {large}/{small}: {ratio:.2f} "
                  + (f"(OK: below {RATIO_LIMIT})" if ok else f"(WARNING: not below {RATIO_LIMIT})"))
            print()
            print("[2] Baseline: the window's bookings read without the lower bound")
            base_small = timings[f"baseline {small}"].median_ms
            base_large = timings[f"baseline {large}"].median_ms
            print(table(["history", "median"], [[small, fmt_ms(base_small)],
                                                [large, fmt_ms(base_large)]]))
            print(f"  baseline ratio {large}/{small}: {base_large / base_small:.2f}")
            many = median_ms({"20": lambda: request(api, world, world.many, sizes.days)},
                             sizes.repeats, sizes.warmup)["20"]
            print()
            print(f"[3] {sizes.days} days of slots for {len(world.many)} calendars in one "
                  "request")
            print(f"  {fmt_ms(many.median_ms)} for {many.items} slots "
                  f"({fmt_ms(many.median_ms / len(world.many))} per calendar)")
            print()
            return ok
        finally:
            live.stop()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both",
                        help="database engine(s) to measure (default: both)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, few repeats: a smoke test of a few seconds")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    _import_harness()
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    sizes = QUICK if args.quick else FULL
    engines = ("sqlite", "postgresql") if args.engine == "both" else (args.engine,)
    failures = [name for name in engines if not run_engine(name, sizes)]
    if failures:
        print(f"WARNING: ratio not below {RATIO_LIMIT} on {', '.join(failures)}")
        # A quick run is a smoke test on tiny sizes: noise decides its ratio.
        return 0 if args.quick else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

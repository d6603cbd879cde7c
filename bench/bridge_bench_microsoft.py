"""The Microsoft half of bench/bridge_bench.py: the same four measures against the fake
Microsoft Graph (tests/fakes/microsoft_fake.py), through the engine with the Graph adapter.

[1] First import of N Outlook events: calendarView/delta pages of 200 (ceil(N / 200)).
[2] Pushing M new bookings: $batch requests of 20 (ceil(M / 20); 1,000 bookings -> 50).
[3] An idle pass: one delta request per read calendar, nothing else.
[4] Latency from a booking change to the fake receiving its copy, the engine's `run` loop in a
    thread (median and p95)."""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from api_bench import database_url, label


def _event(world: Any, n: int) -> dict[str, Any]:
    # 30 a day: 10k events stay inside the delta read's window (400 days ahead).
    start = world.now + dt.timedelta(days=1 + n // 30, minutes=20 * (n % 30))
    when = {"dateTime": start.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(),
            "timeZone": "UTC"}
    end = {"dateTime": (start + dt.timedelta(minutes=15)).astimezone(dt.timezone.utc)
           .replace(tzinfo=None).isoformat(), "timeZone": "UTC"}
    return {"subject": f"Event {n}", "start": when, "end": end}


def _engine(world: Any) -> Any:
    from server.sync.engine import Engine
    return Engine(world.runtime, worker="bench", providers=[world.provider()], unthrottled=True)


def run_microsoft(engine: str, args: argparse.Namespace, row: Any) -> tuple[list[Any],
                                                                             list[float]]:
    """(rows, latency samples) for one database engine; `row` is bridge_bench.Row."""
    from fakes.microsoft_fake import FakeMicrosoft
    from microsoft_world import CALENDAR, make_microsoft_world
    from server.domain import bookings
    from server.microsoft import connections
    from server.microsoft.pull import PAGE_SIZE
    from server.microsoft.push import BATCH_LIMIT

    with tempfile.TemporaryDirectory(prefix="bridge-bench-ms-") as folder, \
            database_url(engine, Path(folder)) as url, FakeMicrosoft() as fake, \
            make_microsoft_world(Path(folder), url, fake) as world:
        rows = []
        with world.runtime.db.write() as session:  # reading only, for the import
            connections.update_settings(session, world.business, now=world.now,
                                        direction="from_microsoft")
        for n in range(args.events):
            fake.user_add(CALENDAR, _event(world, n))
        worker = _engine(world)
        before = len(fake.log)
        began = time.perf_counter()
        [report] = worker.run_once(force_pull=True)
        seconds = time.perf_counter() - began
        assert report.error is None and report.pulled is not None, report.error
        assert report.pulled.imported == args.events, report.pulled.imported
        deltas = sum(1 for r in fake.log[before:] if r.path.endswith("/calendarView/delta"))
        rows.append(row(f"[1] import {label(args.events)} Outlook events: delta requests",
                        deltas, math.ceil(args.events / PAGE_SIZE), seconds))
        with world.runtime.db.write() as session:
            connections.update_settings(session, world.business, now=world.now,
                                        direction="both")
        worker.run_once(force_pull=True)  # the (empty) backfill is done
        with world.runtime.db.write() as session:
            for n in range(args.bookings):
                bookings.create_booking(
                    session, world.business, calendar_id=world.anna,
                    service_id=world.service, client_id=world.client, now=world.now,
                    start=dt.datetime.combine(world.first_day, dt.time(9))
                    + dt.timedelta(days=30 + n // 8, hours=n % 8))
        before = len(fake.log)
        began = time.perf_counter()
        [report] = worker.run_once(force_pull=True)
        seconds = time.perf_counter() - began
        assert report.pushed is not None and report.pushed.inserted == args.bookings, report
        batches = sum(1 for r in fake.log[before:] if r.path == "/v1.0/$batch")
        rows.append(row(f"[2] push {label(args.bookings)} new bookings: $batch requests",
                        batches, math.ceil(args.bookings / BATCH_LIMIT), seconds))
        worker.run_once(force_pull=True)  # catches up: reads back the copies just written
        before = len(fake.log)
        began = time.perf_counter()
        [report] = worker.run_once(force_pull=True)
        seconds = time.perf_counter() - began
        assert report.error is None, report.error
        calls = sum(1 for r in fake.log[before:] if not r.batch_part)
        rows.append(row("[3] idle pass, 1 read calendar: requests of any kind", calls, 1,
                        seconds))
        delays = _latency(world, worker, args.samples, random.Random(7))
        assert fake.internal_errors == [], fake.internal_errors
        return rows, delays


def _latency(world: Any, worker: Any, samples: int, rng: random.Random) -> list[float]:
    from server.domain import bookings

    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    found: list[float] = []
    try:
        for n in range(samples):
            time.sleep(rng.uniform(0.0, 0.5))
            began = time.monotonic()
            with world.runtime.db.write() as session:
                booking = bookings.create_booking(
                    session, world.business, calendar_id=world.anna, service_id=world.service,
                    now=world.now, start=dt.datetime.combine(world.first_day, dt.time(9))
                    + dt.timedelta(days=400 + n)).id
            mark = f'"transactionId": "bookingcal-booking-{booking}-'
            deadline = began + 30
            while time.monotonic() < deadline:
                arrived = [r.at for r in list(world.fake.log) if mark in r.body]
                if arrived:
                    found.append(arrived[0] - began)
                    break
                time.sleep(0.005)
            else:
                raise AssertionError(f"booking {booking} did not reach the fake within 30 s")
    finally:
        stop.set()
        thread.join(timeout=10)
    return found

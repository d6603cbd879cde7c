#!/usr/bin/env python
"""Benchmark of the Google bridge against the fake Google (tests/fakes/), per database engine.

Request counts are deterministic and printed next to the counts the design promises (the
baseline), with their ratio (1.00 = as promised). Times are printed next to a baseline measured
in the same run against the same fake: the same requests made straight through the client
library, with no database and no bridge logic.

[1] First import of N Google events: one pull of a calendar holding N events; requests must be
    about N / 2500 (the page size). Baseline: listing the same pages with the client alone.
[2] Pushing M new bookings: one push after M bookings were made; batch requests must be about
    M / 50. Baseline: the same number of inserts sent in batches of 50 by the client alone.
[3] An idle pass of the running bridge: one list request per read calendar, nothing else.
[4] Latency from a booking change to the fake receiving its copy, with `Bridge.run` working in
    a thread as `bookingcal bridge` does (median and p95); the promise is at most 2 s.

With `--provider microsoft` (or `both`), the same measures against the fake Microsoft Graph
(bench/bridge_bench_microsoft.py): delta pages of 200, $batch requests of 20, one delta
request per idle pass; printed next to the Google figures with `both`. With `--provider ics`,
a calendar link on a real HTTP server on loopback (bench/bridge_bench_ics.py): one GET per
first read, one conditional GET (304) per due idle pass, no request in passes before the
source's interval is over, and the latency of "read again". With `--provider
caldav`, against a real Radicale (bench/bridge_bench_caldav.py): one sync-collection REPORT
and a multiget per 100 events, one PUT per booking, one request per idle pass.

Usage: .venv/bin/python bench/bridge_bench.py [--engine sqlite|postgresql|postgres|both]
                                              [--provider google|microsoft|both|ics|caldav]
                                              [--events 10000] [--bookings 1000]
                                              [--samples 20] [--quick]

Exit status 1 when a request count differs from its baseline by more than 10 % or the p95
latency exceeds its target (2 s; Microsoft on PostgreSQL 0.5 s) (never with --quick). Absolute times depend on the machine; compare ratios.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
for _folder in (str(REPO), str(TESTS), str(TESTS / "integration"),
                str(Path(__file__).resolve().parent)):
    if _folder not in sys.path:
        sys.path.insert(0, _folder)

from api_bench import NOISE, database_url, label, table  # noqa: E402

LATENCY_TARGET = 2.0  # seconds, from the issue
# Microsoft's targets per engine (issue 15): 2 s on SQLite, 0.5 s on PostgreSQL.
MICROSOFT_TARGETS = {"sqlite": 2.0, "postgresql": 0.5}
COUNT_TOLERANCE = 0.10


@dataclass
class Row:
    what: str
    requests: int
    expected: int
    seconds: float
    baseline_seconds: float | None = None

    @property
    def ratio(self) -> float:
        return self.requests / self.expected if self.expected else math.inf

    def cells(self) -> list[str]:
        base = f"{self.baseline_seconds:.2f}" if self.baseline_seconds is not None else "-"
        times = f"{self.seconds / self.baseline_seconds:.1f}" \
            if self.baseline_seconds else "-"
        return [self.what, str(self.requests), str(self.expected), f"{self.ratio:.2f}",
                f"{self.seconds:.2f}", base, times]


def google_event(n: int) -> dict[str, Any]:
    start = dt.datetime(2026, 12, 1, 6, tzinfo=dt.timezone.utc) + dt.timedelta(hours=3 * n)
    return {"summary": f"Google event {n}", "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + dt.timedelta(hours=1)).isoformat()}}


def list_all(api: Any, calendar: str) -> int:
    """The baseline of [1]: every page of a full listing, through the client alone."""
    from server.google.pull import PAGE_SIZE

    count, page = 0, None
    while True:
        params: dict[str, Any] = {"calendarId": calendar, "singleEvents": True,
                                  "maxResults": PAGE_SIZE}
        if page:
            params["pageToken"] = page
        answer = api.call(api.events().list(**params))
        count += len(answer.get("items", []))
        page = answer.get("nextPageToken")
        if not page:
            return count


def import_events(world: Any, events: int) -> Row:
    from server.google.pull import PAGE_SIZE, pull
    from support import NOW

    fake = world.fake
    for n in range(events):
        fake.user_insert_event("primary", google_event(n))
    began = time.perf_counter()
    listed = list_all(world.api, "primary")
    baseline = time.perf_counter() - began
    assert listed == events, (listed, events)
    fake.clear_log()
    began = time.perf_counter()
    report = pull(world.runtime.db, world.api, world.connection, NOW,
                  rules=world.runtime.config.availability)
    seconds = time.perf_counter() - began
    assert report.imported == events, (report.imported, events)
    return Row(f"[1] import {label(events)} Google events: list requests",
               fake.count("calendar.events.list"), math.ceil(events / PAGE_SIZE), seconds,
               baseline)


def push_bookings(world: Any, count: int) -> Row:
    from server.db.models import GoogleCalendarMap
    from server.domain import bookings
    from server.google.api import BATCH_LIMIT
    from support import NOW

    world.push()  # nothing to send yet: the backfill is done, later bookings come from the journal
    with world.runtime.db.read() as session:
        assert all(m.backfilled for m in session.query(GoogleCalendarMap))
    with world.runtime.db.write() as session:
        for n in range(count):
            bookings.create_booking(
                session, world.business, calendar_id=world.anna, service_id=world.service,
                start=dt.datetime(2027, 1, 1, 9) + dt.timedelta(days=n // 8, hours=n % 8),
                now=NOW, client_id=world.client)
    # Baseline: the same number of inserts in batches, by the client alone, to another calendar.
    other = world.fake.add_calendar("Baseline")
    events = world.api.events()
    calls = {str(n): events.insert(calendarId=other, body=google_event(n), sendUpdates="none")
             for n in range(count)}
    began = time.perf_counter()
    answers = world.api.batch(calls)
    baseline = time.perf_counter() - began
    assert all(a.error is None for a in answers.values())
    world.fake.clear_log()
    began = time.perf_counter()
    report = world.push()
    seconds = time.perf_counter() - began
    assert (report.inserted, report.failed) == (count, []), (report.inserted, report.failed)
    return Row(f"[2] push {label(count)} new bookings: batch requests",
               world.fake.count("batch"), math.ceil(count / BATCH_LIMIT), seconds, baseline)


def idle_pass(world: Any) -> Row:
    from google_world import bridge

    worker = bridge(world)
    worker.run_once(force_pull=True)  # gets its access token and catches up
    world.fake.clear_log()
    began = time.perf_counter()
    [report] = worker.run_once(force_pull=True)
    seconds = time.perf_counter() - began
    assert report.error is None, report.error
    counts: Counter[str] = world.fake.endpoint_counts()
    extra = sum(n for endpoint, n in counts.items() if endpoint != "calendar.events.list")
    return Row("[3] idle pass, 1 read calendar: requests of any kind",
               counts["calendar.events.list"] + extra, 1, seconds)


def latency(world: Any, samples: int, rng: random.Random) -> list[float]:
    from google_world import bridge
    from server.domain import bookings
    from support import NOW

    worker = bridge(world)
    worker.run_once(force_pull=True)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    found: list[float] = []
    try:
        for n in range(samples):
            time.sleep(rng.uniform(0.0, 0.5))  # not in step with the bridge's half-second look
            began = time.monotonic()
            with world.runtime.db.write() as session:
                booking = bookings.create_booking(
                    session, world.business, calendar_id=world.anna, service_id=world.service,
                    start=dt.datetime(2027, 6, 1, 9) + dt.timedelta(days=n), now=NOW).id
            mark = f"booking:{booking}"
            deadline = began + 30
            while time.monotonic() < deadline:
                arrived = [r.at for r in world.fake.requests("calendar.events.insert")
                           if isinstance(r.body, dict) and r.body.get("extendedProperties", {})
                           .get("private", {}).get("bookingcal") == mark]
                if arrived:
                    found.append(arrived[0] - began)
                    break
                time.sleep(0.005)
            else:
                raise AssertionError(f"{mark} did not reach the fake within 30 s")
    finally:
        stop.set()
        thread.join(timeout=10)
    return found


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def run_engine(engine: str, args: argparse.Namespace) -> tuple[list[Row], list[float]]:
    from fakes import FakeGoogle
    from google_world import make_world

    with tempfile.TemporaryDirectory(prefix="bridge-bench-") as folder, \
            database_url(engine, Path(folder)) as url:
        with FakeGoogle() as fake, make_world(Path(folder), url, fake) as world:
            rows = [import_events(world, args.events), push_bookings(world, args.bookings),
                    idle_pass(world)]
            delays = latency(world, args.samples, random.Random(7))
            assert fake.internal_errors == [], fake.internal_errors
        return rows, delays


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "postgres", "both"),
                        default="both", help="postgres is short for postgresql")
    parser.add_argument("--provider", choices=("google", "microsoft", "both", "ics", "caldav"),
                        default="google")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--bookings", type=int, default=1_000)
    parser.add_argument("--samples", type=int, default=20, help="latency samples per engine")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (600 events, 120 bookings, 4 samples); no verdict")
    args = parser.parse_args(argv)
    if args.engine == "postgres":
        args.engine = "postgresql"
    if args.quick:
        args.events, args.bookings, args.samples = 600, 120, 4
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    engines = ("sqlite", "postgresql") if args.engine == "both" else (args.engine,)
    providers = ("google", "microsoft") if args.provider == "both" else (args.provider,)
    against = " and ".join("a real Radicale (CalDAV)" if p == "caldav" else f"the fake {p}"
                           for p in providers)
    print(f"=== Bridge benchmark against {against} "
          f"({', '.join(engines)})")
    print(NOISE)
    failed = []
    for engine, provider in [(e, p) for e in engines for p in providers]:
        if provider == "google":
            rows, delays = run_engine(engine, args)
        elif provider == "ics":
            from bridge_bench_ics import run_ics
            rows, delays = run_ics(engine, args, Row)
        elif provider == "caldav":
            from bridge_bench_caldav import run_caldav
            rows, delays = run_caldav(engine, args, Row)
        else:
            from bridge_bench_microsoft import run_microsoft
            rows, delays = run_microsoft(engine, args, Row)
        print(f"\n--- {provider}, {engine}: request counts (baseline = what the design "
              "promises) and times (baseline = the same requests by the client library alone; "
              "'-': not measured for Microsoft; for ICS, the same fetch by the fetcher alone)")
        print(table(["what", "requests", "baseline", "ratio", "seconds", "baseline s",
                     "ratio s"], [row.cells() for row in rows]))
        median, tail = statistics.median(delays), p95(delays)
        who = "" if provider == "google" else f"{provider}, "
        target = MICROSOFT_TARGETS[engine] if provider == "microsoft" else LATENCY_TARGET
        change = "'read again' -> the changed feed mirrored" if provider == "ics" else \
            "booking change -> fake received its copy"
        print(f"\n[4] {who}{engine}: {change}, {len(delays)} "
              f"samples: median {median:.3f} s, p95 {tail:.3f} s; target <= "
              f"{target:.1f} s (ratio p95/target {tail / target:.2f})")
        failed += [f"{provider}, {engine}: {row.what} ratio {row.ratio:.2f}" for row in rows
                   if abs(row.ratio - 1) > COUNT_TOLERANCE]
        if tail > target:
            failed.append(f"{provider}, {engine}: p95 latency {tail:.3f} s")
    if args.quick:
        print("\n(--quick: sizes too small for a verdict)")
        return 0
    print("\nVerdict: " + ("OK, every count as promised and p95 latency within target"
                          if not failed else "MISSED: " + "; ".join(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

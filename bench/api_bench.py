#!/usr/bin/env python
"""Benchmark of the booking API on SQLite and PostgreSQL.

Per engine it measures, in one run:

1. bookings created per second through the real HTTP API (one client; four clients on four
   calendars at once);
2. the cost of listing one week of a calendar holding 1k and 100k bookings, through the domain
   (`list_bookings`) and over HTTP, and the ratio 100k/1k (an index range scan keeps it near 1);
3. the query plan of the listing query on the big calendar (captured as list_bookings sends it),
   judged "OK: index range scan" or "WARNING: ...", and the naive query without the lower bound
   on start_utc (the baseline: it reads the calendar's history) timed side by side;
4. the conflict check (refuse_overlaps on a free slot) on 1k versus 100k bookings.

Usage: .venv/bin/python bench/api_bench.py [--engine sqlite|postgresql|both] [--quick]

PostgreSQL runs on a throwaway server (tests/pgserver.py) that the script starts and stops.
Absolute times depend on the machine; compare the ratios.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import logging
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Hashable, Iterator, Mapping, Sequence, TypeVar
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"

TZID = "Europe/Copenhagen"
# The listed week: Monday 00:00 local, in the middle of the bulk-loaded history.
WEEK_START_LOCAL = dt.datetime(2026, 11, 23, 0, 0)
BOOKING_MINUTES = 45
BUFFER_AFTER_MINUTES = 5  # occupied 50 minutes of every hour: a free slot at hh:50-hh+1:00
LIST_LIMIT = 1000
NOISE = "Absolute times depend on this machine and its load: compare ratios, not absolute times."

Key = TypeVar("Key", bound=Hashable)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from support import Api, LiveServer


@dataclass(frozen=True)
class Sizes:
    small: int
    large: int
    sequential_creates: int
    creates_per_thread: int
    threads: int
    repeats: int
    warmup: int


FULL = Sizes(small=1_000, large=100_000, sequential_creates=500, creates_per_thread=125,
             threads=4, repeats=50, warmup=5)
QUICK = Sizes(small=1_000, large=10_000, sequential_creates=40, creates_per_thread=10,
              threads=4, repeats=10, warmup=2)


@dataclass(frozen=True)
class CreateRate:
    clients: int
    bookings: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.bookings / self.seconds


@dataclass(frozen=True)
class Timing:
    median_ms: float
    items: int


@dataclass(frozen=True)
class Fixture:
    """The business whose two calendars hold the bulk-loaded history."""

    business_id: int
    small_calendar: int
    large_calendar: int
    week_start: dt.datetime
    week_end: dt.datetime
    free_slot: tuple[dt.datetime, dt.datetime]


@dataclass(frozen=True)
class Captured:
    statement: str
    parameters: Any


@dataclass(frozen=True)
class Verdict:
    ok: bool
    line: str


# --------------------------------------------------------------------------------- helpers


def _import_harness() -> None:
    """Make the test helpers (tests/support.py, tests/pgserver.py) and the server importable."""
    for folder in (str(REPO), str(TESTS)):
        if folder not in sys.path:
            sys.path.insert(0, folder)


def label(count: int) -> str:
    return f"{count // 1000}k" if count >= 1000 and count % 1000 == 0 else str(count)


def median_ms(cases: Mapping[Key, Callable[[], int]], repeats: int,
              warmup: int) -> dict[Key, Timing]:
    """Median wall time in milliseconds of each case, run round-robin (one run of every case per
    round) so that drift in the machine's load hits all cases alike. A case returns the number
    of items it got, which must be the same in every run."""
    counts: dict[Key, set[int]] = {key: set() for key in cases}
    samples: dict[Key, list[float]] = {key: [] for key in cases}
    for round_no in range(warmup + repeats):
        for key, run in cases.items():
            began = time.perf_counter()
            counts[key].add(run())
            if round_no >= warmup:
                samples[key].append((time.perf_counter() - began) * 1000)
    for key, seen in counts.items():
        if len(seen) != 1:
            raise RuntimeError(f"{key} returned different item counts: {sorted(seen)}")
    return {key: Timing(statistics.median(samples[key]), counts[key].pop()) for key in cases}


def fmt_ms(value: float) -> str:
    return f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    lines = [indent + "  ".join(h.ljust(w) for h, w in zip(headers, widths)),
             indent + "  ".join("-" * w for w in widths)]
    lines += [indent + "  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


@contextmanager
def database_url(engine: str, folder: Path) -> Iterator[str]:
    """An empty database of the engine: a SQLite file in `folder`, or a database on a throwaway
    PostgreSQL server started here and stopped (and deleted) on exit."""
    if engine == "sqlite":
        yield f"sqlite:///{folder / 'bench.sqlite3'}"
        return
    from pgserver import ThrowawayPostgres

    server = ThrowawayPostgres()
    server.start()
    try:
        server.create_database("bench")
        yield server.url("bench")
    finally:
        server.stop()


@contextmanager
def capture_sql(engine: Engine, table_name: str) -> Iterator[list[Captured]]:
    """Statements (and their DBAPI parameters) that read `table_name`, as sent to the driver."""
    from sqlalchemy import event

    seen: list[Captured] = []

    def listener(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
                 _executemany: bool) -> None:
        if re.search(rf"\bFROM {table_name}\b", statement):
            seen.append(Captured(statement, parameters))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


# ---------------------------------------------------------------------------- 1. creating


def _create_business(api: Api, name: str) -> int:
    return int(api.ok("POST", "/businesses", 201, json={"name": name, "timezone": TZID})["id"])


def _create_calendar(api: Api, business: int, name: str) -> int:
    return int(api.ok("POST", f"/businesses/{business}/calendars", 201, json={"name": name})["id"])


def _create_service(api: Api, business: int) -> int:
    return int(api.ok("POST", f"/businesses/{business}/services", 201, json={
        "name": "Haircut", "duration_minutes": BOOKING_MINUTES,
        "buffer_after_minutes": BUFFER_AFTER_MINUTES})["id"])


def _post_bookings(api: Api, business: int, calendar: int, service: int, first: dt.datetime,
                   count: int) -> None:
    path = f"/businesses/{business}/bookings"
    for i in range(count):
        start = first + dt.timedelta(hours=i)
        response = api.post(path, json={"calendar_id": calendar, "service_id": service,
                                        "start": start.isoformat()})
        if response.status_code != 201:
            raise RuntimeError(f"POST {path} answered {response.status_code}: {response.text}")


def measure_creates(live: LiveServer, sizes: Sizes) -> list[CreateRate]:
    """Bookings created through POST /bookings at non-overlapping times: one client on one
    calendar, then `threads` clients at once, each on its own calendar."""
    from support import Api

    api = Api(live.url)
    business = _create_business(api, "Create benchmark")
    service = _create_service(api, business)
    first = live.clock.now().replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=1)

    warm = _create_calendar(api, business, "Warm-up")
    _post_bookings(api, business, warm, service, first, 10)

    calendar = _create_calendar(api, business, "Sequential")
    began = time.perf_counter()
    _post_bookings(api, business, calendar, service, first, sizes.sequential_creates)
    sequential = CreateRate(1, sizes.sequential_creates, time.perf_counter() - began)

    calendars = [_create_calendar(api, business, f"Parallel {n}") for n in range(sizes.threads)]
    barrier = threading.Barrier(sizes.threads + 1)
    errors: list[BaseException] = []

    def client(calendar_id: int) -> None:
        own = Api(live.url)
        barrier.wait()
        try:
            _post_bookings(own, business, calendar_id, service, first, sizes.creates_per_thread)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    workers = [threading.Thread(target=client, args=(c,)) for c in calendars]
    for worker in workers:
        worker.start()
    barrier.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"a parallel client failed: {errors[0]}") from errors[0]
    parallel = CreateRate(sizes.threads, sizes.threads * sizes.creates_per_thread, elapsed)
    return [sequential, parallel]


def print_creates(rates: list[CreateRate]) -> None:
    print("[1] Bookings created per second through HTTP (POST /api/v1/businesses/{id}/bookings)")
    print(table(["clients", "calendars", "bookings", "wall time", "rate"], [
        [str(r.clients), str(r.clients), str(r.bookings), f"{r.seconds:.2f} s",
         f"{r.per_second:.1f} bookings/s"] for r in rates]))


# ------------------------------------------------------------------------ 2. bulk loading


def bulk_load(engine: Engine, *, business_id: int, calendar_id: int, service_id: int,
              client_id: int, count: int, anchor: dt.datetime, now: dt.datetime) -> None:
    """`count` confirmed 45-minute bookings, one every hour, half before `anchor` (UTC) and half
    from it on, inserted directly; then the calendar's max_span_seconds and journal counter are
    set as the domain would have left them."""
    from sqlalchemy import insert, update

    from server.db.models import Booking, Calendar
    from server.domain.timeutil import to_local

    length = dt.timedelta(minutes=BOOKING_MINUTES)
    buffer = dt.timedelta(minutes=BUFFER_AFTER_MINUTES)
    rows: list[dict[str, Any]] = []
    longest = 0
    for i in range(count):
        start = anchor + dt.timedelta(hours=i - count // 2)
        end = start + length
        occupied_end = end + buffer
        longest = max(longest, int((occupied_end - start).total_seconds()))
        rows.append({
            "business_id": business_id, "calendar_id": calendar_id, "client_id": client_id,
            "service_id": service_id, "uid": str(uuid.uuid4()), "status": "confirmed",
            "source": "staff", "start_utc": start, "end_utc": end, "occupied_start_utc": start,
            "occupied_end_utc": occupied_end, "tzid": TZID, "start_local": to_local(start, TZID),
            "end_local": to_local(end, TZID), "location": None, "notes": None, "revision": 0,
            "seq": i + 1, "created_at": now, "updated_at": now})
    with engine.begin() as conn:
        for offset in range(0, len(rows), 5000):
            conn.execute(insert(Booking), rows[offset:offset + 5000])
        # As if the journal had been pruned up to the last change: nothing before it answerable.
        conn.execute(update(Calendar).where(Calendar.id == calendar_id).values(
            max_span_seconds=longest, journal_seq=count, journal_floor=count))


def load_fixture(live: LiveServer, sizes: Sizes) -> tuple[Fixture, float]:
    """A business with two calendars, of `sizes.small` and `sizes.large` bookings on the same
    hourly grid; returns it and the load time in seconds."""
    from sqlalchemy import text

    from support import Api

    api = Api(live.url)
    business = _create_business(api, "List benchmark")
    service = _create_service(api, business)
    client = int(api.ok("POST", f"/businesses/{business}/clients", 201,
                        json={"name": "Jens Hansen"})["id"])
    small = _create_calendar(api, business, f"History {label(sizes.small)}")
    large = _create_calendar(api, business, f"History {label(sizes.large)}")
    week_start = WEEK_START_LOCAL.replace(tzinfo=ZoneInfo(TZID))
    anchor = week_start.astimezone(dt.timezone.utc)
    engine = live.runtime.db.engine
    began = time.perf_counter()
    for calendar, count in ((small, sizes.small), (large, sizes.large)):
        bulk_load(engine, business_id=business, calendar_id=calendar, service_id=service,
                  client_id=client, count=count, anchor=anchor, now=live.clock.now())
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:  # what autovacuum does soon after a bulk load
            conn.execute(text("ANALYZE bookings"))
    loaded = time.perf_counter() - began
    middle = anchor + dt.timedelta(hours=84)
    free_slot = (middle + dt.timedelta(minutes=BOOKING_MINUTES + BUFFER_AFTER_MINUTES),
                 middle + dt.timedelta(hours=1))
    fixture = Fixture(business, small, large, week_start,
                      week_start + dt.timedelta(days=7), free_slot)
    return fixture, loaded


# ------------------------------------------------------------------------------ 2. listing


def list_week_domain(live: LiveServer, fixture: Fixture, calendar_id: int) -> int:
    """One listing as the HTTP handler does it: a fresh read session, list_bookings."""
    from server.domain.bookings import list_bookings

    with live.runtime.db.read() as session:
        page = list_bookings(session, fixture.business_id, start=fixture.week_start,
                             end=fixture.week_end, calendar_id=calendar_id, limit=LIST_LIMIT)
        return len(page.items)


def list_week_http(api: Api, fixture: Fixture, calendar_id: int) -> int:
    body = api.ok("GET", f"/businesses/{fixture.business_id}/bookings", params={
        "start": fixture.week_start.isoformat(), "end": fixture.week_end.isoformat(),
        "calendar_id": calendar_id, "limit": LIST_LIMIT})
    if body["next_cursor"] is not None:
        raise RuntimeError("the week does not fit one page; raise LIST_LIMIT")
    return len(body["items"])


def naive_week(live: LiveServer, fixture: Fixture, calendar_id: int) -> int:
    """The baseline: list_bookings' query without the lower bound on start_utc (only
    start_utc < end AND end_utc > start), so the index is bounded on one side only."""
    from sqlalchemy import select
    from sqlalchemy.orm import joinedload

    from server.db.models import Booking

    query = (select(Booking).options(joinedload(Booking.client), joinedload(Booking.service))
             .where(Booking.business_id == fixture.business_id,
                    Booking.start_utc < fixture.week_end, Booking.end_utc > fixture.week_start)
             .order_by(Booking.start_utc, Booking.id).limit(LIST_LIMIT + 1)
             .where(Booking.calendar_id == calendar_id))
    with live.runtime.db.read() as session:
        return len(list(session.execute(query).scalars().unique()))


def measure_listing(live: LiveServer, fixture: Fixture,
                    sizes: Sizes) -> dict[str, dict[str, Timing]]:
    """Median times of listing the week on both calendars, by path (domain, HTTP, and the naive
    baseline query), all interleaved."""
    from support import Api

    api = Api(live.url)
    calendars = {"small": fixture.small_calendar, "large": fixture.large_calendar}
    paths: dict[str, Callable[[int], int]] = {
        "domain": functools.partial(list_week_domain, live, fixture),
        "http": functools.partial(list_week_http, api, fixture),
        "naive": functools.partial(naive_week, live, fixture),
    }
    cases = {(name, size): functools.partial(run, cal)
             for name, run in paths.items() for size, cal in calendars.items()}
    timings = median_ms(cases, sizes.repeats, sizes.warmup)
    results: dict[str, dict[str, Timing]] = {name: {} for name in paths}
    for (name, size), timing in timings.items():
        results[name][size] = timing
    return results


def print_listing(results: dict[str, dict[str, Timing]], fixture: Fixture, sizes: Sizes) -> None:
    small, large = label(sizes.small), label(sizes.large)
    print(f"[2] Listing one week ({fixture.week_start:%a %Y-%m-%d %H:%M} {TZID} + 7 days, "
          f"limit {LIST_LIMIT}), median of {sizes.repeats} runs after {sizes.warmup} warm-up")
    names = {"domain": "domain list_bookings()", "http": "HTTP GET /bookings"}
    rows = []
    for key, name in names.items():
        s, g = results[key]["small"], results[key]["large"]
        rows.append([name, fmt_ms(s.median_ms), str(s.items), fmt_ms(g.median_ms), str(g.items),
                     f"{g.median_ms / s.median_ms:.2f}"])
    print(table(["path", f"{small} calendar", "items", f"{large} calendar", "items",
                 f"ratio {large}/{small}"], rows))
    counts = {t.items for r in results.values() for t in r.values()}
    if len(counts) != 1:
        print(f"  WARNING: the calendars returned different item counts {sorted(counts)}")
    print(f"  (ratio {large}/{small}: near 1 means an index range scan, whose cost does not grow "
          "with the calendar's history)")


# --------------------------------------------------------------------------------- 3. plan


def capture_listing(live: LiveServer, fixture: Fixture, calendar_id: int,
                    run: Callable[[LiveServer, Fixture, int], int]) -> Captured:
    """The bookings query `run` sends, exactly as the driver receives it."""
    with capture_sql(live.runtime.db.engine, "bookings") as seen:
        run(live, fixture, calendar_id)
    if len(seen) != 1:
        raise RuntimeError(f"expected one query on bookings, captured {len(seen)}")
    return seen[0]


def explain(engine: Engine, captured: Captured) -> list[str]:
    """EXPLAIN QUERY PLAN (SQLite) or EXPLAIN (ANALYZE, BUFFERS) (PostgreSQL) of the statement
    with its own parameters."""
    sqlite = engine.dialect.name == "sqlite"
    prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, BUFFERS) "
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + captured.statement, captured.parameters).all()
        conn.rollback()
    if not sqlite:
        return [row[0] for row in rows]
    depth: dict[int, int] = {0: -1}
    lines = []
    for node, parent, _unused, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + detail)
    return lines


def judge_plan(dialect: str, plan: list[str], column: str = "start_utc") -> Verdict:
    """OK when the bookings table is read through an index bounded on `column` on both sides."""
    text = "\n".join(plan)
    if dialect == "sqlite":
        if re.search(r"\bSCAN bookings\b", text):
            return Verdict(False, "WARNING: full scan of bookings (SCAN bookings)")
        match = re.search(r"SEARCH bookings USING (?:COVERING )?INDEX (\w+) \(([^)]*)\)", text)
        if match is None:
            return Verdict(False, "WARNING: bookings is not searched through an index")
        index, bounds = match.groups()
        two_sided = bool(re.search(rf"(?<![\w.]){column}>\?", bounds)
                         and re.search(rf"(?<![\w.]){column}<\?", bounds))
    else:
        if re.search(r"Seq Scan on bookings\b", text):
            return Verdict(False, "WARNING: sequential scan of bookings (Seq Scan on bookings)")
        match = re.search(r"(?:Index Scan|Index Only Scan) using (\w+) on bookings"
                          r"|Bitmap Index Scan on (\w+)", text)
        if match is None:
            return Verdict(False, "WARNING: bookings is not read through an index")
        index = match.group(1) or match.group(2)
        after = text[match.end():]
        cond = re.search(r"Index Cond: (.*)", after)
        bounds = cond.group(1) if cond else ""
        two_sided = bool(re.search(rf"(?<![\w.]){column} >=? ", bounds)
                         and re.search(rf"(?<![\w.]){column} <=? ", bounds))
    if not two_sided:
        return Verdict(False, f"WARNING: {index} is bounded on {column} on one side only "
                              f"({bounds}): the scan reads the calendar's history")
    line = f"OK: index range scan on {index} ({bounds})"
    if "calendar" not in index:
        line += (f"\n  WARNING: {index} is not per calendar: the range holds every calendar of "
                 "the business in that week, and calendar_id is only a filter on the rows read")
    return Verdict(True, line)


def print_plan(live: LiveServer, fixture: Fixture, sizes: Sizes,
               results: dict[str, dict[str, Timing]]) -> bool:
    engine = live.runtime.db.engine
    dialect = engine.dialect.name
    large, small = label(sizes.large), label(sizes.small)
    ours = capture_listing(live, fixture, fixture.large_calendar, list_week_domain)
    naive = capture_listing(live, fixture, fixture.large_calendar, naive_week)
    kind = "EXPLAIN QUERY PLAN" if dialect == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS)"
    print(f"[3] Query plan of list_bookings on the {large} calendar ({kind}, "
          "statement captured with before_cursor_execute)")
    where = re.search(r"WHERE (.*?) ORDER BY", " ".join(ours.statement.split()))
    print(f"  WHERE {where.group(1) if where else '?'}")
    print(f"  parameters: {ours.parameters}")
    plan = explain(engine, ours)
    for line in plan:
        print(f"    {line}")
    verdict = judge_plan(dialect, plan)
    print(f"  {verdict.line}")

    print(f"  Baseline named in the issue: the same query without the lower bound "
          f"(start_utc < end AND end_utc > start only), on the {large} calendar:")
    naive_plan = explain(engine, naive)
    for line in naive_plan:
        print(f"    {line}")
    print(f"  baseline verdict: {judge_plan(dialect, naive_plan).line}")
    n_small, n_large = results["naive"]["small"], results["naive"]["large"]
    d_large = results["domain"]["large"]
    print(table(["query (ORM, fresh session)", f"{small} calendar", f"{large} calendar",
                 f"ratio {large}/{small}", "items"], [
        ["ours: list_bookings()", fmt_ms(results["domain"]["small"].median_ms),
         fmt_ms(d_large.median_ms),
         f"{d_large.median_ms / results['domain']['small'].median_ms:.2f}", str(d_large.items)],
        ["baseline: no lower bound", fmt_ms(n_small.median_ms), fmt_ms(n_large.median_ms),
         f"{n_large.median_ms / n_small.median_ms:.2f}", str(n_large.items)]]))
    print(f"  ratio baseline/ours on the {large} calendar: "
          f"{n_large.median_ms / d_large.median_ms:.1f}x")
    return verdict.ok


# ----------------------------------------------------------------------------- 4. conflicts


def conflict_check(live: LiveServer, fixture: Fixture, calendar_id: int) -> int:
    """refuse_overlaps for the free slot; returns 0 (no hit) or raises."""
    from server.domain.calendars import get_calendar
    from server.domain.conflicts import refuse_overlaps

    with live.runtime.db.read() as session:
        calendar = get_calendar(session, fixture.business_id, calendar_id)
        refuse_overlaps(session, calendar, *fixture.free_slot)
    return 0


def measure_conflicts(live: LiveServer, fixture: Fixture, sizes: Sizes) -> dict[str, Timing]:
    return median_ms({size: functools.partial(conflict_check, live, fixture, cal)
                      for size, cal in (("small", fixture.small_calendar),
                                        ("large", fixture.large_calendar))},
                     sizes.repeats, sizes.warmup)


def print_conflicts(live: LiveServer, timings: dict[str, Timing], fixture: Fixture,
                    sizes: Sizes) -> None:
    small, large = label(sizes.small), label(sizes.large)
    start, end = fixture.free_slot
    print(f"[4] Conflict check: refuse_overlaps on a free slot in the middle "
          f"({start:%Y-%m-%d %H:%M}-{end:%H:%M} UTC; fresh session + calendar fetch per run)")
    s, g = timings["small"], timings["large"]
    print(table([f"{small} calendar", f"{large} calendar", f"ratio {large}/{small}"],
                [[fmt_ms(s.median_ms), fmt_ms(g.median_ms), f"{g.median_ms / s.median_ms:.2f}"]]))
    engine = live.runtime.db.engine
    with capture_sql(engine, "bookings") as seen:
        conflict_check(live, fixture, fixture.large_calendar)
    for captured in seen:
        plan = explain(engine, captured)
        scans = [line.strip() for line in plan if "bookings" in line and "Scan" in line
                 or line.lstrip().startswith(("SEARCH bookings", "SCAN bookings"))]
        print(f"  plan on the {large} calendar: {'; '.join(scans) or plan[0].strip()}")
        print(f"  {judge_plan(engine.dialect.name, plan, 'occupied_start_utc').line}")


# ---------------------------------------------------------------------------------- driver


def server_version(engine: Engine) -> str:
    from sqlalchemy import text

    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return "SQLite " + str(conn.execute(text("select sqlite_version()")).scalar_one())
        return "PostgreSQL " + str(conn.execute(text("show server_version")).scalar_one())


def run_engine(engine_name: str, sizes: Sizes) -> bool:
    """Every measurement on one engine; True when the listing plan is an index range scan."""
    from support import make_runtime, start_server

    with tempfile.TemporaryDirectory(prefix="bookingcal-bench-") as tmp, \
            database_url(engine_name, Path(tmp)) as url:
        live = start_server(make_runtime(Path(tmp), url))
        try:
            engine = live.runtime.db.engine
            print(f"=== {engine_name}: {server_version(engine)} ===")
            print(NOISE)
            print()
            print_creates(measure_creates(live, sizes))
            print()
            fixture, loaded = load_fixture(live, sizes)
            print(f"(bulk-loaded {label(sizes.small)} + {label(sizes.large)} bookings, "
                  f"{BOOKING_MINUTES} min every hour + {BUFFER_AFTER_MINUTES} min buffer, "
                  f"centred on the listed week, in {loaded:.1f} s"
                  + (", then ANALYZE" if engine.dialect.name == "postgresql" else "") + ")")
            results = measure_listing(live, fixture, sizes)
            print_listing(results, fixture, sizes)
            print()
            ok = print_plan(live, fixture, sizes, results)
            print()
            print_conflicts(live, measure_conflicts(live, fixture, sizes), fixture, sizes)
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
                        help=f"small sizes ({label(QUICK.small)} and {label(QUICK.large)} "
                             "bookings, few repeats): a smoke test of a few seconds")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    _import_harness()
    # waitress warns "Task queue depth is N" when the parallel clients queue up: expected here.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    sizes = QUICK if args.quick else FULL
    engines = ("sqlite", "postgresql") if args.engine == "both" else (args.engine,)
    began = time.perf_counter()
    failures = []
    for engine_name in engines:
        if not run_engine(engine_name, sizes):
            failures.append(engine_name)
        sys.stdout.flush()
    print(f"total benchmark time {time.perf_counter() - began:.1f} s")
    if failures:
        print(f"WARNING: the listing query is not an index range scan on {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Fleet benchmark: many businesses on one PostgreSQL, worked by 1, 2 and 4 `bookingcal bridge`
processes against the fake Google and the fake Microsoft Graph (tests/fakes/; each serves every
account of its provider, both in the bench's own process).

Every business has 3 employee calendars, each written to and read from its own calendar of the
business's account: every other business is connected to Google, the rest to Microsoft 365
(--google-only: all to Google). The bridges are real `bookingcal bridge` processes on the real
clock, optionally through a throwaway PgBouncer in transaction pooling mode (--pgbouncer), their
LISTEN on the direct connection.

For each process count (1, 2, 4) the bench prints, side by side with the 1-process run measured
in the same invocation (the baseline):

[1] a full idle round: from the processes' first request to every read calendar having been
    listed once (time, and the ratio of the 1-process time to this one: the throughput gain);
[2] requests in that round per read calendar (list requests: Google's events.list, Graph's
    calendarView/delta; the promise is 1.00) and the token requests around them (one per
    connection and process: a fresh process's access tokens), then the requests in the
    --quiet seconds after the round, when no poll is due and nothing changes (the promise: 0);
[3] booking -> provider latency p50/p95 while bookings are written across random businesses at
    --rate per second for --seconds;
[4] database load during the round and the write load: transactions and rows read per second
    (pg_stat_database);
[5] (2 and 4 processes) lease hand-over: one process is killed (SIGKILL) while bookings keep
    coming; the longest a booking then waits for its copy, against the lease time (120 s);
[6] fair sharing (once, with the most processes): one extra business imports --backlog events
    (a first import) while the others book; their p95 latency then against [3]'s, and how long
    a booking of the importing business itself, made a second in, waits for its copy (the
    import is read a turn at a time: server/sync/reading.py TURN_ITEMS).

Usage: .venv/bin/python bench/fleet_bench.py [--businesses 500] [--processes 1,2,4]
                                             [--rate 50] [--seconds 10] [--backlog 20000]
                                             [--quiet 5] [--google-only] [--pgbouncer]
                                             [--quick]

Figures depend on the machine (the fakes, the bench's writer and the bridges share its cores);
compare the ratios. Exit status 1 when a booking never reached its fake, [2] is not 1.00 in a
run of one process, or a request was made in a quiet window.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
for _folder in (str(REPO), str(TESTS), str(Path(__file__).resolve().parent)):
    if _folder not in sys.path:
        sys.path.insert(0, _folder)

TZ = "Europe/Copenhagen"
CALENDARS = 3
LEASE_SECONDS = 120.0  # server/sync/leases.LEASE
LIST = "calendar.events.list"
DELTA = "GET /v1.0/me/calendars/*/calendarView/delta"  # Graph's listing of a calendar
GRAPH_TOKEN = "POST /common/oauth2/v2.0/token"
MS_CALENDAR = "AAMkCalendar"  # the fake mailbox's default calendar


@dataclass
class Business:
    id: int
    calendars: list[int]
    service: int
    # The remote calendar each employee calendar reads and writes: a Google calendar id, or
    # "user/calendar id" of a Microsoft mailbox.
    remote: list[str]
    provider: str = "google"


@dataclass
class Fakes:
    """The provider fakes, measured together."""

    google: Any
    microsoft: Any = None

    def clear_log(self) -> None:
        self.google.clear_log()
        if self.microsoft is not None:
            self.microsoft.clear_log()

    def listed(self) -> dict[str, float]:
        """Each calendar's first list request, by when it was answered."""
        first: dict[str, float] = {}
        for request in self.google.requests(LIST):
            calendar = request.path.split("/calendars/", 1)[1].split("/", 1)[0]
            first.setdefault(calendar, request.at)
        if self.microsoft is not None:
            for entry in self.microsoft.requests(DELTA):
                calendar = entry.path.split("/calendars/", 1)[1].split("/", 1)[0]
                first.setdefault(f"{entry.user}/{calendar}", entry.at)
        return first

    def arrivals(self) -> dict[str, float]:
        """When each of our copies reached its provider: its tag ("booking:7") -> answered."""
        found: dict[str, float] = {}
        for request in self.google.requests("calendar.events.insert"):
            body = request.body if isinstance(request.body, dict) else {}
            mark = body.get("extendedProperties", {}).get("private", {}).get("bookingcal")
            if mark and request.status == 200:
                found.setdefault(mark, request.at)
        if self.microsoft is not None:
            for entry in self.microsoft.requests("POST /v1.0/me/calendars/*/events"):
                if entry.status != 201:
                    continue
                parts = str(json.loads(entry.body).get("transactionId", "")).split("-")
                if len(parts) == 4 and parts[0] == "bookingcal":  # bookingcal-<kind>-<id>-<key>
                    found.setdefault(f"{parts[1]}:{parts[2]}", entry.at)
        return found

    def counts(self) -> tuple[int, int, int, float | None]:
        """List requests, token requests, the others, and when the first was answered."""
        counts: Counter[str] = self.google.endpoint_counts()
        lists, tokens = counts[LIST], counts["oauth.token"]
        others = sum(counts.values()) - lists - tokens
        times = [request.at for request in self.google.requests()]
        if self.microsoft is not None:
            log = self.microsoft.requests()
            delta = len(self.microsoft.requests(DELTA))
            token = len(self.microsoft.requests(GRAPH_TOKEN))
            lists, tokens, others = lists + delta, tokens + token, \
                others + len(log) - delta - token
            times += [entry.at for entry in log]
        return lists, tokens, others, min(times, default=None)

    def internal_errors(self) -> list[str]:
        return list(self.google.internal_errors) + (
            list(self.microsoft.internal_errors) if self.microsoft is not None else [])


@dataclass
class Fleet:
    folder: Path
    config: Path
    environ: dict[str, str]
    runtime: Any
    fakes: Fakes
    businesses: list[Business]
    direct_conninfo: str
    processes: list[Any] = field(default_factory=list)
    booked: int = 0
    quiet: float = 5.0  # seconds after a round in which no request is expected

    @property
    def fake(self) -> Any:
        """The fake Google ([6] imports a Google calendar)."""
        return self.fakes.google

    @property
    def read_calendars(self) -> set[str]:
        return {remote for business in self.businesses for remote in business.remote}


# ------------------------------------------------------------------------------ the world


def seed(runtime: Any, fakes: Fakes, count: int, now: dt.datetime, first: int = 0,
         google_only: bool = False) -> list[Business]:
    """`count` businesses, each with 3 calendars mapped to 3 calendars of its own account, a
    service, and its connection (tokens straight from the fake): every other one (the odd
    numbers) to Microsoft when the fake Microsoft runs and not `google_only`, the rest to
    Google."""
    from server.domain import businesses, calendars, services
    from server.google import oauth, settings
    from server.microsoft import connections

    made: list[Business] = []
    for start in range(first, first + count, 100):
        with runtime.db.write() as session:
            for n in range(start, min(first + count, start + 100)):
                business = businesses.create_business(session, name=f"Salon {n}", timezone=TZ,
                                                      now=now).id
                ids = [calendars.create_calendar(session, business, name=f"Employee {k}",
                                                 now=now).id for k in range(CALENDARS)]
                service = services.create_service(session, business, name="Haircut",
                                                  duration_minutes=30, now=now).id
                graph = fakes.microsoft
                if graph is not None and not google_only and n % 2:
                    user = f"owner{n}@contoso.example"
                    graph.add_user(user)
                    mailbox = [MS_CALENDAR] + [graph.add_calendar(user, f"AAMkStaff{k}",
                                                                  f"Staff {k}")
                                               for k in range(1, CALENDARS)]
                    connections.connect(session, runtime.keyring, business,
                                        graph.identity.issue_refresh_token(user), now,
                                        account_email=user)
                    connections.update_settings(session, business, now=now, calendars=[
                        connections.CalendarChoice(calendar, cal)
                        for calendar, cal in zip(ids, mailbox)])
                    made.append(Business(business, ids, service,
                                         [f"{user}/{cal}" for cal in mailbox], "microsoft"))
                    continue
                google = fakes.google
                user = google.add_user(f"owner{n}@example.com")
                remote = [user] + [google.add_calendar(f"Staff {k}", owner=user)
                                   for k in range(1, CALENDARS)]
                oauth.connect(session, runtime.keyring, business,
                              google.issue_tokens(user=user), now)
                settings.update_settings(session, business, now=now, calendars=[
                    settings.CalendarChoice(calendar, cal) for calendar, cal in zip(ids, remote)])
                made.append(Business(business, ids, service, remote))
    return made


def book(fleet: Fleet, business: Business, rng: random.Random) -> int:
    """A booking on a random calendar of `business`, on a day and hour no other booking of the
    bench takes (the count goes forward), dated from the real now (the bridges' clock)."""
    from zoneinfo import ZoneInfo

    from server.domain import bookings

    n = fleet.booked
    fleet.booked += 1
    today = dt.datetime.now(ZoneInfo(TZ)).date()
    day = today + dt.timedelta(days=2 + n // 10)
    start = dt.datetime.combine(day, dt.time(8 + n % 10))
    with fleet.runtime.db.write() as session:
        return bookings.create_booking(
            session, business.id, calendar_id=rng.choice(business.calendars),
            service_id=business.service, start=start,
            now=dt.datetime.now(dt.timezone.utc)).id


# ------------------------------------------------------------------------ the processes


def start_bridges(fleet: Fleet, count: int) -> list[Any]:
    from processes import BOOKINGCAL, Running

    started = [Running([str(BOOKINGCAL), "--config", str(fleet.config), "bridge"],
                       cwd=fleet.folder, env=fleet.environ) for _ in range(count)]
    fleet.processes.extend(started)
    return started


def stop_bridges(fleet: Fleet) -> None:
    for running in fleet.processes:
        running.stop()
        if "Traceback" in running.output.text:
            print(running.output.text[-3000:], file=sys.stderr)
            raise SystemExit("a bridge process failed (traceback above)")
    fleet.processes.clear()


def wait_for(condition: Any, timeout: float, what: str, fleet: Fleet | None = None,
             poll: float = 0.05) -> None:
    """`poll`: seconds between checks (a check reading the fake's whole log, which shares this
    process with the fake's server threads, is worth doing less often on long waits)."""
    deadline = time.monotonic() + timeout
    ended = False
    while time.monotonic() < deadline:
        if condition():
            return
        running_now = fleet.processes if fleet is not None else []
        if running_now and all(r.process.poll() is not None for r in running_now):
            ended = True  # nothing left to wait for: say why at once
            break
        time.sleep(poll)
    for running in fleet.processes if fleet is not None else []:
        print(f"--- output of {running.command} (exit {running.process.poll()}):\n"
              f"{running.output.text[-4000:]}", file=sys.stderr)
    if ended:
        raise SystemExit(f"every bridge process ended while waiting for {what}")
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def make_all_due(fleet: Fleet) -> None:
    """Every connection due for a read at once: as if no process had read any within the poll
    interval (the processes share when each connection was last read: its last_sync_at)."""
    from sqlalchemy import update

    from server.db.models import GoogleConnection, MicrosoftConnection

    with fleet.runtime.db.write() as session:
        for table in (GoogleConnection, MicrosoftConnection):
            session.execute(update(table).values(last_sync_at=None))


class DatabaseLoad:
    """Transactions and rows read (pg_stat_database) between `start` and `stop`."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo

    def _sample(self) -> tuple[float, int, int]:
        import psycopg

        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute("SELECT xact_commit + xact_rollback, tup_returned + tup_fetched "
                               "FROM pg_stat_database WHERE datname = current_database()"
                               ).fetchone()
        assert row is not None
        return time.monotonic(), int(row[0]), int(row[1])

    def __enter__(self) -> DatabaseLoad:
        self.began = self._sample()
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.6)  # the statistics collector reports at most every 500 ms
        ended = self._sample()
        seconds = max(ended[0] - self.began[0], 1e-6)
        self.xacts_per_second = (ended[1] - self.began[1]) / seconds
        self.rows_per_second = (ended[2] - self.began[2]) / seconds


# ---------------------------------------------------------------------------- measures


@dataclass
class Run:
    processes: int
    round_seconds: float = 0.0
    list_per_calendar: float = 0.0
    token_requests: int = 0
    other_requests: int = 0
    quiet_requests: int = 0  # in the quiet seconds after the round
    round_xacts: float = 0.0
    round_rows: float = 0.0
    p50: float = 0.0
    p95: float = 0.0
    write_xacts: float = 0.0
    write_rows: float = 0.0
    handover_max: float | None = None
    lost: int = 0


def idle_round(fleet: Fleet, run: Run) -> None:
    """[1], [2], [4]: fresh processes, every calendar due at once (their first pass); then
    the quiet seconds after the round."""
    fleet.fakes.clear_log()
    make_all_due(fleet)
    wanted = fleet.read_calendars
    with DatabaseLoad(fleet.direct_conninfo) as load:
        start_bridges(fleet, run.processes)
        # The round's time comes from the fakes' logs, not from this wait: a check (which
        # scans both logs in the fakes' own process) every half second is enough.
        wait_for(lambda: wanted <= set(fleet.fakes.listed()), 60 + len(wanted) / 5,
                 "every calendar to be listed once", fleet, poll=0.5)
    lists, tokens, others, first = fleet.fakes.counts()
    assert first is not None
    run.round_seconds = max(fleet.fakes.listed().values()) - first
    run.list_per_calendar = lists / len(wanted)
    run.token_requests, run.other_requests = tokens, others
    run.round_xacts, run.round_rows = load.xacts_per_second, load.rows_per_second
    time.sleep(1.0)  # the round's last answers are stored
    fleet.fakes.clear_log()
    time.sleep(fleet.quiet)
    lists, tokens, others, _ = fleet.fakes.counts()
    run.quiet_requests = lists + tokens + others


def write_load(fleet: Fleet, rate: float, seconds: float, rng: random.Random,
               among: Sequence[Business], during: Any = None) -> tuple[list[float], int]:
    """Bookings at `rate` per second across random businesses of `among` for `seconds`
    (`during()` is called once, a second in); the delay until each copy reached the fake, and
    how many never did within the lease time."""
    made: dict[str, float] = {}
    began = time.monotonic()
    called = during is None
    n = 0
    while time.monotonic() - began < seconds:
        due = began + n / rate
        if due > time.monotonic():
            time.sleep(due - time.monotonic())
        made[f"booking:{book(fleet, rng.choice(among), rng)}"] = time.monotonic()
        n += 1
        if not called and time.monotonic() - began >= 1.0:
            during()
            called = True
    deadline = time.monotonic() + LEASE_SECONDS
    while time.monotonic() < deadline:
        if set(made) <= set(fleet.fakes.arrivals()):
            break
        time.sleep(0.2)
    seen = fleet.fakes.arrivals()
    delays = [seen[mark] - at for mark, at in made.items() if mark in seen]
    return delays, len(made) - len(delays)


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def measure(fleet: Fleet, processes: int, args: argparse.Namespace, rng: random.Random) -> Run:
    run = Run(processes)
    idle_round(fleet, run)
    with DatabaseLoad(fleet.direct_conninfo) as load:
        delays, lost = write_load(fleet, args.rate, args.seconds, rng, fleet.businesses)
    run.write_xacts, run.write_rows = load.xacts_per_second, load.rows_per_second
    run.p50, run.p95, run.lost = percentile(delays, 0.5), percentile(delays, 0.95), lost
    if processes > 1:
        victim = fleet.processes[0]

        def kill() -> None:
            os.kill(victim.process.pid, signal.SIGKILL)

        delays, lost = write_load(fleet, args.rate, max(args.seconds, 4.0), rng,
                                  fleet.businesses, during=kill)
        run.handover_max, run.lost = (max(delays) if delays else math.nan), run.lost + lost
    stop_bridges(fleet)
    return run


@dataclass
class FairShare:
    """[6]'s figures."""

    p50: float  # the other businesses' booking -> Google latency while one imports
    p95: float
    lost: int
    import_seconds: float  # from the read asked to the import's end (its cursor saved)
    own_delay: float  # the importing business's own booking, made a second in
    pages: int  # list requests of the importing calendar until then


def fair_share(fleet: Fleet, processes: int, args: argparse.Namespace, rng: random.Random
               ) -> FairShare:
    """[6]: a business whose Google calendar holds --backlog events connects (a first import)
    while the others book, and books once itself a second in."""
    now = dt.datetime.now(dt.timezone.utc)
    [big] = seed(fleet.runtime, fleet.fakes, 1, now, first=len(fleet.businesses),
                 google_only=True)
    fleet.fakes.clear_log()
    make_all_due(fleet)
    start_bridges(fleet, processes)
    wait_for(lambda: fleet.read_calendars | set(big.remote) <= set(fleet.fakes.listed()),
             600, "the first round", fleet)
    # Then its Google calendar fills (events around now, one every 20 minutes; the bookings lie
    # ahead) and its read starts over from nothing, as a first import does.
    for n in range(args.backlog):
        start = now - dt.timedelta(days=20) + dt.timedelta(minutes=20 * n)
        fleet.fake.user_insert_event(big.remote[0], {
            "summary": f"Imported {n}", "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + dt.timedelta(minutes=15)).isoformat()}})
    fleet.fakes.clear_log()
    from sqlalchemy import select, update

    from server.db.models import GoogleReadState

    with fleet.runtime.db.write() as session:
        session.execute(update(GoogleReadState).where(
            GoogleReadState.google_calendar == big.remote[0]).values(
            pull_requested=True, sync_token=None))
    began = time.monotonic()
    own: dict[str, float] = {}

    def book_own() -> None:  # a second into the import, the importing business books too
        own[f"booking:{book(fleet, big, rng)}"] = time.monotonic()

    def imported() -> bool:  # its cursor is saved with the last page's events
        with fleet.runtime.db.read() as session:
            return session.execute(select(GoogleReadState.sync_token).where(
                GoogleReadState.google_calendar == big.remote[0])).scalar() is not None

    ended: list[float] = []

    def watch() -> None:  # when the import ended: its events stored, its cursor saved
        while not imported():
            time.sleep(0.2)
        ended.append(time.monotonic())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    delays, lost = write_load(fleet, args.rate, args.seconds, rng, fleet.businesses,
                              during=book_own)
    watcher.join(600)
    if not ended:
        raise SystemExit("the import did not end within 10 minutes")
    pages = [r for r in fleet.fake.requests(LIST) if f"/calendars/{big.remote[0]}/" in r.path
             and r.at <= ended[0]]
    import_seconds = ended[0] - began
    wait_for(lambda: set(own) <= set(fleet.fakes.arrivals()), LEASE_SECONDS,
             "the importing business's own booking to reach the fake", fleet)
    [(mark, at)] = own.items()
    own_delay = fleet.fakes.arrivals()[mark] - at
    stop_bridges(fleet)
    fleet.businesses.append(big)
    return FairShare(percentile(delays, 0.5), percentile(delays, 0.95), lost, import_seconds,
                     own_delay, len(pages))


# ------------------------------------------------------------------------------- running


@dataclass
class Setup:
    url: str
    direct_url: str
    direct_conninfo: str


@contextmanager
def databases(pgbouncer: bool) -> Iterator[Setup]:
    from pgbouncer import ThrowawayPgBouncer
    from pgserver import ThrowawayPostgres

    with ThrowawayPostgres() as server:
        server.create_database("fleet")
        direct = server.url("fleet")
        if not pgbouncer:
            yield Setup(direct, "", server.conninfo("fleet"))
            return
        with ThrowawayPgBouncer(server, pool_size=10) as bouncer:
            yield Setup(bouncer.url("fleet"), direct, server.conninfo("fleet"))


def run_all(args: argparse.Namespace) -> tuple[list[Run], FairShare | None, float, float]:
    from fakes import FakeGoogle
    from fakes.microsoft_fake import FakeMicrosoft
    from processes import clean_environ
    from server.config import load
    from server.db.migrate import upgrade
    from server.runtime import build_runtime
    from support import HOST_KEY, google_toml, microsoft_toml

    rng = random.Random(20)
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as name, FakeGoogle() as fake, \
            FakeMicrosoft() as graph:
        folder = Path(name)
        fakes = Fakes(fake, graph)
        with databases(args.pgbouncer) as setup:
            secret = folder / "google-secret"
            secret.write_text(fake.client_secret, encoding="utf-8")
            graph_secret = folder / "microsoft-secret"
            graph_secret.write_text(graph.client_secret, encoding="utf-8")
            config = folder / "bookingcal.toml"
            config.write_text(
                'data_dir = "data"\n[database]\npool_size = 4\n'
                + google_toml(fake, secret)
                # No push (no public https address); a poll every 10 minutes: after a round the
                # bridges only write, woken by the journal (LISTEN/NOTIFY).
                + "push_notifications = false\npoll_seconds = 600\n"
                + microsoft_toml(graph, graph_secret)
                + "notifications = false\npoll_seconds = 600\n", encoding="utf-8")
            environ = clean_environ(BOOKINGCAL_HOST_KEY=HOST_KEY,
                                    BOOKINGCAL_DATABASE_URL=setup.url)
            if setup.direct_url:
                environ["BOOKINGCAL_DATABASE_DIRECT_URL"] = setup.direct_url
            env_for_load = {k: v for k, v in environ.items() if k.startswith("BOOKINGCAL_")}
            runtime = build_runtime(load(config, environ=env_for_load))
            upgrade(runtime.db.engine)
            fleet: Fleet | None = None
            try:
                began = time.monotonic()
                made = seed(runtime, fakes, args.businesses, dt.datetime.now(dt.timezone.utc),
                            google_only=args.google_only)
                seeded = time.monotonic() - began
                fleet = Fleet(folder, config, environ, runtime, fakes, made,
                              setup.direct_conninfo, quiet=args.quiet)
                # A first round (first reads, nothing to send yet) so that the runs measure idle
                # rounds, not first imports.
                start_bridges(fleet, 1)
                began = time.monotonic()
                wanted = fleet.read_calendars
                wait_for(lambda: wanted <= set(fakes.listed()),
                         120 + len(made), "the warm-up round", fleet, poll=0.5)
                warmed = time.monotonic() - began
                stop_bridges(fleet)
                runs = [measure(fleet, count, args, rng) for count in args.processes]
                fair = fair_share(fleet, max(args.processes), args, rng) \
                    if args.backlog else None
                assert fakes.internal_errors() == [], fakes.internal_errors()[:1]
                return runs, fair, seeded, warmed
            finally:
                if fleet is not None:
                    stop_bridges(fleet)
                runtime.db.dispose()
    raise AssertionError("unreachable")


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    line = "  ".join(f"{{:>{w}}}" for w in widths)
    return "\n".join(line.format(*row) for row in [header, *rows])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--businesses", type=int, default=500)
    parser.add_argument("--processes", default="1,2,4",
                        type=lambda text: [int(n) for n in text.split(",")])
    parser.add_argument("--rate", type=float, default=50.0, help="bookings per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="of write load per run")
    parser.add_argument("--backlog", type=int, default=20_000,
                        help="events of the importing business in [6] (0: skip [6])")
    parser.add_argument("--quiet", type=float, default=5.0,
                        help="seconds after each idle round in which no request is expected")
    parser.add_argument("--google-only", action="store_true",
                        help="every business on Google (else every other one on Microsoft)")
    parser.add_argument("--pgbouncer", action="store_true",
                        help="the bridges through PgBouncer (transaction pooling)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes for a smoke test (20 businesses, 1,2 processes)")
    args = parser.parse_args(argv)
    if args.quick:
        args.businesses, args.processes, args.rate, args.seconds, args.backlog, args.quiet = \
            20, [1, 2], 5.0, 2.0, 300, 2.0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    runs, fair, seeded, warmed = run_all(args)
    through = "through PgBouncer (transaction pooling)" if args.pgbouncer else "direct"
    providers = "Google" if args.google_only else "Google (half) and Microsoft Graph (half)"
    print(f"=== Fleet benchmark: {args.businesses} businesses x {CALENDARS} calendars, the fake "
          f"{providers}, PostgreSQL {through}; {os.cpu_count()} cores; seeding took "
          f"{seeded:.1f} s, "
          f"the warm-up round (first reads of {args.businesses * CALENDARS} calendars by 1 "
          f"process) {warmed:.1f} s")
    base = runs[0]
    rows = []
    for run in runs:
        rows.append([
            str(run.processes), f"{run.round_seconds:.2f}",
            f"{base.round_seconds / run.round_seconds:.2f}" if run.round_seconds else "-",
            f"{run.list_per_calendar:.2f}", str(run.token_requests), str(run.other_requests),
            str(run.quiet_requests), f"{run.round_xacts:.0f}", f"{run.round_rows:.0f}",
            f"{run.p50:.3f}", f"{run.p95:.3f}", f"{run.write_xacts:.0f}",
            f"{run.write_rows:.0f}",
            "-" if run.handover_max is None else f"{run.handover_max:.2f}", str(run.lost)])
    print(table(["procs", "[1] round s", "x vs 1", "[2] list/cal", "tokens", "other", "quiet",
                 "[4] round tx/s", "rows/s", "[3] p50 s", "p95 s", "[4] write tx/s", "rows/s",
                 "[5] handover max s", "lost"], rows))
    print(f"(baseline: the 1-process run above; [3] at {args.rate:g} bookings/s for "
          f"{args.seconds:g} s; [2] quiet: requests in the {args.quiet:g} s after the round; [5] "
          f"against the lease time {LEASE_SECONDS:.0f} s)")
    failed = [f"{run.processes} processes: {run.lost} bookings never reached the fake"
              for run in runs if run.lost]
    if runs[0].processes == 1 and abs(runs[0].list_per_calendar - 1) > 0.01:
        failed.append(f"[2] {runs[0].list_per_calendar:.2f} list requests per calendar")
    failed += [f"[2] {run.quiet_requests} requests after the round ({run.processes} processes)"
               for run in runs if run.quiet_requests]
    if fair is not None:
        print(f"[6] fair sharing, {max(args.processes)} processes: while one business imports "
              f"{args.backlog} events (import {fair.import_seconds:.1f} s, {fair.pages} list "
              f"requests), the others' p50 {fair.p50:.3f} s, p95 {fair.p95:.3f} s (vs [3]'s "
              f"p95 {runs[-1].p95:.3f} s: ratio "
              f"{fair.p95 / runs[-1].p95 if runs[-1].p95 else math.nan:.1f}); lost "
              f"{fair.lost}; its own booking, made a second in, reached Google after "
              f"{fair.own_delay:.1f} s")
        if fair.lost:
            failed.append(f"[6] {fair.lost} bookings never reached the fake")
    print("Verdict: " + ("OK" if not failed else "MISSED: " + "; ".join(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

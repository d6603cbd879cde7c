"""Concurrent writers on one calendar, on SQLite and on PostgreSQL.

Several OS processes (spawned, so each has its own interpreter, engine and connections) are
released together by a barrier and try to book overlapping times on the same calendar. The
per-calendar lock (BEGIN IMMEDIATE on SQLite, a row lock on PostgreSQL) must let exactly one of
them win; every other attempt must end in a conflict naming the winner, never in a busy error,
a double booking or a journal entry left behind by a failed attempt.

The worker functions are module-level so that the "spawn" start method can import them; they
take plain strings and ints only.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import queue
import sqlite3
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import requests
from sqlalchemy import func, select, text

from server.db import Database
from server.db.models import Booking, Calendar, JournalEntry
from server.domain.bookings import create_booking
from server.domain.businesses import create_business
from server.domain.calendars import create_calendar
from server.domain.services import create_service
from server.errors import BusyError, ConflictError
from tests.support import (
    HOST_KEY, NOW, WITH_PGBOUNCER, Api, LiveServer, assert_error, make_runtime, make_salon,
    start_server,
)

TOTAL_ATTEMPTS = 50
WORKERS = 4
TZ = "Europe/Copenhagen"
DAY = dt.date(2026, 11, 26)  # a Thursday, two days after NOW
SERVICE_MINUTES = 45
# Nine start times 5 minutes apart from 10:00 to 10:40: any two of them lie less than 45
# minutes apart, so any two bookings overlap and exactly one attempt can succeed.
OFFSETS = [dt.timedelta(minutes=5 * i) for i in range(9)]
GENEROUS = "[database]\nbusy_timeout_seconds = 30\nlock_timeout_seconds = 30\n"
START_TIMEOUT = 120.0  # seconds for every worker to start and reach the barrier
RUN_TIMEOUT = 180.0  # seconds for all workers to report, from the start


def attempt_starts() -> list[str]:
    """TOTAL_ATTEMPTS start times (ISO, local with offset), cycling through OFFSETS."""
    first = dt.datetime.combine(DAY, dt.time(10, 0), tzinfo=dt.timezone(dt.timedelta(hours=1)))
    return [(first + OFFSETS[i % len(OFFSETS)]).isoformat() for i in range(TOTAL_ATTEMPTS)]


def split(items: list[str], parts: int) -> list[list[str]]:
    """Deal `items` round-robin into `parts` lists (13, 13, 12, 12 for 50 into 4)."""
    return [items[i::parts] for i in range(parts)]


# ------------------------------------------------------------------------------------ workers


def domain_worker(index: int, url: str, business_id: int, calendar_id: int, service_id: int,
                  starts: list[str], barrier: Any, results: Any) -> None:
    """Try create_booking once per start, each in its own Database.write() transaction.
    Reports (index, [(outcome, start, detail), ...]) or (index, "crashed: ...")."""
    try:
        db = Database(url, busy_timeout=30.0, lock_timeout=30.0, pool_size=1)
        try:
            with db.read() as session:  # connect before the race, not during it
                session.execute(text("SELECT 1"))
            barrier.wait(timeout=START_TIMEOUT)
            outcomes: list[tuple[str, str, Any]] = []
            for start in starts:
                try:
                    with db.write() as session:
                        booking = create_booking(
                            session, business_id, calendar_id=calendar_id,
                            service_id=service_id, start=dt.datetime.fromisoformat(start),
                            now=NOW)
                        booking_id = booking.id
                    outcomes.append(("ok", start, booking_id))
                except ConflictError as exc:
                    named = [hit["id"] for hit in exc.details.get("conflicts", [])]
                    outcomes.append(("conflict", start, named))
                except BusyError as exc:
                    outcomes.append(("busy", start, exc.message))
                except Exception as exc:  # noqa: BLE001 - reported to the test as a failure
                    outcomes.append((repr(exc), start, None))
        finally:
            db.dispose()
        results.put((index, outcomes))
    except BaseException:  # noqa: BLE001 - the test must hear about it instead of waiting
        results.put((index, "crashed: " + traceback.format_exc()))


def http_worker(index: int, base_url: str, business_id: int, calendar_id: int,
                service_id: int, starts: list[str], barrier: Any, results: Any) -> None:
    """POST one booking per start over HTTP. Reports (index, [(start, response), ...]) with
    the requests.Response objects (picklable, content read) or (index, "crashed: ...")."""
    try:
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {HOST_KEY}"
            # Open the keep-alive connection before the race.
            assert http.get(f"{base_url}/healthz", timeout=30).status_code == 200
            barrier.wait(timeout=START_TIMEOUT)
            outcomes = []
            for start in starts:
                response = http.post(
                    f"{base_url}/api/v1/businesses/{business_id}/bookings", timeout=60,
                    json={"calendar_id": calendar_id, "service_id": service_id, "start": start})
                response.content  # noqa: B018 - read the body so the response pickles whole
                outcomes.append((start, response))
        results.put((index, outcomes))
    except BaseException:  # noqa: BLE001
        results.put((index, "crashed: " + traceback.format_exc()))


def run_workers(target: Callable[..., None], common: tuple[Any, ...],
                starts: list[str]) -> list[Any]:
    """Start WORKERS spawned processes, each given `common` + its share of `starts`, released
    together by a barrier; return every attempt's outcome. A worker that crashes, hangs or never
    reports fails the test instead of freezing it."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    results = context.Queue()
    shares = split(starts, WORKERS)
    assert sum(len(share) for share in shares) == TOTAL_ATTEMPTS
    processes = [context.Process(target=target, args=(i, *common, shares[i], barrier, results),
                                 name=f"booking-worker-{i}", daemon=True)
                 for i in range(WORKERS)]
    deadline = time.monotonic() + RUN_TIMEOUT
    reports: dict[int, Any] = {}
    try:
        for process in processes:
            process.start()
        while len(reports) < WORKERS:
            try:
                index, report = results.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"workers did not report within {RUN_TIMEOUT:.0f}s: missing "
                    f"{sorted(set(range(WORKERS)) - set(reports))}, exit codes "
                    f"{[p.exitcode for p in processes]}") from None
            reports[index] = report
        for process in processes:
            process.join(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=10)
        results.close()
    crashed = {i: r for i, r in reports.items() if isinstance(r, str)}
    assert not crashed, "\n".join(crashed.values())
    assert [p.exitcode for p in processes] == [0] * WORKERS
    outcomes = [outcome for i in range(WORKERS) for outcome in reports[i]]
    assert len(outcomes) == TOTAL_ATTEMPTS
    return outcomes


def stop(server: LiveServer, api: Api) -> None:
    api.session.close()
    server.stop()


# -------------------------------------------------------------------------------------- tests


def test_fifty_overlapping_attempts_one_booking(tmp_path: Path, database_url: str) -> None:
    runtime = make_runtime(tmp_path, database_url, extra=GENEROUS)
    try:
        with runtime.db.write() as session:
            business = create_business(session, name="Salon", timezone=TZ, now=NOW)
            calendar = create_calendar(session, business.id, name="Anna Berg", now=NOW)
            service = create_service(session, business.id, name="Haircut",
                                     duration_minutes=SERVICE_MINUTES, now=NOW)
            ids = (business.id, calendar.id, service.id)
        starts = attempt_starts()
        assert len(set(starts)) == len(OFFSETS)  # mostly overlapping, not identical, times

        outcomes = run_workers(domain_worker, (database_url, *ids), starts)

        kinds = [kind for kind, _, _ in outcomes]
        assert kinds.count("ok") == 1, outcomes
        assert kinds.count("conflict") == TOTAL_ATTEMPTS - 1, outcomes
        (_, won_start, winner_id), = [o for o in outcomes if o[0] == "ok"]
        # Every loser was refused by the domain's overlap check, which names the winner (the
        # PostgreSQL exclusion constraint is only a backstop and names nothing).
        assert all(detail == [winner_id] for kind, _, detail in outcomes if kind == "conflict")

        with runtime.db.read() as session:
            rows = session.execute(select(Booking)).scalars().all()
            assert [(b.id, b.status, b.calendar_id) for b in rows] == \
                [(winner_id, "confirmed", ids[1])]
            assert rows[0].start_utc == dt.datetime.fromisoformat(won_start)
            assert rows[0].end_utc - rows[0].start_utc == dt.timedelta(minutes=SERVICE_MINUTES)
            journal_seq = session.execute(select(Calendar.journal_seq)
                                          .where(Calendar.id == ids[1])).scalar_one()
            entries = session.execute(select(JournalEntry.seq, JournalEntry.kind,
                                             JournalEntry.item_id)
                                      .where(JournalEntry.calendar_id == ids[1])
                                      .order_by(JournalEntry.seq)).all()
        assert journal_seq == 1 + 1  # the calendar's creation + the one booking
        assert [tuple(e) for e in entries] == [(1, "calendar", ids[1]), (2, "booking", winner_id)]
    finally:
        runtime.db.dispose()


@WITH_PGBOUNCER  # also through PgBouncer: 50 requests on the pooler's few server connections
def test_fifty_overlapping_requests_one_201(tmp_path: Path, database_url: str) -> None:
    server = start_server(make_runtime(tmp_path, database_url, extra=GENEROUS), threads=8)
    api = Api(server.url)
    try:
        salon = make_salon(api, tz=TZ)
        starts = attempt_starts()

        outcomes = run_workers(http_worker, (server.url, salon.business, salon.calendar,
                                             salon.service), starts)

        statuses = [response.status_code for _, response in outcomes]
        assert statuses.count(201) == 1, [(s, r.status_code, r.text) for s, r in outcomes]
        assert statuses.count(409) == TOTAL_ATTEMPTS - 1, sorted(statuses)
        (won_start, won), = [(s, r) for s, r in outcomes if r.status_code == 201]
        winner = won.json()
        assert dt.datetime.fromisoformat(winner["start"]) == dt.datetime.fromisoformat(won_start)
        for _, response in outcomes:
            if response.status_code == 409:
                error = assert_error(response, 409, "conflict")
                assert [hit["id"] for hit in error["details"]["conflicts"]] == [winner["id"]], \
                    error

        listed = api.ok("GET", f"/businesses/{salon.business}/bookings",
                        params={"start": "2026-11-26T00:00:00Z", "end": "2026-11-27T00:00:00Z"})
        assert [b["id"] for b in listed["items"]] == [winner["id"]]
        assert winner["sequence"] == 2  # calendar creation, then this booking
        with server.runtime.db.read() as session:
            assert session.execute(select(func.count()).select_from(Booking)).scalar_one() == 1
            assert session.execute(select(Calendar.journal_seq)
                                   .where(Calendar.id == salon.calendar)).scalar_one() == 2
    finally:
        stop(server, api)


def test_sqlite_write_lock_held_elsewhere_gives_503_then_201(tmp_path: Path) -> None:
    """SQLite counterpart of the PostgreSQL lock-wait test: another connection holds the write
    lock (BEGIN IMMEDIATE) longer than busy_timeout_seconds."""
    path = tmp_path / "busy.sqlite3"
    server = start_server(make_runtime(tmp_path, f"sqlite:///{path}",
                                       extra="[database]\nbusy_timeout_seconds = 0.5\n"))
    api = Api(server.url)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        salon = make_salon(api, tz=TZ)
        body = {"calendar_id": salon.calendar, "service_id": salon.service,
                "start": "2026-11-26T10:00:00+01:00"}
        holder.execute("BEGIN IMMEDIATE")

        began = time.monotonic()
        refused = api.post(f"/businesses/{salon.business}/bookings", json=body)
        waited = time.monotonic() - began
        assert_error(refused, 503, "busy")
        assert refused.headers.get("Retry-After") == "2"
        assert 0.4 <= waited < 5, waited  # the configured 0.5 s, not the 10 s default

        holder.execute("ROLLBACK")
        booked = api.ok("POST", f"/businesses/{salon.business}/bookings", 201, json=body)
        assert booked["sequence"] == 2  # the refused attempt left no journal entry
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()
        stop(server, api)

"""The cost of the sync health readers does not grow with the number of tenants: the Prometheus
scrape (server/sync/metrics.py, counted by the database: server/sync/state_counts.py) and the
health notifier at steady state (server/sync/alerts.py: partial indexes on the rows with a
problem) run the same statements returning the same number of rows with 10 businesses as with
200, every statement counted by a SQLAlchemy listener and its rows counted by running it again.
The database's counts match the overview's Python verdicts. On SQLite the notifier's reads of
connections and calendars are index searches, never table scans. SQLite and PostgreSQL, on the
injected clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text, update

from ics_world import ICS_TOML
from server.db.models import IcsReadState, IcsSource
from server.domain import businesses, calendars
from server.ics import sources
from server.runtime import Runtime
from server.sync import alerts, status
from server.sync.metrics import SyncHealthCollector
from server.sync.state_counts import counts
from support import NOW, make_runtime

Statement = tuple[str, Any]


@contextmanager
def recorded(runtime: Runtime) -> Iterator[list[Statement]]:
    """Every statement the runtime's engine runs meanwhile, with its parameters."""
    seen: list[Statement] = []

    def listen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        seen.append((statement, parameters))

    event.listen(runtime.db.engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", listen)


def rows_of(runtime: Runtime, seen: list[Statement]) -> int:
    """How many rows the SELECTs among `seen` return (each run again)."""
    total = 0
    with runtime.db.engine.connect() as connection:
        for statement, parameters in seen:
            if statement.lstrip().upper().startswith("SELECT"):
                total += len(connection.exec_driver_sql(statement, parameters).fetchall())
    return total


def add_businesses(runtime: Runtime, count: int, start: int) -> None:
    """`count` businesses, each with one employee calendar subscribed to one link read now."""
    with runtime.db.write() as session:
        for number in range(start, start + count):
            business = businesses.create_business(session, name=f"Shop {number}",
                                                  timezone="UTC", now=NOW).id
            calendar = calendars.create_calendar(session, business, name="Desk", now=NOW).id
            sources.add(session, runtime.keyring, runtime.config.ics, business, calendar,
                        f"https://feeds.example.com/{number}.ics", NOW)
        session.flush()
        session.execute(update(IcsReadState).where(IcsReadState.synced_at.is_(None))
                        .values(synced_at=NOW))


def break_some(runtime: Runtime) -> None:
    """A fixed set of problems: one link to fix, one failing, one not read for a day."""
    with runtime.db.write() as session:
        session.execute(update(IcsSource).where(IcsSource.id == 1)
                        .values(status="needs_reconnect", last_error="gone"))
        session.execute(update(IcsReadState).where(IcsReadState.connection_id == 2)
                        .values(last_error="answered 404", last_error_at=NOW))
        session.execute(update(IcsReadState).where(IcsReadState.connection_id == 3)
                        .values(synced_at=NOW - dt.timedelta(days=1)))


def measure(runtime: Runtime, work: Callable[[], object]) -> tuple[int, int, list[Statement]]:
    with recorded(runtime) as seen:
        work()
    return len(seen), rows_of(runtime, seen), seen


def scrape(runtime: Runtime) -> dict[tuple[str, ...], float]:
    return {(family.name, *sample.labels.values()): sample.value
            for family in SyncHealthCollector(runtime).collect() for sample in family.samples}


def notify(runtime: Runtime) -> None:
    assert alerts.run(runtime, "worker", runtime.clock.now()) is not None


def test_metrics_and_notifier_cost_is_flat_in_tenants(tmp_path: Path, database_url: str) -> None:
    runtime = make_runtime(tmp_path, database_url, extra=ICS_TOML)
    try:
        add_businesses(runtime, 10, 0)
        break_some(runtime)
        small_metrics = measure(runtime, lambda: scrape(runtime))
        notify(runtime)  # opens the alerts of the fixed problems
        notify(runtime)
        small_notify = measure(runtime, lambda: notify(runtime))  # steady state
        figures = scrape(runtime)
        assert figures[("bookingcal_sync_items", "ics", "connection", "ok")] == 9
        assert figures[("bookingcal_sync_items", "ics", "reading", "ok")] == 7
        assert figures[("bookingcal_sync_items", "ics", "reading", "stale")] == 2
        assert figures[("bookingcal_sync_items", "ics", "reading", "needs_reconnecting")] == 1

        add_businesses(runtime, 190, 10)
        large_metrics = measure(runtime, lambda: scrape(runtime))
        notify(runtime)
        large_notify = measure(runtime, lambda: notify(runtime))
        figures = scrape(runtime)
        assert figures[("bookingcal_sync_items", "ics", "connection", "ok")] == 199
        assert figures[("bookingcal_sync_items", "ics", "reading", "ok")] == 197

        # Same statements, same rows returned, at 10 and at 200 businesses.
        assert small_metrics[:2] == large_metrics[:2], (small_metrics[:2], large_metrics[:2])
        assert small_notify[:2] == large_notify[:2], (small_notify[:2], large_notify[:2])
        assert large_metrics[1] < 100  # bounded by providers x kinds x states

        with runtime.db.read() as session:  # the database's counts are the overview's
            by_sql = counts(session, runtime.config, runtime.clock.now())
            by_python = status.counts(status.overview(session, runtime.config,
                                                      runtime.clock.now()))
        assert {key: value for key, value in by_sql.items() if value} == dict(by_python)

        if runtime.db.engine.dialect.name == "sqlite":
            # The notifier's reads of connections, calendars and alerts (and the scrape's of
            # alerts) are index searches, or scans of a partial index of problems.
            watched = ("ics_sources", "ics_read_states", "sync_alerts")
            checked = 0
            with runtime.db.engine.connect() as connection:
                for statement, parameters in large_notify[2] + [
                        found for found in large_metrics[2] if "sync_alerts" in found[0]]:
                    if not statement.lstrip().upper().startswith("SELECT"):
                        continue
                    plan = [str(row[-1]) for row in connection.exec_driver_sql(
                        "EXPLAIN QUERY PLAN " + statement, parameters)]
                    for step in plan:
                        if any(table in step for table in watched):
                            checked += 1
                            assert step.startswith("SEARCH") or any(
                                name in step for name in ("_problems", "_failing", "_untold",
                                                          "_undelivered")), (statement, plan)
            assert checked >= 4
    finally:
        runtime.db.dispose()

#!/usr/bin/env python
"""Benchmark of the sync health readers as the number of businesses grows: the Prometheus
scrape's counts (server/sync/state_counts.py: GROUP BY in the database) side by side with the
baseline it replaced, counting the admin overview's lines in Python (status.counts(overview),
every connection and calendar read into the process), and the health notifier's run at steady
state (server/sync/alerts.py). Per count of businesses (each one calendar subscribed to one
link; three of them broken): statements run, rows returned, median milliseconds.

Usage: .venv/bin/python bench/sync_health_bench.py [--engine sqlite|postgresql|both]
       [--counts 10,200,2000]

Absolute times depend on the machine; compare the columns in one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from api_bench import _import_harness, database_url


def _measure(runtime: Any, work: Callable[[], object], repeats: int = 5) -> tuple[int, int,
                                                                                 float]:
    from sqlalchemy import event

    seen: list[tuple[str, Any]] = []

    def listen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(runtime.db.engine, "before_cursor_execute", listen)
    try:
        work()
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", listen)
    rows = 0
    with runtime.db.engine.connect() as connection:
        for statement, parameters in seen:
            if statement.lstrip().upper().startswith("SELECT"):
                rows += len(connection.exec_driver_sql(statement, parameters).fetchall())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return len(seen), rows, statistics.median(times)


def run(engine: str, counts: list[int]) -> None:
    from sqlalchemy import update

    from ics_world import ICS_TOML
    from server.db.models import IcsReadState, IcsSource
    from server.domain import businesses, calendars
    from server.ics import sources
    from server.sync import alerts, status
    from server.sync.state_counts import counts as sql_counts
    from support import make_runtime

    with tempfile.TemporaryDirectory() as folder, database_url(engine, Path(folder)) as url:
        runtime = make_runtime(Path(folder), url, now=dt.datetime.now(dt.timezone.utc),
                               extra=ICS_TOML)
        now = runtime.clock.now()
        made = 0
        print(f"\n{engine}: per scrape / notifier run — statements, rows returned, median ms")
        print(f"{'businesses':>10} | {'baseline: overview counted in Python':>38} | "
              f"{'counts in SQL':>24} | {'notifier (steady)':>24}")
        for target in counts:
            with runtime.db.write() as session:
                for number in range(made, target):
                    business = businesses.create_business(session, name=f"Shop {number}",
                                                          timezone="UTC", now=now).id
                    calendar = calendars.create_calendar(session, business, name="Desk",
                                                         now=now).id
                    sources.add(session, runtime.keyring, runtime.config.ics, business,
                                calendar, f"https://feeds.example.com/{number}.ics", now)
                session.flush()
                session.execute(update(IcsReadState).where(IcsReadState.synced_at.is_(None))
                                .values(synced_at=now))
                if made == 0:
                    session.execute(update(IcsSource).where(IcsSource.id == 1).values(
                        status="needs_reconnect", last_error="gone"))
                    session.execute(update(IcsReadState).where(
                        IcsReadState.connection_id == 2).values(last_error="answered 404",
                                                                last_error_at=now))
            made = target

            def baseline() -> object:
                with runtime.db.read() as session:
                    return status.counts(status.overview(session, runtime.config, now))

            def in_sql() -> object:
                with runtime.db.read() as session:
                    return sql_counts(session, runtime.config, now)

            def notify() -> object:
                return alerts.run(runtime, "bench", now)

            notify()
            notify()
            old, new, note = (_measure(runtime, baseline), _measure(runtime, in_sql),
                              _measure(runtime, notify))
            cells = [f"{s:>5} st {r:>6} rows {ms:>8.1f} ms" for s, r, ms in (old, new, note)]
            print(f"{target:>10} | {cells[0]:>38} | {cells[1]:>24} | {cells[2]:>24}")
        runtime.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--counts", default="10,200,2000")
    args = parser.parse_args()
    _import_harness()
    counts = [int(part) for part in args.counts.split(",")]
    for engine in (["sqlite", "postgresql"] if args.engine == "both" else [args.engine]):
        run(engine, counts)


if __name__ == "__main__":
    main()

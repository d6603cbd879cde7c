"""The range reads behind availability use their indexes, scoped to one calendar or one Google
connection, on SQLite and PostgreSQL: the statements the domain really runs are captured and
EXPLAINed, so their cost does not grow with history or with the number of businesses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from server.db.models import Calendar
from server.domain import journal, schedules
from server.runtime import Runtime
from support import NOW, make_runtime

START, END = NOW, NOW + dt.timedelta(days=30)


def _plan(runtime: Runtime, read: Callable[[Session], Any], table: str | None = None) -> str:
    """The query plan of the one statement `read` runs (with `table`: the one reading it)
    (PostgreSQL: sequential scans off, so that an empty table shows which index the statement
    can use)."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                executemany: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and (
                table is None or f"FROM {table}" in statement):
            seen.append((statement, parameters))

    engine = runtime.db.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        with runtime.db.read() as session:
            read(session)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    [(statement, parameters)] = seen
    with engine.connect() as conn:
        if runtime.db.is_sqlite:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            return "\n".join(str(row[-1]) for row in rows)
        conn.exec_driver_sql("SET enable_seqscan = off")
        rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters)
        return "\n".join(str(row[0]) for row in rows)


def test_mirrored_events_are_read_by_connection_calendar_and_start(
        tmp_path: Path, database_url: str) -> None:
    runtime = make_runtime(tmp_path, database_url)
    try:
        plan = _plan(runtime, lambda session: schedules.google_events(
            session, 1, 7, "primary", 3600, START, END))
    finally:
        runtime.db.dispose()
    assert "ix_mirrored_connection_calendar_start" in plan, plan
    if runtime.db.is_sqlite:  # both equalities and the range on start_utc
        assert "connection_id=? AND google_calendar=? AND start_utc>? AND start_utc<?" in plan, \
            plan
    else:
        assert "start_utc >=" in plan and "connection_id =" in plan, plan


def test_bookings_are_read_by_calendar_and_occupied_start(tmp_path: Path) -> None:
    """SQLite only: on an empty PostgreSQL table the planner's choice says nothing (the
    availability benchmark measures it with a history)."""
    runtime = make_runtime(tmp_path, f"sqlite:///{tmp_path / 'plans.sqlite3'}")
    calendar = Calendar(id=3, business_id=1, name="Anna", timezone="UTC", max_span_seconds=3600)
    try:
        plan = _plan(runtime, lambda session: schedules.booking_items(session, calendar, START,
                                                                      END))
    finally:
        runtime.db.dispose()
    assert "ix_bookings_calendar_occupied" in plan, plan
    assert "calendar_id=? AND occupied_start_utc>? AND occupied_start_utc<?" in plan, plan


def test_a_sync_reads_only_the_journal_entries_after_its_position(tmp_path: Path) -> None:
    """SQLite only (as above): the entries after the sync token are one range of the
    (calendar_id, seq) key, so a sync after one change costs the same on a calendar of 100k
    items as on one of 10 (the bench measures it: bench/caldav_bench.py [6]). The former query
    joined the entries back to a grouped subquery, and SQLite walked every entry of the
    calendar."""
    runtime = make_runtime(tmp_path, f"sqlite:///{tmp_path / 'plans.sqlite3'}")
    calendar = Calendar(id=3, business_id=1, name="Anna", timezone="UTC", max_span_seconds=3600,
                        journal_seq=100, journal_floor=0)
    try:
        plan = _plan(runtime, lambda session: journal.changes_since(session, calendar, 90),
                     table="journal")
    finally:
        runtime.db.dispose()
    assert plan.count("SEARCH journal") == 1 and "SCAN" not in plan, plan
    assert "calendar_id=? AND seq>?" in plan, plan

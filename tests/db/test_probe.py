"""The /healthz probe: bounded when the database holds the query (PgBouncer while PostgreSQL
refuses connections: tests/ops/test_several_processes.py runs that for real), one held probe
at a time, and answered again once the database is back."""

from __future__ import annotations

import threading
from pathlib import Path

from server.db.engine import Database
from server.db.probe import DatabaseProbe


def test_a_held_query_is_given_up_on_and_not_stacked(tmp_path: Path) -> None:
    held, started = threading.Event(), []

    def ping() -> None:
        started.append(1)
        held.wait(30)

    probe = DatabaseProbe(Database(f"sqlite:///{tmp_path / 'db.sqlite'}"), timeout=0.2,
                          ping=ping)
    for _ in range(3):
        problem = probe.check()
        assert problem is not None and "did not answer within 0.2 seconds" in problem
    assert started == [1]  # later checks waited on the one held probe
    held.set()
    assert probe.check() is None  # the held probe, or a new one, answered
    before = len(started)
    assert probe.check() is None and len(started) == before + 1  # a new probe per check


def test_a_refusing_database_is_named_and_a_working_one_answers(tmp_path: Path) -> None:
    nowhere = Database(f"sqlite:///{tmp_path / 'missing' / 'db.sqlite'}")  # cannot be opened
    assert DatabaseProbe(nowhere).check() == "the database is unavailable; try again later"
    assert DatabaseProbe(Database(f"sqlite:///{tmp_path / 'db.sqlite'}")).check() is None

"""Two processes importing the same new Google event at once — the bridge's pass and an online
booking's freshness sync (server/google/freshness.py) — collide on the mirrored event's unique
key on PostgreSQL. The import is idempotent: the loser writes again and updates the winner's
row instead of failing. (SQLite serialises writers with BEGIN IMMEDIATE, so there the second
one simply finds the row.)"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from fakes import FakeGoogle
from google_world import make_world
from server.db.models import GoogleConnection, MirroredEvent
from server.domain import mirrored
from server.domain.blocking import BlockingPolicy
from server.google.pull import PullReport, pull
from support import NOW
from tests.db.test_postgres_only import wait_for_lock_waiter

pytestmark = pytest.mark.postgres


def test_a_concurrent_import_of_the_same_event_is_not_an_error(tmp_path: Path,
                                                                pg_url: str) -> None:
    with FakeGoogle() as fake, make_world(tmp_path, pg_url, fake) as world:
        db = world.runtime.db
        pull(db, world.api, world.connection, NOW,
             rules=world.runtime.config.availability)  # the first full read: nothing yet
        event = fake.user_insert_event("primary", {
            "summary": "Dentist", "start": {"dateTime": "2026-12-01T09:00:00+01:00"},
            "end": {"dateTime": "2026-12-01T10:00:00+01:00"}})
        outcome: dict[str, Any] = {}

        def bridge_pass() -> None:
            try:
                outcome["report"] = pull(db, world.api, world.connection, NOW,
                                         rules=world.runtime.config.availability)
            except Exception as exc:  # noqa: BLE001 - reported to the test below
                outcome["error"] = exc

        other = threading.Thread(target=bridge_pass)
        with db.write() as session:  # the other importer, mid-transaction
            connection = session.get(GoogleConnection, world.connection)
            assert connection is not None
            mirrored.apply_changes(
                session, business_id=world.business, connection_id=world.connection,
                google_calendar="primary", full=False, policy=BlockingPolicy.of(connection),
                now=NOW, changes=[mirrored.GoogleEvent(
                    event_id=event["id"], summary="Dentist",
                    start_utc=dt.datetime(2026, 12, 1, 8, tzinfo=dt.timezone.utc),
                    end_utc=dt.datetime(2026, 12, 1, 9, tzinfo=dt.timezone.utc))])
            session.flush()
            other.start()
            # The bridge's insert of the same event waits for this transaction's row.
            wait_for_lock_waiter(pg_url.replace("postgresql+psycopg://", "postgresql://"))
        other.join(timeout=60)
        assert "error" not in outcome, outcome
        report: PullReport = outcome["report"]
        assert report.imported == 1 and report.calendars == ["primary"]
        with db.read() as session:
            rows = session.execute(select(MirroredEvent)).scalars().all()
            assert [(row.event_id, row.summary) for row in rows] == [(event["id"], "Dentist")]
        # The sync token was saved: the next pass is incremental and imports nothing.
        assert pull(db, world.api, world.connection, NOW,
                    rules=world.runtime.config.availability).imported == 0

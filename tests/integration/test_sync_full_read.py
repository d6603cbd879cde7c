"""The weekly full read: a change feed that missed a deletion leaves a ghost in the mirror;
the bridge's weekly full read of the calendar removes it and keeps every other event once, our
copies untouched (no duplicates in Google), and then goes back to incremental reads. SQLite
and PostgreSQL, on the injected clock."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from google_world import World, bridge
from server.db.models import GoogleReadState, MirroredEvent, SyncFullRead
from server.sync.full_reads import FULL_READ_EVERY


def mirrored_ids(world: World) -> list[str]:
    with world.runtime.db.read() as session:
        return sorted(session.execute(select(MirroredEvent.event_id)).scalars())


def test_the_weekly_full_read_removes_what_the_feed_missed(world: World) -> None:
    engine = bridge(world)
    now = world.now
    start = now + dt.timedelta(days=3)
    for hour in (9, 13):
        world.fake.user_insert_event("primary", {
            "summary": f"Event {hour}",
            "start": {"dateTime": start.replace(hour=hour).isoformat()},
            "end": {"dateTime": start.replace(hour=hour + 1).isoformat()}})
    world.book(2)
    first = engine.work(world.connection, now, force_pull=True)
    assert first.pulled is not None and first.pulled.full_syncs == 1  # the first read
    real = mirrored_ids(world)
    assert len(real) == 2
    copies = len(world.google())
    # A deletion the change feed never reported: the mirror keeps a ghost.
    with world.runtime.db.write() as session:
        row = session.execute(select(MirroredEvent)).scalars().first()
        assert row is not None
        session.add(MirroredEvent(
            business_id=row.business_id, connection_id=row.connection_id,
            google_calendar=row.google_calendar, event_id="ghost-of-a-missed-deletion",
            summary="Ghost", start_utc=row.start_utc + dt.timedelta(hours=2),
            end_utc=row.end_utc + dt.timedelta(hours=2), updated_at=now))
    # Before the week is over: incremental reads, the ghost stays.
    later = now + dt.timedelta(days=1)
    quiet = engine.work(world.connection, later, force_pull=True)
    assert quiet.pulled is not None and quiet.pulled.full_syncs == 0
    assert "ghost-of-a-missed-deletion" in mirrored_ids(world)
    # A week after the first (full) read: read in full, the ghost goes, nothing doubles.
    week = now + FULL_READ_EVERY
    full = engine.work(world.connection, week, force_pull=True)
    assert full.pulled is not None and full.pulled.full_syncs == 1
    assert mirrored_ids(world) == real
    assert len(world.google()) == copies
    with world.runtime.db.read() as session:
        assert session.execute(select(func.count()).select_from(SyncFullRead)).scalar() == 1
        assert session.execute(select(SyncFullRead.full_read_at)).scalar() == week
        assert session.execute(select(GoogleReadState.sync_token)).scalar() is not None
    after = engine.work(world.connection, week + dt.timedelta(hours=1), force_pull=True)
    assert after.pulled is not None and after.pulled.full_syncs == 0
    assert mirrored_ids(world) == real


def test_a_calendar_first_seen_with_a_cursor_starts_spread_over_the_week(
        world: World) -> None:
    from server.sync import full_reads
    due = full_reads.due(world.runtime.db, "google_read_states", world.business,
                         {1: None, 2: None, 3: None}, world.now)
    assert due == set()
    with world.runtime.db.read() as session:
        starts = sorted(session.execute(select(SyncFullRead.full_read_at)).scalars())
    assert len(set(starts)) == 3
    assert all(world.now - FULL_READ_EVERY < s <= world.now for s in starts)
    later = full_reads.due(world.runtime.db, "google_read_states", world.business,
                           dict(zip([1, 2, 3], starts)), max(starts) + FULL_READ_EVERY)
    assert later == {1, 2, 3}

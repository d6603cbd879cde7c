"""The domain layer's one write path for mirrored Google events (server/domain/mirrored.py),
called with plain values on SQLite and PostgreSQL: incremental passes load only the rows their
changes touch, a full sync reconciles, the blocking policy is applied on every write."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import event, select

from google_world import World
from server.db.models import GoogleReadState, MirroredEvent
from server.domain import mirrored
from server.domain.blocking import BlockingPolicy
from support import NOW

UTC = dt.timezone.utc
CALENDAR = "primary"


def timed(event_id: str, day: int, hours: int = 1, **extra: str) -> mirrored.GoogleEvent:
    start = dt.datetime(2026, 12, day, 9, tzinfo=UTC)
    return mirrored.GoogleEvent(event_id=event_id, start_utc=start,
                                end_utc=start + dt.timedelta(hours=hours),
                                summary=f"Event {event_id}", **extra)


def apply(world: World, changes: list[mirrored.Change], *, full: bool,
          policy: BlockingPolicy = BlockingPolicy()) -> tuple[mirrored.MirrorResult, int]:
    """The result, and how many mirrored rows were loaded from the database."""
    loaded: list[str] = []

    def count(row: MirroredEvent, context: object) -> None:
        loaded.append(row.event_id)

    event.listen(MirroredEvent, "load", count)
    try:
        with world.runtime.db.write() as session:
            result = mirrored.apply_changes(
                session, business_id=world.business, connection_id=world.connection,
                google_calendar=CALENDAR, changes=changes, full=full, policy=policy, now=NOW)
    finally:
        event.remove(MirroredEvent, "load", count)
    return result, len(loaded)


def rows(world: World) -> dict[str, MirroredEvent]:
    with world.runtime.db.read() as session:
        return {row.event_id: row for row in session.execute(select(MirroredEvent)).scalars()}


def test_an_incremental_pass_loads_only_the_rows_its_changes_touch(world: World) -> None:
    first, _ = apply(world, [timed(f"e{n}", n + 1) for n in range(6)], full=True)
    assert (first.imported, first.removed, first.longest_seconds) == (6, 0, 3600)
    result, loaded = apply(world, [timed("e2", 20, hours=3),
                                   mirrored.Tombstone("e4"),
                                   mirrored.Tombstone("not-mirrored")], full=False)
    assert loaded == 2  # e2 (updated) and e4 (deleted) of six
    assert (result.imported, result.removed, result.longest_seconds) == (1, 1, 3 * 3600)
    assert result.unknown_tombstones == ["not-mirrored"]
    found = rows(world)
    assert sorted(found) == ["e0", "e1", "e2", "e3", "e5"]
    assert found["e2"].start_utc == dt.datetime(2026, 12, 20, 9, tzinfo=UTC)
    idle, loaded = apply(world, [], full=False)
    assert (idle.imported, idle.removed, loaded) == (0, 0, 0)
    _, loaded = apply(world, [timed("e0", 1)], full=True)
    assert loaded == 5  # a full sync reads them all, to reconcile


def test_a_full_sync_reconciles_and_applies_the_policy(world: World) -> None:
    apply(world, [timed("keep", 1), timed("gone", 2), timed("away", 3)], full=True)
    result, _ = apply(world, [
        timed("keep", 1, transparency="transparent"),
        timed("away", 3, event_type="outOfOffice"),
        mirrored.GoogleEvent(event_id="holiday", start_utc=dt.datetime(2026, 12, 23, 23,
                                                                       tzinfo=UTC),
                             end_utc=dt.datetime(2026, 12, 26, 23, tzinfo=UTC),
                             start_date=dt.date(2026, 12, 24), end_date=dt.date(2026, 12, 27))],
        full=True, policy=BlockingPolicy(out_of_office=False))
    assert (result.imported, result.removed) == (3, 1)
    assert result.longest_seconds == 3 * 86400
    found = rows(world)
    assert {event_id: row.blocks for event_id, row in found.items()} == {
        "keep": False, "away": False, "holiday": True}
    assert found["holiday"].all_day and found["holiday"].end_date == dt.date(2026, 12, 27)
    with world.runtime.db.write() as session:
        assert mirrored.recompute_blocking(session, world.connection, BlockingPolicy()) == 1
    assert rows(world)["away"].blocks is True


def test_an_event_deleted_and_recreated_in_one_pass_ends_as_google_has_it(world: World) -> None:
    apply(world, [timed("again", 1)], full=True)
    result, _ = apply(world, [mirrored.Tombstone("again"), timed("again", 9)], full=False)
    assert (result.imported, result.removed) == (1, 1)
    found = rows(world)
    assert list(found) == ["again"]
    assert found["again"].start_utc == dt.datetime(2026, 12, 9, 9, tzinfo=UTC)
    result, _ = apply(world, [mirrored.Tombstone("again"), timed("again", 10),
                              mirrored.Tombstone("again")], full=False)
    assert (result.imported, result.removed, result.unknown_tombstones) == (1, 2, [])
    assert rows(world) == {}


def test_forget_removes_the_events_and_restarts_the_sync(world: World) -> None:
    apply(world, [timed("one", 1), timed("two", 2)], full=True)
    with world.runtime.db.write() as session:
        for state in session.execute(select(GoogleReadState)).scalars():
            state.sync_token = "token"
    with world.runtime.db.write() as session:
        mirrored.forget(session, world.connection)
    assert rows(world) == {}
    with world.runtime.db.read() as session:
        tokens = list(session.execute(select(GoogleReadState.sync_token)).scalars())
    assert tokens and tokens == [None] * len(tokens)

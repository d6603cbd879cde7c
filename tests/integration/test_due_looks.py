"""The bridge loop's quick looks (server/sync/due.py): between full looks, a pass finds the
connections with work from what changed alone (new journal entries, notifications, new
connections, other processes' reads), never from every connection's rows; what the journal
does not say (a setting that rewrites every copy) waits for the next full look. On the world's
FixedClock, both engines; the rows a look reads are measured on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import text, update

from fakes import FakeGoogle
from google_world import World, make_world, no_sleep_api
from server.clock import FixedClock
from server.db.models import GoogleConnection, GoogleReadState, JournalEntry
from server.domain import businesses, calendars
from server.google import oauth, settings
from server.google.provider import GoogleProvider
from server.sync import due
from server.sync.engine import Engine


def _engine(world: World) -> tuple[Engine, GoogleProvider]:
    provider = GoogleProvider(world.runtime, api_factory=no_sleep_api)
    return Engine(world.runtime, worker="looks-test", providers=[provider]), provider


def _look(engine: Engine, provider: GoogleProvider, world: World) -> list[int]:
    with world.runtime.db.read() as session:
        return engine.due_connections(provider, session, world.runtime.clock.now(), quick=True)


def _connect(world: World, count: int, first: int) -> list[int]:
    """`count` more businesses, each with one calendar sent to its own Google account."""
    made = []
    now = world.runtime.clock.now()
    with world.runtime.db.write() as session:
        for n in range(first, first + count):
            user = world.fake.add_user(f"owner{n}@example.com")
            business = businesses.create_business(session, name=f"Salon {n}", timezone="UTC",
                                                  now=now).id
            calendar = calendars.create_calendar(session, business, name="Bo", now=now).id
            made.append(oauth.connect(session, world.runtime.keyring, business,
                                      world.fake.issue_tokens(user=user), now).id)
            settings.update_settings(session, business, now=now, calendars=[
                settings.CalendarChoice(calendar, "primary")])
    return made


def _settle(engine: Engine, provider: GoogleProvider, world: World) -> None:
    """Passes until nothing is due (first reads and backfills done)."""
    for _ in range(6):
        engine.run_once(quick=True)
        if not _look(engine, provider, world):
            return
    raise AssertionError(f"still due: {_look(engine, provider, world)}")


def test_quick_looks_find_changes_new_connections_and_notifications(world: World) -> None:
    engine, provider = _engine(world)
    others = _connect(world, 2, first=0)
    assert _look(engine, provider, world) == sorted([world.connection, *others])  # full look
    _settle(engine, provider, world)
    tracker = engine.state(provider).tracker
    assert tracker.next_full is not None and world.runtime.clock.now() < tracker.next_full

    world.book(1)  # a journal entry on the world's calendar
    assert _look(engine, provider, world) == [world.connection]
    engine.run_once(quick=True)
    assert len(world.google()) == 1
    assert _look(engine, provider, world) == []

    added = _connect(world, 1, first=10)
    assert _look(engine, provider, world) == added  # new: at once, not at the next full look
    _settle(engine, provider, world)

    with world.runtime.db.write() as session:  # a push notification for one calendar
        session.execute(update(GoogleReadState).where(
            GoogleReadState.connection_id == others[1]).values(pull_requested=True))
    assert _look(engine, provider, world) == [others[1]]
    _settle(engine, provider, world)

    # A setting that rewrites every copy writes no journal entry: the next full look sees it.
    with world.runtime.db.write() as session:
        settings.update_settings(session, world.business, now=world.runtime.clock.now(),
                                 hide_client_details=True)
    assert _look(engine, provider, world) == []
    clock = world.runtime.clock
    assert isinstance(clock, FixedClock)
    clock.advance(due.FULL_EVERY)
    assert _look(engine, provider, world) == [world.connection]


def test_a_connection_paused_by_another_process_is_not_polled(tmp_path: Path,
                                                              database_url: str) -> None:
    with FakeGoogle() as fake, make_world(tmp_path, database_url, fake,
                                          extra="poll_seconds = 10\n") as world:
        _paused_elsewhere(world)
        assert fake.internal_errors == []


def _paused_elsewhere(world: World) -> None:
    engine, provider = _engine(world)
    assert provider.poll_interval < due.FULL_EVERY
    _settle(engine, provider, world)
    clock = world.runtime.clock
    assert isinstance(clock, FixedClock)
    with world.runtime.db.write() as session:  # another bridge met an exhausted quota
        session.execute(update(GoogleConnection).where(
            GoogleConnection.id == world.connection).values(
            paused_until=clock.now() + dt.timedelta(hours=1)))
    clock.advance(provider.poll_interval)
    assert _look(engine, provider, world) == [world.connection]  # a poll due, from memory
    listed = world.fake.count("calendar.events.list")
    reports = engine.run_once(quick=True)
    assert [report.pulled for report in reports] == [None]
    assert world.fake.count("calendar.events.list") == listed
    assert _look(engine, provider, world) == []  # forgotten until a full look


def _entry(world: World, entry: int, seq: int) -> None:
    with world.runtime.db.write() as session:
        session.add(JournalEntry(id=entry, business_id=world.business, calendar_id=world.anna,
                                 seq=seq, kind="booking", item_id=seq, item_uid=f"u{seq}",
                                 action="put", created_at=world.now))


def test_the_journal_tail_waits_for_ids_committed_out_of_order(world: World) -> None:
    tail = due.JournalTail()
    now = world.runtime.clock.now()
    with world.runtime.db.read() as session:
        tail.restart(session)
    assert tail.mark is not None
    mark = tail.mark

    def look(at: dt.datetime) -> set[int] | None:
        with world.runtime.db.read() as session:
            return tail.calendars(session, at)

    _entry(world, mark + 1, 1001)
    _entry(world, mark + 3, 1003)  # mark + 2: taken by a transaction not committed yet
    assert look(now) == {world.anna}
    assert tail.mark == mark + 1 and set(tail.missing) == {mark + 2}
    assert look(now) == set()  # nothing new: mark + 3 is not told twice
    _entry(world, mark + 2, 1002)  # commits late: still seen
    assert look(now) == {world.anna}
    assert tail.mark == mark + 3 and not tail.missing
    _entry(world, mark + 5, 1005)  # mark + 4 rolled back: given up after GAP_WAIT
    assert look(now) == {world.anna}
    assert look(now + due.GAP_WAIT - dt.timedelta(seconds=1)) == set()
    assert tail.mark == mark + 3
    assert look(now + due.GAP_WAIT) == set()
    assert tail.mark == mark + 5 and not tail.missing and not tail.seen


ROWS_READ = text("SELECT coalesce(sum(seq_tup_read), 0) + coalesce(sum(idx_tup_fetch), 0) "
                 "FROM pg_stat_xact_user_tables")


def _rows(engine: Engine, provider: GoogleProvider, world: World, *, quick: bool) -> int:
    """Table rows the look read, in its own transaction (sequential scans off, as the planner
    chooses them on a fleet's tables rather than on a test's few rows). A quick look comes
    SHARED_SLACK after the reads and a look in between, as the loop's looks come: the reads of
    the fleet are then behind it (on a FixedClock they all happened at one instant)."""
    if quick:
        clock = world.runtime.clock
        assert isinstance(clock, FixedClock)
        clock.advance(due.SHARED_SLACK + dt.timedelta(seconds=1))
        _look(engine, provider, world)
    with world.runtime.db.read() as session:
        session.execute(text("SET LOCAL enable_seqscan = off"))
        before = int(session.execute(ROWS_READ).scalar_one())
        engine.due_connections(provider, session, world.runtime.clock.now(), quick=quick)
        return int(session.execute(ROWS_READ).scalar_one()) - before


@pytest.mark.postgres
def test_rows_a_quick_look_reads_do_not_grow_with_the_fleet(tmp_path: Path, pg_url: str
                                                            ) -> None:
    with FakeGoogle() as fake, make_world(tmp_path, pg_url, fake) as world:
        engine, provider = _engine(world)
        _connect(world, 4, first=0)
        _settle(engine, provider, world)
        full_small = _rows(engine, provider, world, quick=False)
        _settle(engine, provider, world)
        quick_small = _rows(engine, provider, world, quick=True)
        _connect(world, 20, first=10)
        _settle(engine, provider, world)
        full_large = _rows(engine, provider, world, quick=False)
        _settle(engine, provider, world)
        quick_large = _rows(engine, provider, world, quick=True)
        assert full_large > full_small  # the measure sees the fleet's rows
        assert quick_large == quick_small, (quick_small, quick_large)
        assert fake.internal_errors == []


def test_a_connection_that_reads_nothing_is_worked_for_its_changes_alone(world: World
                                                                         ) -> None:
    engine, provider = _engine(world)
    with world.runtime.db.write() as session:  # sends bookings, reads nothing
        settings.update_settings(session, world.business, now=world.runtime.clock.now(),
                                 direction="to_google", block_online_booking=False)
    assert _look(engine, provider, world) == [world.connection]  # its first pass
    engine.run_once(quick=True)
    assert _look(engine, provider, world) == []  # no poll: it reads nothing
    world.book(1)
    assert _look(engine, provider, world) == [world.connection]
    engine.run_once(quick=True)
    assert len(world.google()) == 1 and _look(engine, provider, world) == []
    clock = world.runtime.clock
    assert isinstance(clock, FixedClock)
    clock.advance(due.FULL_EVERY)  # a full look works it once more: reading may be on now
    assert _look(engine, provider, world) == [world.connection]

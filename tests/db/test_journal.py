"""The change journal, client erasure and calendar lifecycle, through the domain layer, on SQLite
and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import func, select

from server.db.models import Booking, Calendar, Client, JournalEntry
from server.domain import blocked, bookings, businesses, calendars, clients, journal, services
from server.errors import ConflictError, GoneError
from server.runtime import Runtime
from support import NOW, WITH_PGBOUNCER, make_runtime

# Also through PgBouncer in transaction pooling mode: the journal's counters and SET LOCAL writes.
pytestmark = WITH_PGBOUNCER

TZ = "Europe/Copenhagen"


@dataclass
class World:
    runtime: Runtime
    business: int
    anna: int
    mikkel: int
    service: int
    client: int

    def calendar(self, session, calendar_id: int) -> Calendar:  # type: ignore[no-untyped-def]
        return calendars.get_calendar(session, self.business, calendar_id, include_deleted=True)

    def changes(self, calendar_id: int, since: int = 0) -> list[tuple[int, str, int, str]]:
        with self.runtime.db.read() as session:
            found = journal.changes_since(session, self.calendar(session, calendar_id), since)
            return [(c.seq, c.kind, c.item_id, c.action) for c in found.changes]

    def book(self, calendar_id: int, start: dt.datetime, **extra: object) -> int:
        with self.runtime.db.write() as session:
            return bookings.create_booking(session, self.business, calendar_id=calendar_id,
                                           service_id=self.service, start=start, now=NOW,
                                           **extra).id  # type: ignore[arg-type]


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    runtime = make_runtime(tmp_path, database_url)
    with runtime.db.write() as session:
        business = businesses.create_business(session, name="Salon", timezone=TZ, now=NOW).id
        anna = calendars.create_calendar(session, business, name="Anna", now=NOW).id
        mikkel = calendars.create_calendar(session, business, name="Mikkel", now=NOW).id
        service = services.create_service(session, business, name="Cut", duration_minutes=30,
                                          buffer_after_minutes=10, now=NOW).id
        client = clients.create_client(session, business, name="Ida Jensen", now=NOW,
                                       email="ida@example.com", phone="+45 11 22 33 44",
                                       address="Algade 1", notes="Allergic").id
    yield World(runtime, business, anna, mikkel, service, client)
    runtime.db.dispose()


def test_every_change_is_numbered_by_its_calendars_counter(world: World) -> None:
    first = world.book(world.anna, dt.datetime(2026, 12, 1, 10))
    second = world.book(world.anna, dt.datetime(2026, 12, 1, 11))
    other = world.book(world.mikkel, dt.datetime(2026, 12, 1, 10))
    assert world.changes(world.anna) == [(1, "calendar", world.anna, "put"),
                                         (2, "booking", first, "put"),
                                         (3, "booking", second, "put")]
    assert world.changes(world.mikkel) == [(1, "calendar", world.mikkel, "put"),
                                           (2, "booking", other, "put")]
    with world.runtime.db.write() as session:
        bookings.update_booking(session, world.business, first, now=NOW,
                                start=dt.datetime(2026, 12, 2, 10))
        bookings.cancel_booking(session, world.business, second, NOW)
    # The latest change of each item since position 3: a put, and a tombstone for the cancel.
    assert world.changes(world.anna, since=3) == [(4, "booking", first, "put"),
                                                  (5, "booking", second, "delete")]
    with world.runtime.db.read() as session:
        row = session.get(Booking, first)
        assert row is not None and row.seq == 4 and row.revision == 1
        assert world.calendar(session, world.anna).journal_seq == 5


def test_refused_writes_leave_no_journal_entry(world: World) -> None:
    world.book(world.anna, dt.datetime(2026, 12, 1, 10))
    with pytest.raises(ConflictError):
        world.book(world.anna, dt.datetime(2026, 12, 1, 10, 35))  # inside the 10-min buffer
    with world.runtime.db.read() as session:
        assert world.calendar(session, world.anna).journal_seq == 2
        assert session.execute(select(func.count()).select_from(JournalEntry)
                               .where(JournalEntry.calendar_id == world.anna)).scalar() == 2


def test_delete_and_move_leave_tombstones(world: World) -> None:
    kept = world.book(world.anna, dt.datetime(2026, 12, 1, 10))
    gone = world.book(world.anna, dt.datetime(2026, 12, 1, 12))
    with world.runtime.db.write() as session:
        uid = bookings.get_booking(session, world.business, gone).uid
        bookings.delete_booking(session, world.business, gone, NOW)
        bookings.update_booking(session, world.business, kept, now=NOW,
                                calendar_id=world.mikkel)
    assert world.changes(world.anna, since=3) == [(4, "booking", gone, "delete"),
                                                  (5, "booking", kept, "delete")]
    assert world.changes(world.mikkel, since=1) == [(2, "booking", kept, "put")]
    with world.runtime.db.read() as session:
        tombstone = session.execute(select(JournalEntry).where(
            JournalEntry.calendar_id == world.anna, JournalEntry.seq == 4)).scalar_one()
        assert tombstone.item_uid == uid and session.get(Booking, gone) is None


def test_blocked_time_is_journaled(world: World) -> None:
    with world.runtime.db.write() as session:
        item = blocked.create_blocked(session, world.business, calendar_id=world.anna,
                                      start=dt.datetime(2026, 12, 1, 12),
                                      end=dt.datetime(2026, 12, 1, 13), now=NOW)
        blocked.update_blocked(session, world.business, item.id, now=NOW, title="Lunch")
        blocked.delete_blocked(session, world.business, item.id, NOW)
    assert world.changes(world.anna, since=1) == [(4, "blocked", item.id, "delete")]


def test_uids_are_random_and_stable(world: World) -> None:
    booking = world.book(world.anna, dt.datetime(2026, 12, 1, 10), client_id=world.client,
                         notes="Ida Jensen")
    with world.runtime.db.write() as session:
        uid = bookings.get_booking(session, world.business, booking).uid
        bookings.update_booking(session, world.business, booking, now=NOW,
                                start=dt.datetime(2026, 12, 3, 9), calendar_id=world.mikkel)
    with world.runtime.db.read() as session:
        assert bookings.get_booking(session, world.business, booking).uid == uid
    assert uuid.UUID(uid).version == 4 and "ida" not in uid.lower()


def test_sync_tokens_carry_the_epoch(world: World) -> None:
    with world.runtime.db.write() as session:
        epoch = journal.epoch(session)
        token = journal.make_token(epoch, 1)
        assert journal.parse_token(token, epoch) == 1
        for bad in ("1", f"{epoch}-x", "other-1", ""):
            with pytest.raises(GoneError):
                journal.parse_token(bad, epoch)
        fresh = journal.new_epoch(session)
    assert fresh != epoch
    with world.runtime.db.read() as session:
        assert journal.epoch(session) == fresh
        with pytest.raises(GoneError):
            journal.parse_token(token, fresh)


def test_pruning_raises_the_floor_and_old_positions_are_gone(world: World) -> None:
    world.book(world.anna, dt.datetime(2026, 12, 1, 10))  # seq 2, written at NOW
    later = NOW + dt.timedelta(days=100)
    with world.runtime.db.write() as session:
        recent = bookings.create_booking(session, world.business, calendar_id=world.anna,
                                         service_id=world.service,
                                         start=dt.datetime(2026, 12, 2, 10), now=later).id
    with world.runtime.db.write() as session:
        removed = journal.prune(session, later, retention_days=90)
    assert removed == 2 + 1  # anna's two old entries and mikkel's calendar entry
    with world.runtime.db.read() as session:
        anna = world.calendar(session, world.anna)
        assert (anna.journal_floor, anna.journal_seq) == (2, 3)
        with pytest.raises(GoneError):
            journal.changes_since(session, anna, 1)
        with pytest.raises(GoneError):
            journal.changes_since(session, anna, 4)  # ahead of the counter
        assert [c.item_id for c in journal.changes_since(session, anna, 2).changes] == [recent]
    with world.runtime.db.write() as session:
        assert journal.prune(session, later, retention_days=90) == 0


def test_erasing_a_client_rewrites_every_booking(world: World) -> None:
    first = world.book(world.anna, dt.datetime(2026, 12, 1, 10), client_id=world.client,
                       notes="Ida's colour formula", location="Chair 1")
    second = world.book(world.mikkel, dt.datetime(2026, 12, 2, 10), client_id=world.client,
                        notes="Ida again")
    untouched = world.book(world.anna, dt.datetime(2026, 12, 3, 10), notes="Someone else")
    with world.runtime.db.write() as session:
        count = clients.erase_client(session, world.business, world.client,
                                     NOW + dt.timedelta(hours=1))
    assert count == 2
    with world.runtime.db.read() as session:
        client = session.get(Client, world.client)
        assert client is not None and client.erased_at is not None
        assert (client.name, client.email, client.phone, client.address, client.notes) == (
            clients.ERASED_NAME, None, None, None, None)
        for booking_id in (first, second):
            row = session.get(Booking, booking_id)
            assert row is not None and row.notes is None and row.revision == 1
            assert row.client_id == world.client  # the booking stays, anonymous
        other = session.get(Booking, untouched)
        assert other is not None and other.notes == "Someone else" and other.revision == 0
    # Each copy elsewhere learns of it through the journal.
    assert world.changes(world.anna, since=3) == [(4, "booking", first, "put")]
    assert world.changes(world.mikkel, since=2) == [(3, "booking", second, "put")]
    with pytest.raises(ConflictError, match="erased"):
        world.book(world.anna, dt.datetime(2026, 12, 5, 10), client_id=world.client)
    with world.runtime.db.write() as session, pytest.raises(ConflictError, match="erased"):
        clients.update_client(session, world.business, world.client, now=NOW, name="Ida")


def test_deactivating_a_calendar_is_journaled_and_blocks_new_bookings(world: World) -> None:
    with world.runtime.db.write() as session:
        calendars.update_calendar(session, world.business, world.anna, now=NOW, active=False)
    assert world.changes(world.anna, since=1) == [(2, "calendar", world.anna, "delete")]
    with pytest.raises(ConflictError, match="inactive"):
        world.book(world.anna, dt.datetime(2026, 12, 1, 10))
    with world.runtime.db.write() as session:
        assert [c.id for c in calendars.list_calendars(session, world.business,
                                                       active_only=True)] == [world.mikkel]
        calendars.delete_calendar(session, world.business, world.mikkel, NOW)
        assert [c.id for c in calendars.list_calendars(session, world.business)] == [world.anna]
    assert world.changes(world.mikkel, since=1) == [(2, "calendar", world.mikkel, "delete")]


def test_renaming_a_service_republishes_its_bookings_in_batches(world: World) -> None:
    from server.db.models import Service
    from server.domain import republish

    ids = [world.book(world.anna if n % 2 else world.mikkel,
                      dt.datetime(2026, 12, 1 + n, 10)) for n in range(7)]
    with world.runtime.db.write() as session:
        services.update_service(session, world.business, world.service, now=NOW,
                                name="Haircut deluxe")
        assert session.get(Service, world.service).republish_after == 0  # type: ignore
    assert republish.run(world.runtime.db, "service", world.service, NOW, batch=3) == 7
    with world.runtime.db.read() as session:
        assert session.get(Service, world.service).republish_after is None  # type: ignore
        for booking_id in ids:
            row = session.get(Booking, booking_id)
            assert row is not None
            calendar = world.calendar(session, row.calendar_id)
            assert row.seq == max(c.seq for c in journal.changes_since(
                session, calendar, 1).changes if c.item_id == booking_id)
    # Each booking's latest journal entry is the re-publication (after its creation).
    assert [kind for _, kind, _, _ in world.changes(world.anna, since=4)] == ["booking"] * 3


def test_an_interrupted_republication_is_resumed(world: World) -> None:
    from server.db.models import Calendar as CalendarRow
    from server.domain import republish

    first = world.book(world.anna, dt.datetime(2026, 12, 1, 10))
    second = world.book(world.anna, dt.datetime(2026, 12, 2, 10))
    with world.runtime.db.write() as session:
        calendars.update_calendar(session, world.business, world.anna, now=NOW, name="Anna B.")
        # As if the process died after re-publishing the first booking.
        session.get(CalendarRow, world.anna).republish_after = first  # type: ignore[union-attr]
    assert republish.resume_all(world.runtime.db, NOW) == 1
    assert world.changes(world.anna, since=4) == [(5, "booking", second, "put")]
    assert republish.resume_all(world.runtime.db, NOW) == 0

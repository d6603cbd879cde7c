"""The provider-neutral sync engine (server/sync/) driven through the adapter contract, once per
provider: each provider brings a harness over its fake (real HTTP on loopback) and the same
tests run for all of them: Google, Microsoft Graph, and CalDAV against two real servers (stock
Radicale and Xandikos on loopback, tests/caldav_servers.py).

What every provider must give, through the engine alone: convergence (a booking created, moved,
cancelled leaves exactly one copy, then none; a second pass writes nothing), busy time read
back into blocking mirrored events (free time does not block), and an expired cursor answered
by a full read that reconciles (what vanished unseen leaves the mirror, our deleted copy comes
back)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import pytest
from sqlalchemy import select

from caldav_servers import SERVERS as CALDAV_SERVERS
from caldav_world import CalDAVWorld, make_caldav_world
from fakes import FakeGoogle
from fakes.microsoft_fake import FakeMicrosoft
from google_world import World, make_world, no_sleep_api
from microsoft_world import CALENDAR, MicrosoftWorld, make_microsoft_world
from scoped_sql import business_walks, offending, recorded
from server.caldav import dav as caldav_dav
from server.caldav import pull as caldav_pull
from server.db.models import CalDAVReadState
from server.domain import bookings, journal
from server.google.copies import MARK
from server.google.provider import GoogleProvider
from server.microsoft import copies as ms_copies
from server.sync.engine import Engine, PassReport

PROVIDERS = ["google", "microsoft", "radicale", "xandikos"]
UTC = dt.timezone.utc


@dataclass(frozen=True)
class Copy:
    remote_id: str
    start: dt.datetime


class Remote(Protocol):
    """One provider's fake account as the tests see it."""

    def copies(self) -> dict[str, list[Copy]]:
        """Our copies in the write calendar (found by our tag): item reference ("booking:7")
        -> each copy."""
        ...

    def add_event(self, start: dt.datetime, end: dt.datetime, *, free: bool = False) -> str:
        """The account's owner adds an event; returns its remote id."""
        ...

    def delete(self, remote_id: str) -> None:
        """The account's owner deletes an event."""
        ...

    def expire_cursors(self) -> None:
        """Every cursor handed out so far is refused from now on."""
        ...


@dataclass
class GoogleRemote:
    world: World

    def copies(self) -> dict[str, list[Copy]]:
        found: dict[str, list[Copy]] = {}
        for event in self.world.fake.events("primary"):
            ref = event.get("extendedProperties", {}).get("private", {}).get(MARK)
            if ref is not None:
                start = dt.datetime.fromisoformat(event["start"]["dateTime"])
                found.setdefault(ref, []).append(Copy(str(event["id"]), start.astimezone(UTC)))
        return found

    def add_event(self, start: dt.datetime, end: dt.datetime, *, free: bool = False) -> str:
        body: dict[str, Any] = {"summary": "Their own", "start": {"dateTime": start.isoformat()},
                                "end": {"dateTime": end.isoformat()}}
        if free:
            body["transparency"] = "transparent"
        return str(self.world.fake.user_insert_event("primary", body)["id"])

    def delete(self, remote_id: str) -> None:
        self.world.fake.user_delete_event("primary", remote_id)

    def expire_cursors(self) -> None:
        self.world.fake.invalidate_sync_tokens("primary")


@contextmanager
def google_setup(folder: Path, database_url: str) -> Iterator[tuple[World, Remote, Engine]]:
    with FakeGoogle() as fake, make_world(folder, database_url, fake) as world:
        adapter = GoogleProvider(world.runtime, api_factory=no_sleep_api)
        yield world, GoogleRemote(world), Engine(world.runtime, worker="engine-test",
                                                 providers=[adapter])
        assert fake.internal_errors == []


@dataclass
class MicrosoftRemote:
    world: MicrosoftWorld

    def copies(self) -> dict[str, list[Copy]]:
        found: dict[str, list[Copy]] = {}
        for event in self.world.fake.mailbox.live(CALENDAR):
            props = {p["id"]: p["value"] for p in
                     event.data.get("singleValueExtendedProperties", [])}
            value = props.get(ms_copies.PROPERTY)
            if value is not None:
                ref = value.split(";")[0]
                found.setdefault(ref, []).append(Copy(event.id, event.start()))
        return found

    def add_event(self, start: dt.datetime, end: dt.datetime, *, free: bool = False) -> str:
        def when(moment: dt.datetime) -> dict[str, str]:
            utc = moment.astimezone(UTC).replace(tzinfo=None)
            return {"dateTime": utc.isoformat(), "timeZone": "UTC"}
        return self.world.fake.user_add(CALENDAR, {
            "subject": "Their own", "start": when(start), "end": when(end),
            "showAs": "free" if free else "busy"})

    def delete(self, remote_id: str) -> None:
        self.world.fake.mailbox.delete(remote_id)

    def expire_cursors(self) -> None:
        self.world.fake.mailbox.expire_tokens()


@contextmanager
def microsoft_setup(folder: Path, database_url: str
                    ) -> Iterator[tuple[MicrosoftWorld, Remote, Engine]]:
    with FakeMicrosoft() as fake, make_microsoft_world(folder, database_url, fake) as world:
        yield world, MicrosoftRemote(world), Engine(world.runtime, worker="engine-test",
                                                    providers=[world.provider()])
        assert fake.internal_errors == []


@dataclass
class CalDAVRemote:
    """The account's calendar on a real CalDAV server, reached with python-caldav as a phone
    would."""

    world: CalDAVWorld

    def _calendar(self) -> Any:
        return self.world.server.dav().calendar(url=self.world.server.calendar_url)

    def copies(self) -> dict[str, list[Copy]]:
        import icalendar
        found: dict[str, list[Copy]] = {}
        for event in self._calendar().events():
            for component in icalendar.Calendar.from_ical(event.data).walk("VEVENT"):
                mark = component.get("X-BOOKINGCAL-ITEM")
                if mark is not None:
                    start = component.decoded("DTSTART").astimezone(UTC)
                    found.setdefault(str(mark).partition("/")[0], []).append(
                        Copy(caldav_dav.name_of(str(event.url)), start))
        return found

    def add_event(self, start: dt.datetime, end: dt.datetime, *, free: bool = False) -> str:
        made = self._calendar().save_event(
            dtstart=start, dtend=end, summary="Their own",
            transp="TRANSPARENT" if free else "OPAQUE")
        return caldav_dav.name_of(str(made.url))

    def delete(self, remote_id: str) -> None:
        self.world.server.dav().delete(
            caldav_dav.resource_url(self.world.server.calendar_url, remote_id))

    def expire_cursors(self) -> None:
        """The sync tokens we hold are lost to the server: it refuses them from now on."""
        with self.world.runtime.db.write() as session:
            for state in session.query(CalDAVReadState):
                decoded = caldav_pull.decode_cursor(state.sync_token or "")
                assert decoded is not None and decoded[1] == caldav_pull.SYNC
                state.sync_token = caldav_pull.encode_cursor(
                    decoded[0], caldav_pull.SYNC, decoded[2] + "-forgotten")


def caldav_setup(kind: str) -> Callable[[Path, str], Any]:
    @contextmanager
    def setup(folder: Path, database_url: str
              ) -> Iterator[tuple[CalDAVWorld, Remote, Engine]]:
        with CALDAV_SERVERS[kind](folder / kind) as server, \
                make_caldav_world(folder, database_url, server) as world:
            yield world, CalDAVRemote(world), Engine(world.runtime, worker="engine-test",
                                                     providers=[world.provider()])
    return setup


SETUPS: dict[str, Callable[[Path, str], Any]] = {"google": google_setup,
                                                 "microsoft": microsoft_setup,
                                                 "radicale": caldav_setup("radicale"),
                                                 "xandikos": caldav_setup("xandikos")}


@dataclass
class Case:
    world: World | MicrosoftWorld | CalDAVWorld  # the business the provider is connected to
    remote: Remote
    engine: Engine

    def sync(self) -> PassReport:
        [report] = self.engine.run_once(force_pull=True)
        assert report.error is None, report.error
        return report

    def settled(self) -> None:
        """A pass, then a second one that has nothing left to write."""
        self.sync()
        again = self.sync()
        assert again.pushed is not None and again.pushed.writes == 0

    def at(self, day: int, hour: int) -> dt.datetime:
        return self.world.now + dt.timedelta(days=7 + day, hours=hour - self.world.now.hour)

    def mirrored(self) -> dict[str, bool]:
        with self.world.runtime.db.read() as session:
            table = self.engine.providers[0].tables.mirrored
            return {row.event_id: row.blocks for row in session.execute(
                select(table)).scalars()}


@pytest.fixture(params=PROVIDERS)
def case(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Iterator[Case]:
    with SETUPS[request.param](tmp_path, database_url) as (world, remote, engine):
        yield Case(world, remote, engine)


def test_create_move_cancel_leaves_exactly_one_copy_then_none(case: Case) -> None:
    world = case.world
    booking = world.book(1, 10)
    case.settled()
    [first] = case.remote.copies()[f"booking:{booking}"]
    with world.runtime.db.write() as session:
        moved = bookings.update_booking(session, world.business, booking, now=world.now,
                                        start=dt.datetime.combine(world.first_day, dt.time(15)))
        new_start = moved.start_utc
    case.settled()
    [copy] = case.remote.copies()[f"booking:{booking}"]
    assert list(case.remote.copies()) == [f"booking:{booking}"]
    assert copy.start == new_start != first.start
    with world.runtime.db.write() as session:
        bookings.cancel_booking(session, world.business, booking, now=world.now)
    case.settled()
    assert case.remote.copies() == {}


def test_busy_time_read_back_blocks_and_free_time_does_not(case: Case) -> None:
    busy = case.remote.add_event(case.at(2, 9), case.at(2, 10))
    free = case.remote.add_event(case.at(2, 11), case.at(2, 12), free=True)
    report = case.sync()
    assert report.pulled is not None and report.pulled.imported == 2
    assert case.mirrored() == {busy: True, free: False}
    case.remote.delete(busy)
    case.sync()
    assert case.mirrored() == {free: False}


def test_an_expired_cursor_means_a_full_read_that_reconciles(case: Case) -> None:
    booking = case.world.book(1, 10)
    kept = case.remote.add_event(case.at(2, 9), case.at(2, 10))
    vanished = case.remote.add_event(case.at(3, 9), case.at(3, 10))
    case.settled()
    assert set(case.mirrored()) == {kept, vanished}
    # Deleted while the cursor expires: no incremental read ever tells of these deletions.
    case.remote.expire_cursors()
    case.remote.delete(vanished)
    [copy] = case.remote.copies()[f"booking:{booking}"]
    case.remote.delete(copy.remote_id)
    report = case.sync()
    assert report.pulled is not None and report.pulled.copies_to_restore == 1
    assert case.mirrored() == {kept: True}  # reconciled, not wiped
    assert list(case.remote.copies()) == [f"booking:{booking}"]  # restored, once
    case.settled()
    assert len(case.remote.copies()[f"booking:{booking}"]) == 1


def test_a_restore_has_every_copy_written_again_once(case: Case) -> None:
    """A restore from backup starts a new database epoch (server/domain/journal.py): the
    provider may hold what was written after the backup, so the first pass of the new epoch
    queues every copy to be written again (the provider's `reconcile_epoch`, claimed once by
    one process: server/sync/epoch.py), and the passes after it write nothing more."""
    booking = case.world.book(1, 10)
    case.settled()  # the first passes record the epoch: nothing to reconcile
    with case.world.runtime.db.write() as session:
        journal.new_epoch(session)
    again = case.sync()
    assert again.pushed is not None and again.pushed.writes >= 1
    case.settled()
    assert len(case.remote.copies()[f"booking:{booking}"]) == 1


def test_a_connections_pass_names_its_business_in_every_statement(case: Case) -> None:
    """A connection's pass (its lease, reading busy time in, writing copies out, its health)
    sends only statements naming the connection's business (docs/scaling.md: one shard on a
    cluster distributed by business_id). The looks that find due connections span businesses
    by design and are not part of the pass."""
    world, engine = case.world, case.engine
    provider = engine.providers[0]
    with world.runtime.db.read() as session:
        [connection_id] = session.execute(select(provider.connections.id)).scalars()
    booking = world.book(1, 10)
    case.remote.add_event(case.at(2, 9), case.at(2, 10))
    step = ["a first pass"]
    with recorded(world.runtime.db.engine, step) as seen:
        first = engine.work_connection(provider, connection_id, world.now, force_pull=True,
                                       business_id=world.business)
        step[0] = "a move"
        with world.runtime.db.write() as session:
            bookings.update_booking(session, world.business, booking, now=world.now,
                                    start=dt.datetime.combine(world.first_day, dt.time(15)))
        moved = engine.work_connection(provider, connection_id, world.now, force_pull=True,
                                       business_id=world.business)
        step[0] = "a cancellation"
        with world.runtime.db.write() as session:
            bookings.cancel_booking(session, world.business, booking, now=world.now)
        cancelled = engine.work_connection(provider, connection_id, world.now, force_pull=True,
                                           business_id=world.business)
    assert first.error is None and first.pulled is not None and first.pulled.imported == 1
    assert first.pushed is not None and first.pushed.inserted == 1
    assert moved.pushed is not None and moved.pushed.updated == 1, moved
    assert cancelled.pushed is not None and cancelled.pushed.deleted == 1, cancelled
    assert {name for name, _ in seen} == {"a first pass", "a move", "a cancellation"}
    assert not offending(seen), offending(seen)
    walks = business_walks(world.runtime.db.engine, seen)
    assert not walks, walks

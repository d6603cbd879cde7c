"""Copies named by the former scheme (keyed by the connection's row, as versions before
December 2026 wrote them), kept at a disconnection, then the same account connected again
under a new row (real Radicale and real Xandikos, each behind the recording proxy, one of each
for the module, a fresh calendar per test): the new connection recognises them by the row the
account had before (server/caldav/former_rows.py), adopts them and writes them over in place,
keeping their names; none is created again under the current name. Another account of the
business reading the same calendar (Xandikos opens the same calendars to every user name, as a
calendar shared between two accounts) never adopts them, also when SQLite hands it the
forgotten row's id."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import icalendar
import pytest
from sqlalchemy import select

from caldav_servers import SERVERS, Quirks, Server, proxy
from caldav_world import TZ, CalDAVWorld, make_caldav_world
from server.caldav import connections, copies, discovery
from server.caldav.disconnect import disconnect
from server.db.models import CalDAVConnection, CalDAVCopy, CalDAVFormerConnection
from server.domain import bookings, businesses, calendars
from server.sync.engine import Engine

UTC = dt.timezone.utc
NUMBERS = itertools.count(1)
BOB = "bob@example.com"


@pytest.fixture(scope="module")
def fronts(tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[dict[str, tuple[Server, Quirks]]]:
    with ExitStack() as stack:
        found = {}
        for kind, start in sorted(SERVERS.items()):
            quirks = Quirks()
            real = stack.enter_context(start(tmp_path_factory.mktemp(kind)))
            found[kind] = (stack.enter_context(proxy(real, quirks)), quirks)
        yield found


@contextmanager
def world_on(front: tuple[Server, Quirks], folder: Path,
             database_url: str) -> Iterator[tuple[CalDAVWorld, Quirks]]:
    """A world on a calendar of its own (the module shares the servers)."""
    server, quirks = front
    number = next(NUMBERS)
    made = server.dav().principal().make_calendar(name=f"Former {number}",
                                                  cal_id=f"former-{number}")
    quirks.clear_faults()
    quirks.answered.clear()
    with make_caldav_world(folder, database_url,
                           dataclasses.replace(server, calendar_url=str(made.url))) as world:
        yield world, quirks


def sync(world: CalDAVWorld) -> None:
    for report in Engine(world.runtime, worker="t", unthrottled=True,
                         providers=[world.provider()]).run_once(force_pull=True):
        assert report.error is None, report.error


def held(world: CalDAVWorld) -> dict[str, list[tuple[str, dt.datetime]]]:
    """Our copies on the server: item reference -> [(resource name, start)]."""
    found: dict[str, list[tuple[str, dt.datetime]]] = {}
    for event in world.server.dav().calendar(url=world.server.calendar_url).events():
        for component in icalendar.Calendar.from_ical(event.data).walk("VEVENT"):
            mark = component.get("X-BOOKINGCAL-ITEM")
            if mark is not None:
                found.setdefault(str(mark).partition("/")[0], []).append(
                    (str(event.url).rstrip("/").rpartition("/")[2],
                     component["DTSTART"].dt.astimezone(UTC)))
    return found


def created(quirks: Quirks) -> Counter[str]:
    return Counter(path.rpartition("/")[2] for method, path, status in quirks.answered
                   if method == "PUT" and status == 201)


def account(world: CalDAVWorld, username: str) -> discovery.Account:
    return discovery.discover(world.server.url, username, world.server.password,
                              allow_http=True, allow_private=True, timeout=10)


def connect(world: CalDAVWorld, username: str, calendar_id: int) -> int:
    """A new connection of `username`, writing `calendar_id`'s copies to the world's calendar."""
    with world.runtime.db.write() as session:
        connection = connections.connect(
            session, world.runtime.keyring, world.business, server_url=world.server.url,
            username=username, password=world.server.password,
            account=account(world, username), now=world.now).id
        connections.update_settings(session, world.business, connection, now=world.now,
                                    calendars=[connections.CalendarChoice(
                                        calendar_id, world.server.calendar_url)])
    return connection


def former_copy(world: CalDAVWorld, booking: int) -> str:
    """The copy of `booking` as a version before the account-keyed names wrote and recorded it:
    named after the connection's row. Returns that name."""
    secret = copies.key_secret(world.runtime.keyring)
    with world.runtime.db.read() as session:
        row = session.get(CalDAVConnection, world.connection)
        current = copies.copy_name(secret, copies.owner_key(row.business_id, row.username),
                                   "booking", booking)
    old = copies.former_copy_name(secret, world.connection, "booking", booking)
    assert old != current
    calendar = world.server.dav().calendar(url=world.server.calendar_url)
    event = calendar.event_by_url(world.server.calendar_url + current)
    text = copies.with_uid(event.data, old)
    event.delete()
    calendar.save_event(text)  # python-caldav names the resource after the UID
    with world.runtime.db.write() as session:
        [copy] = session.execute(select(CalDAVCopy).where(
            CalDAVCopy.business_id == world.business,
            CalDAVCopy.item_id == booking)).scalars()
        copy.event_id, copy.etag = old, None
    return old


def disconnect_keeping(world: CalDAVWorld, booking: int) -> tuple[str, dt.datetime]:
    """Sync `booking`'s copy, rename it to its former name, disconnect the account keeping
    it, then move the booking: (the former name, the booking's new start)."""
    sync(world)
    old = former_copy(world, booking)
    assert [name for name, _ in held(world)[f"booking:{booking}"]] == [old]
    report = disconnect(world.runtime, world.business, world.connection, keep_copies=True)
    assert report.copies_kept == 1
    with world.runtime.db.write() as session:
        bookings.update_booking(session, world.business, booking, now=world.now,
                                start=dt.datetime.combine(
                                    world.first_day + dt.timedelta(days=3), dt.time(15)))
        moved_to = bookings.get_booking(session, world.business, booking).start_utc
    return old, moved_to


def adopted_in_place(world: CalDAVWorld, quirks: Quirks, booking: int, old: str,
                     moved_to: dt.datetime) -> None:
    """The account connected again: one copy of the booking, its former name, the new time."""
    quirks.answered.clear()
    sync(world)
    sync(world)
    after = held(world)
    assert after == {f"booking:{booking}": [(old, moved_to)]}, after
    assert not created(quirks), created(quirks)
    with world.runtime.db.read() as session:
        rows = [(row.connection_id, row.event_id) for row in session.execute(
            select(CalDAVCopy).where(CalDAVCopy.business_id == world.business)).scalars()]
    assert rows == [(world.connection, old)], rows


@pytest.mark.parametrize("kind", sorted(SERVERS))
def test_kept_copies_of_the_former_scheme_are_adopted_on_reconnect(
        fronts: dict[str, tuple[Server, Quirks]], kind: str, tmp_path: Path,
        database_url: str) -> None:
    with world_on(fronts[kind], tmp_path, database_url) as (world, quirks):
        booking = world.book(1, 9)
        former_row = world.connection
        old, moved_to = disconnect_keeping(world, booking)
        with world.runtime.db.write() as session:
            # Another salon connects an account meanwhile: the new row's id is not the old
            # one's (SQLite would hand out the highest id again).
            other = businesses.create_business(session, name="Other", timezone=TZ,
                                               now=world.now)
            connections.connect(session, world.runtime.keyring, other.id,
                                server_url=world.server.url, username=world.server.user,
                                password=world.server.password,
                                account=account(world, world.server.user), now=world.now)
        world.connection = connect(world, world.server.user, world.anna)
        assert world.connection != former_row
        adopted_in_place(world, quirks, booking, old, moved_to)
        quirks.answered.clear()
        sync(world)
        assert not [m for m, _, _ in quirks.answered if m in ("PUT", "DELETE")]
        with world.runtime.db.read() as session:
            remembered = [(row.business_id, row.connection_id) for row in session.execute(
                select(CalDAVFormerConnection)).scalars()]
        assert remembered == [(world.business, former_row)]


def test_another_account_never_adopts_them(fronts: dict[str, tuple[Server, Quirks]],
                                           tmp_path: Path, database_url: str) -> None:
    with world_on(fronts["xandikos"], tmp_path, database_url) as (world, quirks):
        booking = world.book(1, 9)
        former_row = world.connection
        old, moved_to = disconnect_keeping(world, booking)
        # Bob's account reads the same calendar for his own employee calendar, connected
        # right after: on SQLite under the forgotten row's id.
        with world.runtime.db.write() as session:
            bob_calendar = calendars.create_calendar(session, world.business, name="Bob",
                                                     now=world.now).id
        bob = connect(world, BOB, bob_calendar)
        if database_url.startswith("sqlite"):
            assert bob == former_row
        quirks.answered.clear()
        sync(world)
        sync(world)
        untouched = held(world)
        assert {ref: [name for name, _ in found] for ref, found in untouched.items()} == {
            f"booking:{booking}": [old]}, untouched
        assert not [m for m, _, _ in quirks.answered if m in ("PUT", "DELETE")]
        with world.runtime.db.read() as session:
            assert session.execute(select(CalDAVCopy).where(
                CalDAVCopy.business_id == world.business)).first() is None
        # Anna's account connected again adopts them; Bob's stays out of it.
        world.connection = connect(world, world.server.user, world.anna)
        adopted_in_place(world, quirks, booking, old, moved_to)
        # The business deleted, its record of forgotten rows goes with it.
        with world.runtime.db.write() as session:
            businesses.delete_business(session, world.business)
        with world.runtime.db.read() as session:
            assert session.execute(select(CalDAVFormerConnection)).first() is None

"""Disconnecting a CalDAV account keeping our copies, then connecting the same account again
(real Radicale behind the recording proxy): the kept copies are recognised by their names and
adopted, written over in place (moved bookings show their new time, a booking cancelled in the
meantime loses its copy), never duplicated beside a new one (no resource is created); in
both directions. The copies' names are keyed by the account in the business, not by the
connection's row (server/caldav/copies.py), so the new connection's names are the kept ones."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import icalendar
import pytest

from caldav_servers import Quirks, proxy, radicale
from caldav_world import TZ, CalDAVWorld, make_caldav_world
from server.caldav import connections, discovery
from server.caldav.disconnect import disconnect
from server.domain import bookings, businesses
from server.sync.engine import Engine, PassReport

UTC = dt.timezone.utc


@pytest.fixture
def setup(tmp_path: Path, database_url: str) -> Iterator[tuple[CalDAVWorld, Quirks]]:
    quirks = Quirks()
    with radicale(tmp_path / "radicale") as real, proxy(real, quirks) as server, \
            make_caldav_world(tmp_path, database_url, server) as world:
        yield world, quirks


def sync(world: CalDAVWorld) -> PassReport:
    reports = Engine(world.runtime, worker="t", unthrottled=True,
                     providers=[world.provider()]).run_once(force_pull=True)
    [report] = [r for r in reports if r.connection_id == world.connection]
    assert report.error is None, report.error
    return report


def held(world: CalDAVWorld) -> dict[str, list[tuple[str, dt.datetime]]]:
    """Our copies on the server: item reference -> [(resource name, start)]."""
    found: dict[str, list[tuple[str, dt.datetime]]] = {}
    calendar = world.server.dav().calendar(url=world.server.calendar_url)
    for event in calendar.events():
        for component in icalendar.Calendar.from_ical(event.data).walk("VEVENT"):
            mark = component.get("X-BOOKINGCAL-ITEM")
            if mark is not None:
                found.setdefault(str(mark).partition("/")[0], []).append(
                    (str(event.url).rstrip("/").rpartition("/")[2],
                     component["DTSTART"].dt.astimezone(UTC)))
    return found


def account(world: CalDAVWorld) -> discovery.Account:
    server = world.server
    return discovery.discover(server.url, server.user, server.password, allow_http=True,
                              allow_private=True, timeout=10)


def reconnect(world: CalDAVWorld, direction: str = "both") -> None:
    server = world.server
    found = account(world)
    with world.runtime.db.write() as session:
        world.connection = connections.connect(
            session, world.runtime.keyring, world.business, server_url=server.url,
            username=server.user, password=server.password, account=found, now=world.now,
            direction=direction).id
        connections.update_settings(session, world.business, world.connection, now=world.now,
                                    calendars=[connections.CalendarChoice(
                                        world.anna, server.calendar_url)])


# Each direction on one database (Radicale starts for each case).
@pytest.mark.parametrize(("database_url", "direction"), [
    pytest.param("sqlite", "both", id="sqlite-both"),
    pytest.param("postgresql", "to_caldav", id="postgresql-to_caldav",
                 marks=pytest.mark.postgres)], indirect=["database_url"])
def test_kept_copies_are_adopted_on_reconnect_not_duplicated(
        setup: tuple[CalDAVWorld, Quirks], direction: str) -> None:
    world, quirks = setup
    moved, cancelled, kept = world.book(1, 9), world.book(2, 10), world.book(3, 11)
    sync(world)
    before = held(world)
    assert sorted(before) == [f"booking:{b}" for b in (moved, cancelled, kept)]
    report = disconnect(world.runtime, world.business, world.connection, keep_copies=True)
    assert report.copies_kept == 3 and held(world) == before
    new_start = dt.datetime.combine(world.first_day + dt.timedelta(days=4), dt.time(14))
    with world.runtime.db.write() as session:
        bookings.update_booking(session, world.business, moved, now=world.now,
                                start=new_start)
        bookings.cancel_booking(session, world.business, cancelled, world.now)
        booked = bookings.get_booking(session, world.business, moved).start_utc
        # Meanwhile another salon connected an account: the new connection's id is not the
        # old one's (SQLite would hand out the highest id again).
        other = businesses.create_business(session, name="Other", timezone=TZ, now=world.now)
        connections.connect(session, world.runtime.keyring, other.id,
                            server_url=world.server.url, username=world.server.user,
                            password=world.server.password, account=account(world),
                            now=world.now)
    reconnect(world, direction)
    quirks.answered.clear()
    sync(world)
    sync(world)
    after = held(world)
    assert sorted(after) == [f"booking:{moved}", f"booking:{kept}"], after
    # In place: the same resources as before, the moved one at its new time.
    assert after[f"booking:{moved}"] == [(before[f"booking:{moved}"][0][0], booked)]
    assert after[f"booking:{kept}"] == before[f"booking:{kept}"]
    created = Counter(path for method, path, status in quirks.answered
                      if method == "PUT" and status == 201)
    assert not created, created
    again = sync(world)
    assert again.pushed is not None and again.pushed.writes == 0

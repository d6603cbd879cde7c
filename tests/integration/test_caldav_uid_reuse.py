"""A server that will not take a deleted UID again (Nextcloud: its trash bin keeps the deleted
event, and a create carrying its UID is answered 400 "Deleted calendar object with uid already
exists"), reproduced by the quirk proxy in front of real Radicale: a copy deleted on the phone
is written again under the next generation's name and UID (stable per booking and
generation), remembered, and stays one copy; deleted again, the generation after; later
changes update it in place; nothing is recorded as a failed write."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import icalendar
import pytest
from sqlalchemy import select

from caldav_servers import Quirks, proxy, radicale
from caldav_world import CalDAVWorld, make_caldav_world
from server.caldav import copies
from server.db.models import CalDAVCopy, CalDAVWriteError
from server.domain import bookings
from server.sync.engine import Engine, PassReport

UTC = dt.timezone.utc


@pytest.fixture
def setup(tmp_path: Path, database_url: str) -> Iterator[tuple[CalDAVWorld, Quirks]]:
    quirks = Quirks(refuse_deleted_uids=True)
    with radicale(tmp_path / "radicale") as real, proxy(real, quirks) as server, \
            make_caldav_world(tmp_path, database_url, server) as world:
        yield world, quirks


def sync(world: CalDAVWorld) -> PassReport:
    [report] = Engine(world.runtime, worker="t", providers=[world.provider()]).run_once(
        force_pull=True)
    assert report.error is None, report.error
    return report


def ours(world: CalDAVWorld) -> list[tuple[str, str, str, dt.datetime, object]]:
    """(resource name, UID, item reference, start, the phone's event) of each copy there."""
    found = []
    for event in world.server.dav().calendar(url=world.server.calendar_url).events():
        for component in icalendar.Calendar.from_ical(event.data).walk("VEVENT"):
            mark = component.get("X-BOOKINGCAL-ITEM")
            if mark is not None:
                found.append((str(event.url).rstrip("/").rpartition("/")[2],
                              str(component["UID"]), str(mark).partition("/")[0],
                              component["DTSTART"].dt.astimezone(UTC), event))
    return found


def recorded(world: CalDAVWorld) -> tuple[str, int]:
    with world.runtime.db.read() as session:
        [copy] = session.execute(select(CalDAVCopy)).scalars()
        assert session.execute(select(CalDAVWriteError)).first() is None
        return copy.event_id, copy.restored_count


def test_a_deleted_uid_the_server_refuses_gets_the_next_generation_once(
        setup: tuple[CalDAVWorld, Quirks]) -> None:
    world, quirks = setup
    booking = world.book(1, 10)
    sync(world)
    [(first, uid, ref, _, event)] = ours(world)
    assert ref == f"booking:{booking}" and uid == first.removesuffix(".ics")
    event.delete()  # on the phone: the server now keeps its UID
    assert quirks.deleted_uids == {uid}
    sync(world)
    assert quirks.uids_refused == 1
    [(second, uid2, ref2, _, event)] = ours(world)
    assert (second, uid2, ref2) == (copies.next_name(first), second.removesuffix(".ics"), ref)
    assert recorded(world)[0] == second
    quiet = sync(world)
    assert quiet.pushed is not None and quiet.pushed.writes == 0
    event.delete()  # again: the generation after
    sync(world)
    [(third, _, _, _, _)] = ours(world)
    assert third == copies.next_name(second) and recorded(world)[0] == third
    assert quirks.uids_refused == 2
    # A change of the booking updates that copy in place.
    new_start = dt.datetime.combine(world.first_day + dt.timedelta(days=3), dt.time(15))
    with world.runtime.db.write() as session:
        bookings.update_booking(session, world.business, booking, now=world.now,
                                start=new_start)
        moved = bookings.get_booking(session, world.business, booking).start_utc
    sync(world)
    [(name, _, _, start, _)] = ours(world)
    assert (name, start) == (third, moved)
    created = Counter(path.rpartition("/")[2] for method, path, status in quirks.answered
                      if method == "PUT" and status == 201)
    assert created == {first: 1, second: 1, third: 1}, created
    assert quirks.uids_refused == 2

"""Our copies in a CalDAV calendar when the database lost their record, or the server refuses
to delete one (real Radicale and real Xandikos, each behind the quirk proxy: one server and
proxy of each kind for the module, a fresh calendar per test).

- After a restore (a new epoch, the copies' rows gone), the engine reads the calendar again and
  adopts the copies it finds under their names, under the current naming scheme (keyed by the
  account in the business) and under the former one (keyed by the connection's row, what
  versions before December 2026 wrote), or by their UID when a client stored one under a name
  of its own: written over in place, never created again beside.
- A server that refuses to delete our copy of a cancelled booking (403, as Nextcloud may with
  its trash bin) gets the copy overwritten as cancelled and free instead (it blocks no one's
  time and shows as cancelled); when it refuses that too, the booking's row says what to do
  by hand, the attempts stop after a bounded number, and the calendar's other copies go on."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import icalendar
import pytest
from sqlalchemy import delete, select

from caldav_servers import SERVERS, Quirks, Server, proxy
from caldav_world import CalDAVWorld, make_caldav_world
from server.caldav import copies, status
from server.db.models import CalDAVCalendarMap, CalDAVConnection, CalDAVCopy, CalDAVWriteError
from server.domain import bookings, journal
from server.sync import item_errors
from server.sync.engine import Engine, PassReport

UTC = dt.timezone.utc
NUMBERS = itertools.count(1)


@pytest.fixture(scope="module", params=sorted(SERVERS))
def front(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Quirks]]:
    quirks = Quirks()
    with SERVERS[request.param](tmp_path_factory.mktemp(request.param)) as real, \
            proxy(real, quirks) as server:
        yield server, quirks


@pytest.fixture
def setup(front: tuple[Server, Quirks], tmp_path: Path,
          database_url: str) -> Iterator[tuple[CalDAVWorld, Quirks]]:
    """A world on a calendar of its own (the module shares the server)."""
    server, quirks = front
    number = next(NUMBERS)
    made = server.dav().principal().make_calendar(name=f"Work {number}",
                                                  cal_id=f"work-{number}")
    quirks.clear_faults()
    quirks.answered.clear()
    quirks.forbid_writes = False
    with make_caldav_world(tmp_path, database_url,
                           dataclasses.replace(server, calendar_url=str(made.url))) as world:
        yield world, quirks
    quirks.clear_faults()
    quirks.forbid_writes = False


def sync(world: CalDAVWorld) -> PassReport:
    [report] = Engine(world.runtime, worker="t", unthrottled=True,
                      providers=[world.provider()]).run_once(force_pull=True)
    assert report.error is None, report.error
    return report


def held(world: CalDAVWorld) -> dict[str, list[tuple[str, str, str]]]:
    """Our copies on the server: item reference -> [(resource name, UID, STATUS)]."""
    found: dict[str, list[tuple[str, str, str]]] = {}
    for event in world.server.dav().calendar(url=world.server.calendar_url).events():
        for component in icalendar.Calendar.from_ical(event.data).walk("VEVENT"):
            mark = component.get("X-BOOKINGCAL-ITEM")
            if mark is not None:
                found.setdefault(str(mark).partition("/")[0], []).append(
                    (str(event.url).rstrip("/").rpartition("/")[2], str(component["UID"]),
                     str(component.get("STATUS", ""))))
    return found


def created(quirks: Quirks) -> Counter[str]:
    return Counter(path.rpartition("/")[2] for method, path, status in quirks.answered
                   if method == "PUT" and status == 201)


def rename(world: CalDAVWorld, name: str, new_name: str) -> None:
    """Move our copy `name` to `new_name` (its UID too), as the former version wrote it."""
    calendar = world.server.dav().calendar(url=world.server.calendar_url)
    event = calendar.event_by_url(world.server.calendar_url + name)
    text = copies.with_uid(event.data, new_name)
    event.delete()
    calendar.save_event(text)  # python-caldav names the resource after the UID
    assert world.server.calendar_url + new_name in [str(e.url) for e in calendar.events()]


def store_elsewhere(world: CalDAVWorld, name: str, new_name: str) -> None:
    """Our copy `name` stored again by a client under a resource name of its own, its UID
    kept."""
    client = world.server.dav()
    event = client.calendar(url=world.server.calendar_url).event_by_url(
        world.server.calendar_url + name)
    text = event.data
    event.delete()
    answer = client.put(world.server.calendar_url + new_name, text,
                        {"Content-Type": "text/calendar; charset=utf-8"})
    assert answer.status == 201, answer.status


def test_copies_of_both_naming_schemes_are_adopted_after_a_restore(
        setup: tuple[CalDAVWorld, Quirks]) -> None:
    world, quirks = setup
    former, current, elsewhere = world.book(1, 9), world.book(2, 10), world.book(4, 12)
    sync(world)
    secret = copies.key_secret(world.runtime.keyring)
    with world.runtime.db.read() as session:
        connection = session.get(CalDAVConnection, world.connection)
        names = {booking: copies.copy_name(secret, copies.owner_key(
            connection.business_id, connection.username), "booking", booking)
            for booking in (former, current, elsewhere)}
        old_name = copies.former_copy_name(secret, connection.id, "booking", former)
    assert old_name != names[former]
    # The copy of `former` as a version before the account-keyed names wrote it.
    rename(world, names[former], old_name)
    # The copy of `elsewhere` under a name a client chose: its UID tells it is ours.
    store_elsewhere(world, names[elsewhere], "stored-by-a-phone.ics")
    # Restored from a backup taken before either copy was recorded: a new epoch, no rows;
    # meanwhile the booking moved.
    moved_to = dt.datetime.combine(world.first_day + dt.timedelta(days=3), dt.time(15))
    with world.runtime.db.write() as session:
        session.execute(delete(CalDAVCopy))
        journal.new_epoch(session)
        bookings.update_booking(session, world.business, former, now=world.now,
                                start=moved_to)
    quirks.answered.clear()
    report = sync(world)
    assert report.pulled is not None and report.pulled.unknown_copies == 3
    after = held(world)
    assert {ref: [name for name, _, _ in found] for ref, found in after.items()} == {
        f"booking:{former}": [old_name], f"booking:{current}": [names[current]],
        f"booking:{elsewhere}": ["stored-by-a-phone.ics"]}, after
    assert not created(quirks), created(quirks)
    with world.runtime.db.read() as session:
        rows = {row.item_id: row.event_id for row in session.execute(
            select(CalDAVCopy)).scalars()}
    assert rows == {former: old_name, current: names[current],
                    elsewhere: "stored-by-a-phone.ics"}
    # Written over in place: the moved booking's copy shows its new time.
    calendar = world.server.dav().calendar(url=world.server.calendar_url)
    [component] = icalendar.Calendar.from_ical(calendar.event_by_url(
        world.server.calendar_url + old_name).data).walk("VEVENT")
    with world.runtime.db.read() as session:
        starts = bookings.get_booking(session, world.business, former).start_utc
    assert component["DTSTART"].dt.astimezone(UTC) == starts
    quiet = sync(world)
    assert quiet.pushed is not None and quiet.pushed.writes == 0


def transparency(world: CalDAVWorld, name: str) -> str:
    calendar = world.server.dav().calendar(url=world.server.calendar_url)
    [component] = icalendar.Calendar.from_ical(calendar.event_by_url(
        world.server.calendar_url + name).data).walk("VEVENT")
    return str(component.get("TRANSP", "OPAQUE"))


def test_a_refused_delete_overwrites_the_copy_as_cancelled(
        setup: tuple[CalDAVWorld, Quirks]) -> None:
    world, quirks = setup
    cancelled, kept = world.book(1, 9), world.book(2, 10)
    sync(world)
    [(name, uid, _)] = held(world)[f"booking:{cancelled}"]
    quirks.refuse_delete_of.add(name)  # Nextcloud: "cannot move it to the trash bin"
    with world.runtime.db.write() as session:
        bookings.cancel_booking(session, world.business, cancelled, world.now)
    later = world.book(3, 11)
    report = sync(world)
    assert report.pushed is not None and not report.pushed.failed, report.pushed
    after = held(world)
    # Still there, but cancelled and free: it blocks no one and shows as cancelled.
    assert after[f"booking:{cancelled}"] == [(name, uid, "CANCELLED")]
    assert transparency(world, name) == "TRANSPARENT"
    assert sorted(after) == sorted(f"booking:{b}" for b in (cancelled, kept, later))
    with world.runtime.db.read() as session:
        assert session.execute(select(CalDAVWriteError)).first() is None
        [mapping] = session.execute(select(CalDAVCalendarMap)).scalars()
        assert mapping.last_error is None
        rows = {row.item_id: row.deleted for row in session.execute(
            select(CalDAVCopy)).scalars()}
        assert rows == {cancelled: True, kept: False, later: False}
    quiet = sync(world)
    assert quiet.pushed is not None and quiet.pushed.writes == 0
    assert [m for m, path, _ in quirks.answered if path.endswith(name)].count("DELETE") == 1


def test_a_copy_the_server_will_neither_delete_nor_change_is_reported_and_given_up(
        setup: tuple[CalDAVWorld, Quirks]) -> None:
    world, quirks = setup
    cancelled, kept = world.book(1, 9), world.book(2, 10)
    sync(world)
    [(name, _, _)] = held(world)[f"booking:{cancelled}"]
    quirks.forbid_resources.add(name)
    with world.runtime.db.write() as session:
        bookings.cancel_booking(session, world.business, cancelled, world.now)
    later = world.book(3, 11)
    sync(world)
    # The calendar's other copies go on; the refused one is the booking's own error.
    assert sorted(held(world)) == sorted(f"booking:{b}" for b in (cancelled, kept, later))
    with world.runtime.db.read() as session:
        [mapping] = session.execute(select(CalDAVCalendarMap)).scalars()
        assert mapping.last_error is None
        [error] = session.execute(select(CalDAVWriteError)).scalars()
        assert error.item_id == cancelled
        [account] = status.accounts(session, world.business, world.runtime.clock.now(),
                                    world.runtime.config.caldav)
    [shown] = account.calendars[0].item_errors
    assert f"booking {cancelled}" in shown and "refused to delete" in shown \
        and "delete it by hand" in shown and "trash" in shown, shown
    # Tried again as its backoff allows (each pass at the retry time), a bounded number of
    # times, then left alone even days later.
    for _ in range(item_errors.GIVE_UP_AFTER + 3):
        with world.runtime.db.read() as session:
            [error] = session.execute(select(CalDAVWriteError)).scalars()
            wait = error.retry_at - world.runtime.clock.now()
        world.runtime.clock.advance(max(wait, dt.timedelta(days=1) if error.gave_up
                                        else dt.timedelta(0)))
        sync(world)
    deletes = [m for m, path, _ in quirks.answered if path.endswith(name) and m == "DELETE"]
    assert len(deletes) == item_errors.GIVE_UP_AFTER, len(deletes)
    with world.runtime.db.read() as session:
        [error] = session.execute(select(CalDAVWriteError)).scalars()
        assert error.gave_up and error.failures == item_errors.GIVE_UP_AFTER
        [account] = status.accounts(session, world.business, world.runtime.clock.now(),
                                    world.runtime.config.caldav)
    [shown] = account.calendars[0].item_errors
    assert "not tried again" in shown, shown
    # Deleted by hand, the copy is gone for good: the next full read finds nothing to do.
    quirks.forbid_resources.clear()
    world.server.dav().calendar(url=world.server.calendar_url).event_by_url(
        world.server.calendar_url + name).delete()
    world.runtime.clock.advance(dt.timedelta(days=8))  # past the weekly full read
    sync(world)
    assert f"booking:{cancelled}" not in held(world)

"""CalDAV as a provider, against real servers (stock Radicale and Xandikos on loopback,
tests/caldav_servers.py), reached through the engine alone: a user's event made there with
python-caldav (as a phone would) blocking and then unblocking an online booking slot; repeating
events expanded with their exceptions; declined, cancelled, free, all-day and floating events
in the mirror's vocabulary; sync-token loss answered by a full read without duplicates; a
server refusing sync-collection polled by ETags (one request when idle); a PUT answered without
an ETag; a read-only calendar and a refused password reported as something to act on."""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import icalendar
import pytest
from sqlalchemy import select

from caldav_servers import SERVERS, Quirks, Server, proxy
from caldav_world import TZ, CalDAVWorld, make_caldav_world
from server.caldav import connections, dav, discovery
from server.caldav.client import CalDAVClient
from server.config import AvailabilityConfig
from server.db.models import CalDAVCalendarMap, CalDAVConnection, CalDAVCopy, CalDAVMirroredEvent
from server.domain import bookings, hours, schedules
from server.domain.timeutil import zone
from server.errors import InvalidError
from server.sync.addresses import UrlGuard
from server.sync.engine import Engine, PassReport
from server.sync.errors import SyncError

UTC = dt.timezone.utc


def _world(request: pytest.FixtureRequest, tmp_path: Path, database_url: str,
           quirks: Quirks | None = None) -> Iterator[CalDAVWorld]:
    with ExitStack() as stack:
        server: Server = stack.enter_context(SERVERS[request.param](tmp_path / "server"))
        if quirks is not None:
            server = stack.enter_context(proxy(server, quirks))
        yield stack.enter_context(make_caldav_world(tmp_path, database_url, server))


@pytest.fixture(params=["radicale", "xandikos"])
def world(request: pytest.FixtureRequest, tmp_path: Path,
          database_url: str) -> Iterator[CalDAVWorld]:
    yield from _world(request, tmp_path, database_url)


QUIRKS = Quirks()


@pytest.fixture(params=["radicale", "xandikos"])
def quirky(request: pytest.FixtureRequest, tmp_path: Path,
           database_url: str) -> Iterator[tuple[CalDAVWorld, Quirks]]:
    quirks = Quirks()
    for made in _world(request, tmp_path, database_url, quirks):
        yield made, quirks


def sync(world: CalDAVWorld) -> PassReport:
    [report] = Engine(world.runtime, worker="t", providers=[world.provider()]).run_once(
        force_pull=True)
    assert report.error is None, report.error
    return report


def calendar(world: CalDAVWorld) -> Any:
    return world.server.dav().calendar(url=world.server.calendar_url)


def local(world: CalDAVWorld, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(world.first_day + dt.timedelta(days=day), dt.time(hour, minute),
                               tzinfo=zone(TZ))


def put_event(world: CalDAVWorld, text: str) -> str:
    """A user's event made on the server with python-caldav; its resource name."""
    return dav.name_of(str(calendar(world).save_event(text).url))


def vevent(uid: str, start: str, end: str, *extra: str) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//phone//EN", "BEGIN:VEVENT",
             f"UID:{uid}", "DTSTAMP:20200101T000000Z", start, end, "SUMMARY:Their own",
             *extra, "END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def stamp(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def mirrored(world: CalDAVWorld) -> dict[str, bool]:
    with world.runtime.db.read() as session:
        return {row.event_id: row.blocks for row in session.execute(
            select(CalDAVMirroredEvent)).scalars()}


def online_slots(world: CalDAVWorld, day: int) -> list[str]:
    first = world.first_day + dt.timedelta(days=day)
    with world.runtime.db.read() as session:
        _, [answer] = schedules.availability(
            session, world.business, [world.anna], world.service, first,
            first + dt.timedelta(days=1), world.now, AvailabilityConfig())
    return [slot.strftime("%H:%M") for slot in answer.slots]


def test_a_phone_event_blocks_then_unblocks_an_online_slot(world: CalDAVWorld) -> None:
    with world.runtime.db.write() as session:
        hours.set_weekly(session, world.business, world.anna, [
            hours.Interval(day, dt.time(8), dt.time(17)) for day in range(7)])
    sync(world)
    assert "10:00" in online_slots(world, 1)
    made = calendar(world).save_event(dtstart=local(world, 1, 10), dtend=local(world, 1, 11),
                                      summary="Dentist")
    sync(world)
    assert "10:00" not in online_slots(world, 1) and "11:00" in online_slots(world, 1)
    with world.runtime.db.write() as session, pytest.raises(Exception, match="CalDAV event"):
        bookings.create_booking(session, world.business, calendar_id=world.anna,
                                service_id=world.service, start=local(world, 1, 10),
                                now=world.now, source="online",
                                rules=world.runtime.config.availability)
    made.delete()
    sync(world)
    assert "10:00" in online_slots(world, 1)


def test_repeating_events_expand_and_follow_their_exceptions(world: CalDAVWorld) -> None:
    start = local(world, 0, 9)
    name = put_event(world, vevent(
        "weekly-1", f"DTSTART:{stamp(start)}", f"DTEND:{stamp(start + dt.timedelta(hours=1))}",
        "RRULE:FREQ=WEEKLY;COUNT=4"))
    sync(world)
    assert len(mirrored(world)) == 4
    assert all(key.startswith(name + "#") for key in mirrored(world))
    # The phone cancels the second occurrence and moves the third: the whole resource changes.
    second, third = start + dt.timedelta(weeks=1), start + dt.timedelta(weeks=2)
    event = calendar(world).event_by_url(dav.resource_url(world.server.calendar_url, name))
    event.data = vevent(
        "weekly-1", f"DTSTART:{stamp(start)}", f"DTEND:{stamp(start + dt.timedelta(hours=1))}",
        "RRULE:FREQ=WEEKLY;COUNT=4", f"EXDATE:{stamp(second)}").replace(
        "END:VCALENDAR", "BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20200101T000000Z\r\n"
        f"RECURRENCE-ID:{stamp(third)}\r\nDTSTART:{stamp(third + dt.timedelta(hours=3))}\r\n"
        f"DTEND:{stamp(third + dt.timedelta(hours=4))}\r\nSUMMARY:Moved\r\n"
        "END:VEVENT\r\nEND:VCALENDAR")
    event.save()
    sync(world)
    with world.runtime.db.read() as session:
        starts = sorted(row.start_utc for row in session.execute(
            select(CalDAVMirroredEvent)).scalars())
    assert starts == [start.astimezone(UTC), (third + dt.timedelta(hours=3)).astimezone(UTC),
                      (start + dt.timedelta(weeks=3)).astimezone(UTC)]
    calendar(world).event_by_url(dav.resource_url(world.server.calendar_url, name)).delete()
    sync(world)
    assert mirrored(world) == {}


def test_statuses_map_onto_the_blocking_vocabulary(world: CalDAVWorld) -> None:
    at = local(world, 2, 9)
    hour = dt.timedelta(hours=1)

    def timed(uid: str, offset: int, *extra: str) -> str:
        begin = at + offset * hour
        return put_event(world, vevent(uid, f"DTSTART:{stamp(begin)}",
                                       f"DTEND:{stamp(begin + hour)}", *extra))
    busy = timed("busy", 0)
    free = timed("free", 1, "TRANSP:TRANSPARENT")
    declined = timed("declined", 2, "ORGANIZER:mailto:boss@example.com",
                     f"ATTENDEE;PARTSTAT=DECLINED:mailto:{world.server.user}")
    accepted = timed("accepted", 3, "ORGANIZER:mailto:boss@example.com",
                     f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{world.server.user}")
    timed("cancelled", 4, "STATUS:CANCELLED")
    day = world.first_day + dt.timedelta(days=3)
    all_day = put_event(world, vevent(
        "holiday", f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
        f"DTEND;VALUE=DATE:{day + dt.timedelta(days=1):%Y%m%d}"))
    floating = put_event(world, vevent(
        "floating", f"DTSTART:{day:%Y%m%d}T140000", f"DTEND:{day:%Y%m%d}T150000"))
    sync(world)
    assert mirrored(world) == {busy: True, free: False, declined: False, accepted: True,
                               all_day: True, floating: True}
    with world.runtime.db.read() as session:
        rows = {row.event_id: row for row in session.execute(
            select(CalDAVMirroredEvent)).scalars()}
    assert rows[all_day].all_day and rows[all_day].start_date == day
    assert rows[all_day].start_utc == dt.datetime.combine(day, dt.time(), zone(TZ))
    assert rows[floating].start_utc == dt.datetime.combine(day, dt.time(14), zone(TZ))
    assert rows[declined].self_response == "declined"


def test_sync_token_loss_means_a_full_read_without_duplicates(world: CalDAVWorld) -> None:
    booking = world.book(1, 10)
    kept = calendar(world).save_event(dtstart=local(world, 2, 9), dtend=local(world, 2, 10),
                                      summary="Kept")
    sync(world)
    with world.runtime.db.write() as session:
        for state in session.query(connections.CalDAVReadState):
            state.sync_token = state.sync_token + "-lost"
    added = calendar(world).save_event(dtstart=local(world, 3, 9), dtend=local(world, 3, 10),
                                       summary="Added")
    report = sync(world)
    assert report.pulled is not None and report.pulled.full_syncs == 1
    assert set(mirrored(world)) == {dav.name_of(str(kept.url)), dav.name_of(str(added.url))}
    ours = [e for e in calendar(world).events() if "X-BOOKINGCAL-ITEM" in e.data]
    assert len(ours) == 1 and f"booking:{booking}/" in ours[0].data
    again = sync(world)
    assert again.pulled is not None and again.pulled.full_syncs == 0
    assert again.pushed is not None and again.pushed.writes == 0


def test_a_server_refusing_sync_collection_is_polled_by_etags(
        quirky: tuple[CalDAVWorld, Quirks]) -> None:
    world, quirks = quirky
    quirks.refuse_sync_collection = True
    booking = world.book(1, 10)
    made = calendar(world).save_event(dtstart=local(world, 2, 9), dtend=local(world, 2, 10),
                                      summary="Busy")
    sync(world)
    assert quirks.refused >= 1
    assert mirrored(world) == {dav.name_of(str(made.url)): True}
    with world.runtime.db.read() as session:
        [copy] = session.execute(select(CalDAVCopy)).scalars().all()
    assert copy.item_id == booking
    engine = Engine(world.runtime, worker="t", providers=[world.provider()])
    engine.run_once(force_pull=True)  # reads our own copy's arrival (the ctag moved)
    quirks.requests.clear()
    # Nothing changed: one ctag check (the engine keeps its client, authenticated already).
    [idle] = engine.run_once(force_pull=True)
    assert idle.pulled is not None and idle.pulled.imported == 0
    assert [r.split()[0] for r in quirks.requests] == ["PROPFIND"]
    made.data = made.data.replace("TRANSP:OPAQUE", "").replace(
        "SUMMARY:Busy", "SUMMARY:Busy\r\nTRANSP:TRANSPARENT")
    made.save()
    sync(world)
    assert mirrored(world) == {dav.name_of(str(made.url)): False}
    made.delete()
    sync(world)
    assert mirrored(world) == {}


def test_a_put_answered_without_an_etag_is_handled(quirky: tuple[CalDAVWorld, Quirks]) -> None:
    world, quirks = quirky
    quirks.drop_put_etag = True
    booking = world.book(1, 10)
    sync(world)
    assert quirks.puts_without_etag == 1
    with world.runtime.db.read() as session:
        [copy] = session.execute(select(CalDAVCopy)).scalars().all()
    assert copy.etag  # read back after the PUT
    again = sync(world)
    assert again.pushed is not None and again.pushed.writes == 0
    assert again.pulled is not None and again.pulled.copies_to_restore == 0
    with world.runtime.db.write() as session:
        bookings.update_booking(session, world.business, booking, now=world.now,
                                start=dt.datetime.combine(world.first_day, dt.time(15)))
    moved = sync(world)
    assert moved.pushed is not None and moved.pushed.updated == 1
    [ours] = [e for e in calendar(world).events() if "X-BOOKINGCAL-ITEM" in e.data]
    start = icalendar.Calendar.from_ical(ours.data).walk("VEVENT")[0].decoded("DTSTART")
    assert start.astimezone(UTC) == local(world, 0, 15).astimezone(UTC)


def test_a_fresh_client_never_sends_a_copy_unauthenticated(
        quirky: tuple[CalDAVWorld, Quirks]) -> None:
    """A new bridge process whose first request is a write (the read was done by another
    process) negotiates authentication with a bodiless request first: no PUT is answered 401
    and sent again."""
    world, quirks = quirky
    for hour in (10, 12):
        world.book(1, hour)
    engine = Engine(world.runtime, worker="t", providers=[world.provider()])
    with world.runtime.db.read() as session:
        [connection_id] = session.execute(select(CalDAVConnection.id)).scalars().all()
    engine.state(engine.providers[0]).pulled_at[connection_id] = world.now  # read elsewhere
    quirks.answered.clear()
    [report] = engine.run_once()
    assert report.error is None and report.pulled is None, report
    assert report.pushed is not None and report.pushed.inserted == 2
    puts = [status for method, _, status in quirks.answered if method == "PUT"]
    assert puts == [201, 201], quirks.answered
    assert [method for method, _, _ in quirks.answered][:1] == ["PROPFIND"], quirks.answered


def test_a_copy_changed_or_deleted_there_is_written_again_once(world: CalDAVWorld) -> None:
    booking = world.book(1, 10)
    sync(world)
    [ours] = [e for e in calendar(world).events() if "X-BOOKINGCAL-ITEM" in e.data]
    ours.data = ours.data.replace("SUMMARY:Haircut", "SUMMARY:Edited on the phone")
    ours.save()
    report = sync(world)
    assert report.pulled is not None and report.pulled.copies_to_restore == 1
    sync(world)
    [ours] = [e for e in calendar(world).events() if "X-BOOKINGCAL-ITEM" in e.data]
    assert "Edited on the phone" not in ours.data
    ours.delete()
    sync(world)
    sync(world)
    texts = [e.data for e in calendar(world).events() if "X-BOOKINGCAL-ITEM" in e.data]
    assert len(texts) == 1 and f"booking:{booking}/" in texts[0]
    assert mirrored(world) == {}


def test_our_copies_show_only_the_redacted_view(world: CalDAVWorld) -> None:
    world.book(1, 10, client_id=world.client, notes="secret note about the client")
    sync(world)
    [ours] = [e for e in calendar(world).events() if "X-BOOKINGCAL-ITEM" in e.data]
    event = icalendar.Calendar.from_ical(ours.data).walk("VEVENT")[0]
    assert str(event["SUMMARY"]) == "Haircut – Ida Jensen"
    for secret in ("secret note", "ida@example.com", "1234 5678"):
        assert secret not in ours.data
    with world.runtime.db.write() as session:
        connections.update_settings(session, world.business, world.connection, now=world.now,
                                    hide_client_details=True)
    sync(world)
    [ours] = [e for e in calendar(world).events() if "X-BOOKINGCAL-ITEM" in e.data]
    assert "Ida" not in ours.data  # what the "limited" profile shows: the service only
    assert str(icalendar.Calendar.from_ical(ours.data).walk("VEVENT")[0]["SUMMARY"]) == "Haircut"


def test_a_read_only_calendar_is_reported_on_its_calendar(
        quirky: tuple[CalDAVWorld, Quirks]) -> None:
    world, quirks = quirky
    quirks.forbid_writes = True
    world.book(1, 10)
    sync(world)
    with world.runtime.db.read() as session:
        [mapping] = session.execute(select(CalDAVCalendarMap)).scalars().all()
    assert mapping.last_error is not None and "read-only" in mapping.last_error


# Radicale only: Xandikos as it comes checks no password, so there is nothing to refuse.
@pytest.mark.parametrize("world", ["radicale"], indirect=True)
def test_a_refused_password_asks_for_an_app_specific_one(world: CalDAVWorld) -> None:
    with pytest.raises(InvalidError, match="app-specific password"):
        discovery.discover(world.server.url, world.server.user, "wrong", allow_http=True,
                           allow_private=True, timeout=10)
    with world.runtime.db.write() as session:
        row = session.get(CalDAVConnection, world.connection)
        assert row is not None
        row.password_encrypted = world.runtime.keyring.encrypt("changed-since")
    [report] = Engine(world.runtime, worker="t", providers=[world.provider()]).run_once(
        force_pull=True)
    with world.runtime.db.read() as session:
        row = session.get(CalDAVConnection, world.connection)
        assert row is not None and row.status == "needs_reconnect"
        assert row.last_error is not None and "app-specific password" in row.last_error
        assert "changed-since" not in row.last_error


class _Listener:
    """A plain HTTP listener on 127.0.0.2 that records what reaches it (it must be nothing)."""

    def __init__(self) -> None:
        reached: list[str] = []
        self.reached = reached

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def _any(self) -> None:
                reached.append(f"{self.command} {self.path}")
                self.send_response(207)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_PROPFIND = do_REPORT = do_PUT = _any

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Handler)
        self.url = f"http://127.0.0.2:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_redirect_to_a_private_or_metadata_address_is_not_followed(
        quirky: tuple[CalDAVWorld, Quirks]) -> None:
    """A CalDAV server's redirect (or an href of its answers) leads nowhere the guard refuses:
    checked before the request is sent, whatever python-caldav would follow by itself."""
    world, quirks = quirky
    listener = _Listener()
    try:
        # Only the server's own network is allowed: the listener's 127.0.0.2 is not.
        guard = UrlGuard(allowed=(ipaddress.ip_network("127.0.0.1/32"),), allow_http=True)
        quirks.redirect_to = listener.url
        client = CalDAVClient(world.server.calendar_url, world.server.user,
                              world.server.password, guard=guard)
        with pytest.raises(SyncError, match="127.0.0.2 is a loopback address") as refused:
            client.call("PROPFIND", world.server.calendar_url, headers={"Depth": "0"})
        assert refused.value.reason == "refusedAddress"
        with pytest.raises(SyncError, match="refusedAddress|is a loopback address"):
            client.call("GET", listener.url + "x.ics")  # an href naming another host
        with pytest.raises(InvalidError, match="127.0.0.2 is a loopback address"):
            discovery.discover(world.server.url, world.server.user, world.server.password,
                               allow_http=True, allow_private=False, timeout=10,
                               networks=(ipaddress.ip_network("127.0.0.1/32"),))
        assert listener.reached == []
        # Private addresses allowed (as the world's bridge has them): a metadata address stays
        # refused, and the bridge reports it on the connection instead of fetching it.
        quirks.redirect_to = "http://169.254.169.254/"
        [report] = Engine(world.runtime, worker="t", providers=[world.provider()]).run_once(
            force_pull=True)
        assert report.error is not None and "cloud metadata address" in report.error
    finally:
        listener.close()

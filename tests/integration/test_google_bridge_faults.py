"""What an independent run of the bridge against a strict Google found (issue 13), each on the
in-process bridge, the fake Google and the world's injected clock, on SQLite and PostgreSQL:
a copy deleted just before a 410 is written again; a copy another app replaced without our mark
is still ours; writes go on while reads fail (and the reverse); a part Google refuses (400) or
a part over quota is not retried in a loop and its error is shown; the first invalid_grant
stops the connection's calls; each Google event type blocks by the documented policy; pending
counts include copies to rewrite. Every date is derived from the world's clock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from fakes import FaultKind
from google_world import TZ, World, bridge, run_cli
from server.api.routes_google import status_out
from server.clock import FixedClock
from server.db.models import GoogleConnection, GoogleCopy, MirroredEvent
from server.domain import bookings
from server.gcal_bridge import Bridge, pending
from server.google import settings
from server.google.copies import MARK, is_ours

HALF_SECOND = dt.timedelta(seconds=0.5)


def clock(world: World) -> FixedClock:
    assert isinstance(world.runtime.clock, FixedClock)
    return world.runtime.clock


def local(world: World, days: int, hour: int) -> dt.datetime:
    """`hour`:00 local time, `days` days after the world's today."""
    today = clock(world).now().astimezone(ZoneInfo(TZ)).date()
    return dt.datetime.combine(today + dt.timedelta(days=days), dt.time(hour),
                               tzinfo=ZoneInfo(TZ))


def book(world: World, days: int, hour: int = 10) -> int:
    with world.runtime.db.write() as session:
        return bookings.create_booking(
            session, world.business, calendar_id=world.anna, service_id=world.service,
            start=local(world, days, hour).replace(tzinfo=None),
            now=clock(world).now()).id


def copy_id(world: World, booking: int) -> str:
    with world.runtime.db.read() as session:
        found = session.execute(select(GoogleCopy).where(
            GoogleCopy.kind == "booking", GoogleCopy.item_id == booking)).scalar_one()
        return found.event_id


def live_copies(world: World) -> list[str]:
    return sorted(e["extendedProperties"]["private"][MARK] for e in world.google()
                  if is_ours(e))


def connection(world: World) -> GoogleConnection:
    with world.runtime.db.read() as session:
        return session.get_one(GoogleConnection, world.connection)


def left(world: World) -> int:
    with world.runtime.db.read() as session:
        return pending(session, session.get_one(GoogleConnection, world.connection),
                       clock(world).now())


def passes(worker: Bridge, world: World, seconds: float) -> None:
    """The daemon's loop for `seconds` of the world's clock: a pass every half second."""
    for _ in range(int(seconds / 0.5)):
        clock(world).advance(HALF_SECOND)
        worker.run_once()


def timed(world: World, days: int, hour: int, summary: str, **extra: Any) -> dict[str, Any]:
    start = local(world, days, hour)
    return {"summary": summary, "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + dt.timedelta(hours=1)).isoformat()}, **extra}


# --- 1: a full resync reconciles our copies -----------------------------------------------

def test_a_copy_deleted_just_before_the_sync_token_expires_is_written_again(
        world: World) -> None:
    booking = book(world, 3)
    worker = bridge(world)
    worker.run_once(force_pull=True)
    assert live_copies(world) == [f"booking:{booking}"]
    world.fake.user_delete_event("primary", copy_id(world, booking))
    world.fake.invalidate_sync_tokens("primary")  # the next read is a full resync (410)
    for _ in range(2):
        [report] = worker.run_once(force_pull=True)
        assert report.error is None
    assert live_copies(world) == [f"booking:{booking}"]
    assert left(world) == 0


# --- 2: our copies are recognised by their id as well as the mark --------------------------

def test_our_copy_replaced_without_its_mark_is_never_mirrored(world: World) -> None:
    booking = book(world, 3)
    worker = bridge(world)
    worker.run_once(force_pull=True)
    event_id = copy_id(world, booking)
    stored = world.fake.event("primary", event_id)
    assert stored is not None
    # Another app writes the whole event back without extendedProperties.
    world.fake.app_update_event("primary", event_id, {
        "summary": "Synced by another app", "start": stored["start"], "end": stored["end"]})
    assert not is_ours(world.fake.event("primary", event_id) or {})
    for _ in range(2):
        [report] = worker.run_once(force_pull=True)
        assert report.error is None
        with world.runtime.db.read() as session:
            assert session.execute(select(MirroredEvent)).scalars().all() == []
    assert live_copies(world) == [f"booking:{booking}"]  # our mark and content are back
    assert len(world.google()) == 1


# --- 3: reads and writes fail apart ----------------------------------------------------------

def test_bookings_reach_google_while_reads_fail_and_reads_go_on_while_writes_fail(
        world: World) -> None:
    worker = bridge(world)
    worker.run_once(force_pull=True)
    poll = dt.timedelta(seconds=world.runtime.config.google.poll_seconds)
    world.fake.inject_fault(FaultKind.SERVER_ERROR, endpoint="calendar.events.list", times=1000)
    clock(world).advance(poll)  # a read is due, and keeps failing
    booking = book(world, 3)
    world.fake.clear_log()
    worker.run_once()
    assert live_copies(world) == [f"booking:{booking}"]
    assert world.fake.count("calendar.events.list") == 1  # no retries within the pass
    passes(worker, world, 5)  # the read backs off: not a list every half second
    assert world.fake.count("calendar.events.list") <= 4
    world.fake.clear_faults()

    # The reverse: writes keep failing, a Google event still arrives.
    for endpoint in ("batch", "calendar.events.insert"):
        world.fake.inject_fault(FaultKind.UNAVAILABLE, endpoint=endpoint, times=1000)
    book(world, 4)
    world.fake.user_insert_event("primary", timed(world, 5, 9, "Dentist"))
    clock(world).advance(poll)
    worker.run_once()
    with world.runtime.db.read() as session:
        assert [row.summary for row in session.execute(select(MirroredEvent)).scalars()] == [
            "Dentist"]
    world.fake.clear_faults()
    clock(world).advance(dt.timedelta(minutes=2))
    worker.run_once()
    assert len(live_copies(world)) == 2 and left(world) == 0


# --- 4: per-part errors: permanent ones back off per item, quota pauses -----------------------

def test_a_write_google_refuses_backs_off_alone_and_shows_its_error(
        world: World, tmp_path: Path, database_url: str) -> None:
    worker = bridge(world)
    worker.run_once(force_pull=True)
    world.fake.inject_fault(FaultKind.BAD_REQUEST, endpoint="calendar.events.insert", times=1)
    refused = book(world, 3)
    world.fake.clear_log()
    passes(worker, world, 10)
    assert world.fake.count("calendar.events.insert") == 1  # not retried every pass
    assert live_copies(world) == []
    [calendar] = _status(world).calendars
    [failing] = calendar.failing
    assert (failing.kind, failing.item_id, failing.failures) == ("booking", refused, 1)
    assert "400" in failing.error and failing.retry.startswith("retrying in")
    assert calendar.pending_changes == 1
    shown = run_cli(tmp_path, database_url, "google", "status", str(world.business),
                    clock=world.runtime.clock)
    assert f"booking {refused} not in Google: Google answered 400" in shown.output

    other = book(world, 4)  # the calendar's other changes go on meanwhile
    passes(worker, world, 1)
    assert live_copies(world) == [f"booking:{other}"]
    clock(world).advance(dt.timedelta(minutes=1))
    worker.run_once()
    assert live_copies(world) == sorted([f"booking:{other}", f"booking:{refused}"])
    assert _status(world).calendars[0].failing == [] and left(world) == 0


def test_a_part_over_quota_pauses_the_connection_and_says_so(world: World) -> None:
    worker = bridge(world)
    worker.run_once(force_pull=True)
    world.fake.inject_fault(FaultKind.QUOTA_EXCEEDED, endpoint="calendar.events.insert",
                            times=1000)
    booking = book(world, 3)
    world.fake.clear_log()
    passes(worker, world, 10)
    assert world.fake.count("calendar.events.insert") == 1
    paused = connection(world)
    assert paused.status == "paused" and "quotaExceeded" in (paused.last_error or "")
    assert paused.paused_until is not None
    assert paused.paused_until - clock(world).now() > dt.timedelta(minutes=59)
    assert _status(world).status == "paused"
    world.fake.clear_faults()
    clock(world).advance(dt.timedelta(hours=1))
    worker.run_once()
    assert live_copies(world) == [f"booking:{booking}"]
    assert connection(world).status == "connected" and left(world) == 0


# --- 5: the first invalid_grant stops the connection's calls --------------------------------

def test_the_first_invalid_grant_stops_every_call(world: World) -> None:
    worker = bridge(world)
    worker.run_once(force_pull=True)
    world.fake.revoke_all_tokens()
    world.fake.expire_access_tokens()  # the next call refreshes, and is refused
    book(world, 3)
    world.fake.clear_log()
    passes(worker, world, 9)
    assert world.fake.count("oauth.token") == 1
    assert world.fake.count("batch") <= 1
    assert connection(world).status == "needs_reconnect"


# --- 6: every event type by the documented policy ---------------------------------------------

def test_each_google_event_type_blocks_by_the_documented_policy(world: World) -> None:
    fake = world.fake
    fake.user_insert_event("primary", timed(world, 3, 9, "default busy"))
    fake.user_insert_event("primary", timed(world, 3, 11, "default free",
                                            transparency="transparent"))
    fake.user_insert_event("primary", timed(world, 3, 13, "out of office",
                                            eventType="outOfOffice"))
    fake.user_insert_event("primary", timed(world, 3, 15, "focus time", eventType="focusTime"))
    fake.user_insert_event("primary", timed(world, 4, 9, "working from home",
                                            eventType="workingLocation",
                                            transparency="transparent",
                                            workingLocationProperties={"type": "homeOffice",
                                                                       "homeOffice": {}}))
    day = local(world, 5, 0).date()
    fake.user_insert_event("primary", {
        "summary": "birthday", "eventType": "birthday", "transparency": "transparent",
        "start": {"date": day.isoformat()},
        "end": {"date": (day + dt.timedelta(days=1)).isoformat()},
        "recurrence": ["RRULE:FREQ=YEARLY"], "birthdayProperties": {"type": "birthday"}})
    fake.gmail_add_event("primary", timed(world, 6, 9, "flight from gmail"))
    fake.gmail_add_event("primary", timed(world, 6, 13, "free from gmail",
                                          transparency="transparent"))
    [report] = bridge(world).run_once(force_pull=True)
    assert report.error is None
    with world.runtime.db.read() as session:
        found = {(row.event_type, row.summary): row.blocks
                 for row in session.execute(select(MirroredEvent)).scalars()}
    assert found == {
        ("default", "default busy"): True, ("default", "default free"): False,
        ("outOfOffice", "out of office"): True, ("focusTime", "focus time"): True,
        ("workingLocation", "working from home"): False, ("birthday", "birthday"): False,
        ("fromGmail", "flight from gmail"): True, ("fromGmail", "free from gmail"): False}


# --- 7: pending counts include copies to rewrite --------------------------------------------

def test_pending_counts_the_copies_a_setting_change_rewrites(
        world: World, tmp_path: Path, database_url: str) -> None:
    for days in (3, 4, 5):
        book(world, days)
    worker = bridge(world)
    worker.run_once(force_pull=True)
    assert left(world) == 0
    with world.runtime.db.write() as session:
        settings.update_settings(session, world.business, now=clock(world).now(),
                                 hide_client_details=True)
    assert left(world) == 3
    assert [c.pending_changes for c in _status(world).calendars] == [3]
    shown = run_cli(tmp_path, database_url, "google", "status", str(world.business),
                    clock=world.runtime.clock)
    assert "Anna: writes to primary, reads primary, 3 pending" in shown.output
    worker.run_once()
    assert [c.pending_changes for c in _status(world).calendars] == [0]


def _status(world: World) -> Any:
    with world.runtime.db.read() as session:
        return status_out(session, world.business, clock(world).now())

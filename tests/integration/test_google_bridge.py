"""The bridge daemon's passes against the fake Google: both directions, leases between
workers, invalid_grant and reconnection with nothing lost, quota pauses, disconnecting."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import select

from fakes import FaultKind
from google_world import World, bridge, run_cli
from server.db.models import Booking, GoogleConnection, MirroredEvent
from server.gcal_bridge import pending
from server.google import oauth, settings
from server.google.disconnect import disconnect
from support import NOW


def connection(world: World) -> GoogleConnection:
    with world.runtime.db.read() as session:
        found = session.get(GoogleConnection, world.connection)
        assert found is not None
        return found


def event(summary: str) -> dict[str, Any]:
    return {"summary": summary, "start": {"dateTime": "2026-12-05T09:00:00+01:00"},
            "end": {"dateTime": "2026-12-05T10:00:00+01:00"}}


def test_a_pass_mirrors_both_ways_and_the_next_does_nothing(world: World) -> None:
    world.book(1)
    world.fake.user_insert_event("primary", event("Dentist"))
    [report] = bridge(world).run_once(force_pull=True)
    assert report.error is None
    assert report.pushed is not None and report.pushed.inserted == 1
    assert report.pulled is not None and report.pulled.imported == 1
    with world.runtime.db.read() as session:
        assert pending(session, connection(world), NOW) == 0
    [again] = bridge(world).run_once(force_pull=True)
    assert again.pushed is not None and again.pushed.writes == 0
    assert again.pulled is not None and again.pulled.imported == 0
    assert connection(world).last_sync_at is not None


def test_each_direction_setting(world: World) -> None:
    world.book(1)
    world.fake.user_insert_event("primary", event("Dentist"))
    with world.runtime.db.write() as session:
        settings.update_settings(session, world.business, now=world.runtime.clock.now(),
                                 direction="from_google")
    [report] = bridge(world).run_once(force_pull=True)
    assert report.pushed is None and world.google()[0]["summary"] == "Dentist"
    assert len(world.google()) == 1
    with world.runtime.db.write() as session:
        settings.update_settings(session, world.business, now=world.runtime.clock.now(),
                                 direction="to_google")
    [report] = bridge(world).run_once(force_pull=True)
    assert report.pulled is None and report.pushed is not None and report.pushed.inserted == 1


def test_one_worker_at_a_time_holds_a_connection(world: World) -> None:
    first, second = bridge(world, "a"), bridge(world, "b")
    now = world.runtime.clock.now()
    assert first.acquire(world.connection, now)
    assert not second.acquire(world.connection, now)
    assert second.work(world.connection, now).pushed is None  # skipped, not double-worked
    first.release(world.connection)
    assert second.acquire(world.connection, now)
    # An abandoned lease (a killed worker) expires.
    assert first.acquire(world.connection, now + dt.timedelta(minutes=5))


def test_invalid_grant_waits_for_reconnection_and_loses_nothing(world: World) -> None:
    world.book(1)
    bridge(world).run_once(force_pull=True)
    world.fake.revoke_all_tokens()
    made_meanwhile = world.book(2)
    [report] = bridge(world).run_once(force_pull=True)
    assert report.error is not None and "reconnect" in report.error
    state = connection(world)
    assert state.status == "needs_reconnect" and state.last_error
    world.fake.clear_log()
    assert bridge(world).run_once() == []  # no more calls to Google
    assert world.fake.count() == 0
    with world.runtime.db.write() as session:
        oauth.connect(session, world.runtime.keyring, world.business,
                      world.fake.issue_tokens(), world.runtime.clock.now())
    [report] = bridge(world).run_once(force_pull=True)
    assert report.error is None and report.pushed is not None and report.pushed.inserted == 1
    assert len(world.google()) == 2
    with world.runtime.db.read() as session:
        assert session.get(Booking, made_meanwhile) is not None


def test_quota_exceeded_pauses_the_connection(world: World) -> None:
    world.book(1)
    world.fake.inject_fault(FaultKind.QUOTA_EXCEEDED, endpoint="calendar.events.list")
    [report] = bridge(world).run_once(force_pull=True)
    assert report.error is not None
    state = connection(world)
    assert state.status == "paused" and state.paused_until is not None
    assert bridge(world).run_once() == []  # paused: not due


def test_disconnect_deletes_future_copies_and_mirrors_and_keeps_bookings(world: World) -> None:
    booking = world.book(1)
    world.fake.user_insert_event("primary", event("Dentist"))
    bridge(world).run_once(force_pull=True)
    assert len(world.google()) == 2
    report = disconnect(world.runtime, world.business, keep_copies=False, api=world.api)
    assert report.copies_deleted == 1 and report.revoked
    assert [e["summary"] for e in world.google()] == ["Dentist"]
    with world.runtime.db.read() as session:
        assert session.get(Booking, booking) is not None
        assert session.execute(select(MirroredEvent)).first() is None
        assert session.execute(select(GoogleConnection)).first() is None


def test_no_database_lock_is_held_while_a_push_channel_is_opened(world: World) -> None:
    """Opening a channel is a Google call that may take seconds (a slow answer, retries):
    meanwhile the database takes other writes. On SQLite a write transaction held over the call
    (BEGIN IMMEDIATE) would refuse this test's write after its short busy timeout."""
    import dataclasses
    import threading
    import time

    from server.db import Database
    from support import start_server

    live = start_server(world.runtime)
    other = Database(world.runtime.db.url, busy_timeout=0.5, lock_timeout=0.5)
    try:
        worker = bridge(dataclasses.replace(world, runtime=live.runtime))
        slow = world.fake.inject_fault(FaultKind.TIMEOUT, endpoint="calendar.events.watch",
                                       delay=3.0, perform=True)
        passing = threading.Thread(target=worker.run_once, kwargs={"force_pull": True})
        passing.start()
        while slow.remaining and passing.is_alive():  # until the watch call is under way
            time.sleep(0.01)
        assert slow.remaining == 0
        with other.write() as session:
            session.get_one(GoogleConnection, world.connection).block_online_booking = True
        passing.join(timeout=60)
        [channel] = world.fake.channels()
        assert not channel.stopped
    finally:
        other.dispose()
        live.stop()


def test_push_notifications_trigger_a_sync(world: World) -> None:
    import dataclasses

    from support import start_server

    live = start_server(world.runtime)
    try:
        served = dataclasses.replace(world, runtime=live.runtime)
        worker = bridge(served)
        worker.run_once(force_pull=True)  # first pass: syncs and opens the channel
        [channel] = world.fake.channels()
        assert channel.address == live.url + "/google/notifications"
        assert worker.run_once() == []  # nothing due: no poll yet, nothing pending
        world.fake.user_insert_event("primary", event("Dentist"))
        assert world.fake.wait_for_notifications(timeout=5)
        [report] = worker.run_once()
        assert report.pulled is not None and report.pulled.imported == 1
        # A forged notification is refused and requests nothing.
        import requests
        answer = requests.post(live.url + "/google/notifications", timeout=10, headers={
            "X-Goog-Channel-ID": channel.id, "X-Goog-Channel-Token": "forged",
            "X-Goog-Resource-State": "exists"})
        assert answer.status_code == 404
        assert worker.run_once() == []
    finally:
        live.stop()


def test_backfill_is_throttled_and_completes(world: World) -> None:
    for day in range(1, 8):
        world.book(day)
    worker = bridge(world)
    budget = worker._backfill_budget(world.runtime.clock.now())
    assert budget < 7
    sent = []
    for _ in range(10):
        [report] = worker.run_once(force_pull=True)
        assert report.pushed is not None
        sent.append(report.pushed.inserted)
        if sum(sent) == 7:
            break
    assert max(sent) <= budget and sum(sent) == 7
    assert len(world.google()) == 7
    with world.runtime.db.read() as session:
        assert pending(session, connection(world), NOW) == 0


def test_deactivating_a_calendar_removes_its_copies(world: World) -> None:
    from server.domain import calendars

    world.book(1)
    bridge(world).run_once(force_pull=True)
    assert len(world.google()) == 1
    with world.runtime.db.write() as session:
        calendars.update_calendar(session, world.business, world.anna,
                                  now=world.runtime.clock.now(), active=False)
    [report] = bridge(world).run_once(force_pull=True)
    assert report.pushed is not None and report.pushed.deleted == 1
    assert world.google() == []


def test_google_sync_shows_progress_until_nothing_is_pending(
        world: World, tmp_path: Path, database_url: str) -> None:
    for day in range(1, 8):
        world.book(day)
    with (tmp_path / "bookingcal.toml").open("a", encoding="utf-8") as toml:
        toml.write("backfill_per_minute = 3\n")  # the file ends in its [google] section
    result = run_cli(tmp_path, database_url, "google", "sync", str(world.business),
                     clock=world.runtime.clock)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "pending" in line]
    assert [line.strip() for line in lines] == [
        "4 changes pending", "1 changes pending", "0 changes pending"]
    assert "pass 3: connection" in result.output and "3 inserted" in result.output
    assert len(world.google()) == 7
    once = run_cli(tmp_path, database_url, "google", "sync", str(world.business), "--once",
                   clock=world.runtime.clock)
    assert once.exit_code == 0 and "pass 2" not in once.output
    assert "0 inserted, 0 updated, 0 deleted" in once.output
    missing = run_cli(tmp_path, database_url, "google", "sync", "999", clock=world.runtime.clock)
    assert missing.exit_code == 1 and "no Google account connected" in missing.output


def test_finding_due_connections_takes_the_same_queries_for_one_or_many(world: World) -> None:
    from sqlalchemy import event as sql_event

    from server.domain import businesses, calendars

    worker = bridge(world)
    now = world.runtime.clock.now()
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    def queries() -> tuple[int, list[int]]:
        statements.clear()
        sql_event.listen(world.runtime.db.engine, "before_cursor_execute", count)
        try:
            with world.runtime.db.read() as session:
                found = worker.due(session, now)
        finally:
            sql_event.remove(world.runtime.db.engine, "before_cursor_execute", count)
        return len(statements), found

    world.book(1)
    one, found = queries()
    assert found == [world.connection]
    with world.runtime.db.write() as session:
        for n in range(4):
            user = world.fake.add_user(f"owner{n}@example.com")
            business = businesses.create_business(session, name=f"Salon {n}", timezone="UTC",
                                                  now=NOW).id
            calendar = calendars.create_calendar(session, business, name="Bo", now=NOW).id
            oauth.connect(session, world.runtime.keyring, business,
                          world.fake.issue_tokens(user=user), NOW)
            settings.update_settings(session, business, now=NOW, calendars=[
                settings.CalendarChoice(calendar, "primary")])
    many, found = queries()
    assert len(found) == 5
    assert many == one, statements
    worker.run_once(force_pull=True)
    idle, found = queries()
    assert found == [] and idle == one  # all polled, nothing pending


def test_disconnect_stops_the_push_channels(world: World, tmp_path: Path,
                                            database_url: str) -> None:
    import dataclasses

    from support import start_server

    live = start_server(world.runtime)
    try:
        world.book(1)
        bridge(dataclasses.replace(world, runtime=live.runtime)).run_once(force_pull=True)
        [channel] = world.fake.channels()
        assert not channel.stopped and len(world.google()) == 1
        result = run_cli(tmp_path, database_url, "google", "disconnect", str(world.business),
                         clock=world.runtime.clock)
        assert result.exit_code == 0, result.output
        assert "1 copies deleted from Google" in result.output
        assert "1 push channels stopped" in result.output
        [channel] = world.fake.channels()
        assert channel.stopped and world.google() == []
        # A late notification on the old channel finds nothing and requests nothing.
        import requests
        answer = requests.post(live.url + "/google/notifications", timeout=10, headers={
            "X-Goog-Channel-ID": channel.id, "X-Goog-Channel-Token": channel.token or "",
            "X-Goog-Resource-State": "exists"})
        assert answer.status_code == 404
    finally:
        live.stop()


def test_an_idle_pass_asks_google_one_list_per_read_calendar(world: World) -> None:
    from server.domain import calendars

    with world.runtime.db.write() as session:
        bo = calendars.create_calendar(session, world.business, name="Bo", now=NOW).id
        team = world.fake.add_calendar("Team")
        settings.update_settings(session, world.business, now=NOW, calendars=[
            settings.CalendarChoice(world.anna, "primary"), settings.CalendarChoice(bo, team)])
    world.book(1)
    worker = bridge(world)
    [first] = worker.run_once(force_pull=True)
    assert first.pushed is not None and first.pushed.inserted == 1
    world.fake.clear_log()
    [idle] = worker.run_once(force_pull=True)
    assert idle.error is None
    assert dict(world.fake.endpoint_counts()) == {"calendar.events.list": 2}


def test_a_journal_change_wakes_the_idle_bridge_on_postgresql(tmp_path: Path,
                                                              pg_url: str) -> None:
    import threading

    from fakes import FakeGoogle
    from google_world import make_world
    from server.sync.wakeup import JournalWakeup

    with FakeGoogle() as fake, make_world(tmp_path, pg_url, fake) as world:
        wakeup, stop = JournalWakeup(world.runtime.db), threading.Event()
        try:
            assert not wakeup.wait(0.05, stop)  # listening now; nothing changed
            world.book(1)
            world.book(2)
            assert wakeup.wait(10, stop)
            # The second announcement may come with the first or a moment later (two
            # transactions); either way the announcements run out.
            assert any(not wakeup.wait(0.5, stop) for _ in range(20))
            with world.runtime.db.write() as session:  # a write without a journal entry
                session.get_one(GoogleConnection, world.connection).last_error = "x"
            assert not wakeup.wait(0.05, stop)
        finally:
            wakeup.close()


def test_push_channels_are_renewed_before_they_expire_and_the_old_one_stopped(
        world: World) -> None:
    import dataclasses

    from server.clock import FixedClock
    from support import start_server

    live = start_server(world.runtime)
    try:
        worker = bridge(dataclasses.replace(world, runtime=live.runtime))
        worker.run_once(force_pull=True)
        [first] = world.fake.channels()
        worker.run_once(force_pull=True)
        assert world.fake.channels() == [first]  # far from expiry: kept
        clock = live.runtime.clock
        assert isinstance(clock, FixedClock)
        # A day before the channel expires (by its expiration, as Google gave it).
        clock.instant = first.expiration.astimezone(dt.timezone.utc) - dt.timedelta(hours=23)
        worker.run_once(force_pull=True)
        old, new = sorted(world.fake.channels(), key=lambda c: c.id != first.id)
        assert old.id == first.id and old.stopped
        assert not new.stopped and new.calendar_id == first.calendar_id
        assert new.address == live.url + "/google/notifications"
    finally:
        live.stop()

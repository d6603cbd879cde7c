"""From Google: events of the fake Google Calendar become mirrored events, incrementally, with
the blocking policy applied, our own copies never imported, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select

from google_world import World
from server.db.models import Booking, GoogleCopy, MirroredEvent
from server.google.pull import PullReport, pull

NOW_ISO = "2026-12-0{day}T{hour:02d}:00:00+01:00"


def timed(day: int, hour: int, hours: int = 1, **extra: Any) -> dict[str, Any]:
    return {"summary": extra.pop("summary", f"Event {day}/{hour}"),
            "start": {"dateTime": NOW_ISO.format(day=day, hour=hour)},
            "end": {"dateTime": NOW_ISO.format(day=day, hour=hour + hours)}, **extra}


def pull_now(world: World) -> PullReport:
    from support import NOW
    return pull(world.runtime.db, world.api, world.connection, NOW,
                rules=world.runtime.config.availability)


def mirrored(world: World) -> dict[str, MirroredEvent]:
    with world.runtime.db.read() as session:
        return {row.summary: row for row in session.execute(select(MirroredEvent)).scalars()}


def test_the_blocking_policy_is_applied_at_import(world: World) -> None:
    fake = world.fake
    fake.user_insert_event("primary", timed(1, 9, summary="Busy meeting"))
    fake.user_insert_event("primary", timed(1, 11, summary="Free time", transparency="transparent"))
    fake.user_insert_event("primary", timed(1, 13, summary="Declined", attendees=[
        {"email": "user@example.com", "self": True, "responseStatus": "declined"}]))
    fake.user_insert_event("primary", timed(2, 9, summary="Away", eventType="outOfOffice"))
    fake.user_insert_event("primary", {"summary": "Holiday", "start": {"date": "2026-12-24"},
                                       "end": {"date": "2026-12-27"}})
    report = pull_now(world)
    assert report.imported == 5 and report.full_syncs == 1
    rows = mirrored(world)
    assert {name: row.blocks for name, row in rows.items()} == {
        "Busy meeting": True, "Free time": False, "Declined": False, "Away": True,
        "Holiday": True}
    holiday = rows["Holiday"]
    assert holiday.all_day and holiday.start_date == dt.date(2026, 12, 24)
    assert holiday.end_date == dt.date(2026, 12, 27)
    assert rows["Busy meeting"].start_utc == dt.datetime(2026, 12, 1, 8, tzinfo=dt.timezone.utc)


def test_incremental_passes_follow_changes_and_an_idle_pass_lists_once(world: World) -> None:
    fake = world.fake
    kept = fake.user_insert_event("primary", timed(1, 9, summary="Kept"))
    gone = fake.user_insert_event("primary", timed(1, 11, summary="Gone"))
    pull_now(world)
    fake.clear_log()
    idle = pull_now(world)
    assert (idle.imported, idle.removed, idle.pages) == (0, 0, 1)
    assert fake.count("calendar.events.list") == 1
    fake.user_patch_event("primary", kept["id"], {"summary": "Kept, moved",
                                                  "start": timed(3, 9)["start"],
                                                  "end": timed(3, 9)["end"]})
    fake.user_delete_event("primary", gone["id"])
    report = pull_now(world)
    assert (report.imported, report.removed, report.full_syncs) == (1, 1, 0)
    assert set(mirrored(world)) == {"Kept, moved"}


def test_repeating_events_arrive_as_instances_with_cancelled_ones_removed(world: World) -> None:
    series = world.fake.user_insert_event("primary", {
        **timed(1, 8, summary="Standup"), "start": {"dateTime": "2026-12-01T08:00:00",
                                                    "timeZone": "Europe/Copenhagen"},
        "end": {"dateTime": "2026-12-01T08:30:00", "timeZone": "Europe/Copenhagen"},
        "recurrence": ["RRULE:FREQ=DAILY;COUNT=5"]})
    pull_now(world)
    with world.runtime.db.read() as session:
        rows = list(session.execute(select(MirroredEvent).order_by(MirroredEvent.start_utc))
                    .scalars())
    assert len(rows) == 5 and all(r.recurring_event_id == series["id"] for r in rows)
    world.fake.user_delete_event("primary", rows[2].event_id)
    pull_now(world)
    with world.runtime.db.read() as session:
        assert session.execute(select(MirroredEvent)).scalars().all().__len__() == 4


def test_paging_and_a_410_full_resync_that_reconciles(world: World) -> None:
    fake = world.fake
    fake.page_size_cap = 3
    made = [fake.user_insert_event("primary", timed(1 + n % 7, 8 + n // 7, summary=f"E{n}"))
            for n in range(10)]
    first = pull_now(world)
    assert first.pages == 4 and first.imported == 10
    fake.user_delete_event("primary", made[0]["id"])
    fake.invalidate_sync_tokens("primary")
    report = pull_now(world)
    assert report.full_syncs == 1
    assert set(mirrored(world)) == {f"E{n}" for n in range(1, 10)}


def test_our_copies_are_never_imported_and_a_deleted_copy_comes_back(world: World) -> None:
    booking = world.book(1)
    world.push()
    report = pull_now(world)
    assert report.imported == 0 and mirrored(world) == {}
    [copy] = world.google()
    world.fake.user_delete_event("primary", copy["id"])
    report = pull_now(world)
    assert report.copies_to_restore == 1 and mirrored(world) == {}
    pushed = world.push()
    assert pushed.failed == [] and pushed.writes == 1
    [restored] = world.google()
    assert restored["id"] == copy["id"]
    with world.runtime.db.read() as session:
        row = session.execute(select(GoogleCopy)).scalar_one()
        assert row.restored_count == 1 and row.item_id == booking
        from server.api.routes_google import status_out
        assert status_out(session, world.business, world.now).copies_restored == 1
    # The restoration's own echo changes nothing more.
    assert pull_now(world).copies_to_restore == 0
    assert world.push().writes == 0


def test_an_unknown_copy_of_ours_is_adopted_and_a_foreign_one_left_alone(world: World) -> None:
    """After a restore from backup, Google may hold copies the database does not know (written
    after the backup). With the id key the pull adopts those whose id proves them this
    connection's; the next push deletes the copy of an item that does not exist. A copy with
    our mark under another id (another connection or installation) is never touched."""
    from support import NOW
    from server.google.push import id_secret

    booking = world.book(1)
    world.push()
    [copy] = world.google()
    with world.runtime.db.write() as session:  # as if restored from before the push
        session.execute(delete(GoogleCopy))
    world.fake.user_insert_event("primary", {
        **timed(2, 9, summary="Someone else's copy"),
        "extendedProperties": {"private": {"bookingcal": f"booking:{booking + 1}",
                                           "bookingcal_version": "1"}}})
    secret = id_secret(world.runtime.keyring)
    report = pull(world.runtime.db, world.api, world.connection, NOW,
                  rules=world.runtime.config.availability, id_secret=secret)
    assert report.unknown_copies == 1 and report.imported == 0
    with world.runtime.db.read() as session:
        [row] = session.execute(select(GoogleCopy)).scalars().all()
        assert (row.item_id, row.event_id, row.sent_seq) == (booking, copy["id"], -1)
    # The booking exists: its copy is written again (not inserted twice).
    pushed = world.push()
    assert (pushed.inserted, pushed.updated, pushed.failed) == (0, 1, [])
    assert sorted(e["summary"] for e in world.google()) == sorted(
        [copy["summary"], "Someone else's copy"])
    # An unknown copy of a booking that does not exist is deleted by the next push.
    with world.runtime.db.write() as session:
        session.execute(delete(GoogleCopy))
        row = session.get(Booking, booking)
        assert row is not None
        row.status = "cancelled"  # behind the journal's back, as a restored database is
    world.fake.user_patch_event("primary", copy["id"], {"summary": "touched"})
    assert pull(world.runtime.db, world.api, world.connection, NOW,
                rules=world.runtime.config.availability, id_secret=secret).unknown_copies == 1
    pushed = world.push()
    assert (pushed.deleted, pushed.failed) == (1, [])
    assert [e["summary"] for e in world.google()] == ["Someone else's copy"]


def test_a_new_epoch_queues_every_copy_and_a_full_read_once(world: World) -> None:
    from server.db.models import GoogleReadState
    from server.domain import journal
    from server.google.restored import reconcile_new_epoch

    world.book(1)
    world.push()
    pull_now(world)
    db = world.runtime.db
    assert reconcile_new_epoch(db) is False  # the first look only records the epoch
    assert reconcile_new_epoch(db) is False
    with db.write() as session:  # as `db restore` does
        journal.new_epoch(session)
    assert reconcile_new_epoch(db) is True
    assert reconcile_new_epoch(db) is False  # once per epoch, whichever process claims it
    with db.read() as session:
        assert [c.sent_seq for c in session.execute(select(GoogleCopy)).scalars()] == [-1]
        assert [s.sync_token for s in session.execute(select(GoogleReadState)).scalars()] \
            == ["whole-history"]
    # The rewrite is an update of the same event, and the full read imports nothing of ours.
    assert pull_now(world).full_syncs == 1
    pushed = world.push()
    assert (pushed.inserted, pushed.updated, pushed.failed) == (0, 1, [])
    assert len(world.google()) == 1


def test_after_a_restore_copies_written_after_the_backup_are_found_whatever_their_date(
        world: World) -> None:
    """A copy written after the backup, of a future booking that lies more than the usual 30
    days of a full read in the past by the time of the restore (booked on 1 January for 10
    January, restored in March), is still found by the reconciliation's full read and deleted,
    since the restored database has no such booking."""
    from support import NOW
    from server.domain import bookings, journal
    from server.google.push import id_secret, push
    from server.google.restored import reconcile_new_epoch

    db = world.runtime.db
    assert reconcile_new_epoch(db) is False  # the bridge's first look records the epoch
    then = NOW - dt.timedelta(days=90)
    with db.write() as session:
        old = bookings.create_booking(
            session, world.business, calendar_id=world.anna, service_id=world.service,
            start=(NOW - dt.timedelta(days=80)).replace(tzinfo=None), now=then).id
    assert push(db, world.runtime.keyring, world.api, world.connection, then).inserted == 1
    with db.write() as session:  # as `db restore` of a backup from before that booking does
        session.execute(delete(GoogleCopy))
        row = session.get(Booking, old)
        assert row is not None
        row.status = "cancelled"
        journal.new_epoch(session)
    assert reconcile_new_epoch(db) is True
    world.fake.clear_log()
    report = pull(db, world.api, world.connection, NOW,
                  rules=world.runtime.config.availability,
                  id_secret=id_secret(world.runtime.keyring))
    assert report.unknown_copies == 1 and report.full_syncs == 1
    assert [r.query.get("timeMin") for r in world.fake.requests("calendar.events.list")] == [None]
    assert world.push().deleted == 1
    assert [e for e in world.google() if e.get("status") != "cancelled"] == []
    # Later full reads (an expired sync token here) stay bounded to the recent past.
    world.fake.invalidate_sync_tokens("primary")
    world.fake.clear_log()
    assert pull_now(world).full_syncs == 1
    assert [bool(r.query.get("timeMin")) for r in world.fake.requests(
        "calendar.events.list") if "syncToken" not in r.query] == [True]

"""Edits made in Google to our copies of bookings, with the business's `edits_from_calendars`:
"rewrite" (the default) writes the copy again; "apply" turns a moved copy into a reschedule and
a deleted copy into a cancel when the booking rules allow, else rewrites it and keeps the
refusal (Google status). Against the fake Google, on SQLite and PostgreSQL, on the injected
clock (support.NOW; the world's days are a week after it)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from google_world import TZ, World
from server.api.routes_google import status_out
from server.db.models import Booking, JournalEntry
from server.domain import businesses
from server.google.pull import pull
from sqlalchemy import select


def pull_now(world: World) -> None:
    pull(world.runtime.db, world.api, world.connection, world.now,
         rules=world.runtime.config.availability)


def choose(world: World, **fields: object) -> None:
    with world.runtime.db.write() as session:
        businesses.update_business(session, world.business, **fields)  # type: ignore[arg-type]


def booking(world: World, booking_id: int) -> Booking:
    with world.runtime.db.read() as session:
        found = session.get(Booking, booking_id)
        assert found is not None
        session.expunge(found)
        return found


def local(world: World, day: int, hour: int, minute: int = 0) -> dt.datetime:
    date = world.first_day + dt.timedelta(days=day - 1)
    return dt.datetime.combine(date, dt.time(hour, minute), tzinfo=ZoneInfo(TZ))


def move_copy(world: World, event_id: str, start: dt.datetime, end: dt.datetime) -> None:
    world.fake.user_patch_event("primary", event_id, {
        "start": {"dateTime": start.isoformat()}, "end": {"dateTime": end.isoformat()}})


def copy_of(world: World) -> dict[str, object]:
    [copy] = [e for e in world.google() if e.get("status") != "cancelled"]
    return copy


def refusals(world: World) -> list[tuple[int, str, str]]:
    with world.runtime.db.read() as session:
        return [(r.booking_id, r.action, r.reason)
                for r in status_out(session, world.business, world.now).edit_refusals]


def test_by_default_an_edited_copy_is_rewritten(world: World) -> None:
    made = world.book(1)
    world.push()
    before = booking(world, made)
    move_copy(world, str(copy_of(world)["id"]), local(world, 1, 14), local(world, 1, 14, 45))
    pull_now(world)
    world.push()
    assert booking(world, made).start_utc == before.start_utc
    assert copy_of(world)["start"]["dateTime"].startswith(  # type: ignore[index]
        local(world, 1, 10).strftime("%Y-%m-%dT%H:%M"))
    assert refusals(world) == []


def test_applied_a_moved_copy_reschedules_the_booking(world: World) -> None:
    choose(world, edits_from_calendars="apply")
    made = world.book(1)
    world.push()
    move_copy(world, str(copy_of(world)["id"]), local(world, 1, 14), local(world, 1, 14, 45))
    pull_now(world)
    moved = booking(world, made)
    assert moved.start_utc == local(world, 1, 14).astimezone(dt.timezone.utc)
    assert moved.end_utc == local(world, 1, 14, 45).astimezone(dt.timezone.utc)
    with world.runtime.db.read() as session:
        last = session.execute(select(JournalEntry).where(
            JournalEntry.kind == "booking", JournalEntry.item_id == made)
            .order_by(JournalEntry.seq.desc())).scalars().first()
        assert last is not None and last.actor == f"google:{world.connection}"
    world.push()
    assert copy_of(world)["start"]["dateTime"].startswith(  # type: ignore[index]
        local(world, 1, 14).strftime("%Y-%m-%dT%H:%M"))
    pull_now(world)  # the rewrite's echo changes nothing
    assert booking(world, made).start_utc == moved.start_utc and refusals(world) == []


def test_applied_a_move_onto_another_booking_is_refused_and_rewritten(world: World) -> None:
    choose(world, edits_from_calendars="apply")
    made = world.book(1)
    world.book(1, hour=14)
    world.push()
    ours = [e for e in world.google() if e["start"]["dateTime"].startswith(  # type: ignore
        local(world, 1, 10).strftime("%Y-%m-%dT%H:%M"))]
    move_copy(world, str(ours[0]["id"]), local(world, 1, 14, 15), local(world, 1, 15))
    pull_now(world)
    assert booking(world, made).start_utc == local(world, 1, 10).astimezone(dt.timezone.utc)
    [(booking_id, action, reason)] = refusals(world)
    assert (booking_id, action) == (made, "move") and "overlaps" in reason
    world.push()
    starts = sorted(str(e["start"]["dateTime"])[:16] for e in world.google())  # type: ignore
    assert starts == [local(world, 1, 10).strftime("%Y-%m-%dT%H:%M"),
                      local(world, 1, 14).strftime("%Y-%m-%dT%H:%M")]


def test_applied_a_deleted_copy_cancels_only_when_allowed(world: World) -> None:
    choose(world, edits_from_calendars="apply")
    made = world.book(1)
    world.push()
    pull_now(world)  # the first, full read (a delete is seen by the incremental ones)
    world.fake.user_delete_event("primary", str(copy_of(world)["id"]))
    pull_now(world)
    assert booking(world, made).status == "confirmed"
    [(booking_id, action, reason)] = refusals(world)
    assert (booking_id, action) == (made, "cancel") and "cancel" in reason
    world.push()
    assert copy_of(world)  # written again
    choose(world, allow_cancel_from_calendar=True)
    world.fake.user_delete_event("primary", str(copy_of(world)["id"]))
    pull_now(world)
    assert booking(world, made).status == "cancelled"
    world.push()
    assert [e for e in world.google() if e.get("status") != "cancelled"] == []
    assert len(refusals(world)) == 1


def test_other_edits_are_rewritten_even_when_applying(world: World) -> None:
    choose(world, edits_from_calendars="apply")
    made = world.book(1)
    world.push()
    copy = copy_of(world)
    world.fake.user_patch_event("primary", str(copy["id"]), {"summary": "edited in Google"})
    pull_now(world)
    world.push()
    assert copy_of(world)["summary"] != "edited in Google"
    assert booking(world, made).start_utc == local(world, 1, 10).astimezone(dt.timezone.utc)


def test_applied_a_copy_made_all_day_is_refused(world: World) -> None:
    choose(world, edits_from_calendars="apply")
    made = world.book(1)
    world.push()
    day = world.first_day
    world.fake.user_patch_event("primary", str(copy_of(world)["id"]), {
        "start": {"date": day.isoformat(), "dateTime": None, "timeZone": None},
        "end": {"date": (day + dt.timedelta(days=1)).isoformat(), "dateTime": None,
                "timeZone": None}})
    pull_now(world)
    assert booking(world, made).start_utc == local(world, 1, 10).astimezone(dt.timezone.utc)
    [(booking_id, action, reason)] = refusals(world)
    assert (booking_id, action) == (made, "move") and "all-day" in reason
    world.push()
    assert "dateTime" in copy_of(world)["start"]  # type: ignore[operator]

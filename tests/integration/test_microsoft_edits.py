"""Edits made in Outlook to our copies of bookings, with the business's `edits_from_calendars`
(as test_google_edits.py for Google): "rewrite" (the default) writes the copy again; "apply"
turns a moved copy into a reschedule and a deleted copy into a cancel when the booking rules
allow, else rewrites it and keeps the refusal (Microsoft status). Against the strict fake Graph
through the engine, on SQLite and PostgreSQL, on the injected clock (support.NOW)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from fakes.microsoft_fake import FakeMicrosoft
from microsoft_world import CALENDAR, TZ, MicrosoftWorld, make_microsoft_world
from server.api.routes_microsoft import status_out
from server.db.models import Booking, JournalEntry
from server.domain import businesses
from server.microsoft import copies
from server.microsoft.pull import parse
from server.sync.engine import Engine

UTC = dt.timezone.utc


@pytest.fixture
def ms(tmp_path: Path, database_url: str) -> Iterator[MicrosoftWorld]:
    with FakeMicrosoft() as fake, make_microsoft_world(tmp_path, database_url, fake) as world:
        yield world
        assert fake.internal_errors == []


def sync(world: MicrosoftWorld) -> None:
    [report] = Engine(world.runtime, worker="ms-test", providers=[world.provider()]).run_once(
        force_pull=True)
    assert report.error is None, report.error


def choose(world: MicrosoftWorld, **fields: Any) -> None:
    with world.runtime.db.write() as session:
        businesses.update_business(session, world.business, **fields)


def booking(world: MicrosoftWorld, booking_id: int) -> Booking:
    with world.runtime.db.read() as session:
        found = session.get(Booking, booking_id)
        assert found is not None
        session.expunge(found)
        return found


def local(world: MicrosoftWorld, day: int, hour: int, minute: int = 0) -> dt.datetime:
    date = world.first_day + dt.timedelta(days=day - 1)
    return dt.datetime.combine(date, dt.time(hour, minute), tzinfo=ZoneInfo(TZ))


def graph_time(moment: dt.datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).replace(tzinfo=None).isoformat(),
            "timeZone": "UTC"}


def our_copies(world: MicrosoftWorld) -> list[Any]:
    return [e for e in world.fake.mailbox.live(CALENDAR)
            if any(p["id"] == copies.PROPERTY
                   for p in e.data.get("singleValueExtendedProperties", []))]


def starts(world: MicrosoftWorld) -> list[dt.datetime]:
    """When our copies in Outlook start, as Outlook has them."""
    found = [parse({**e.data, "id": e.id}, TZ) for e in our_copies(world)]
    return sorted(getattr(change, "start_utc") for change in found)


def move_copy(world: MicrosoftWorld, event_id: str, start: dt.datetime,
              end: dt.datetime) -> None:
    """The mailbox's owner drags our copy to another time in Outlook."""
    world.fake.mailbox.update(event_id, {"start": graph_time(start), "end": graph_time(end)},
                              None)


def copy_at(world: MicrosoftWorld, start: dt.datetime) -> str:
    [found] = [e.id for e in our_copies(world)
               if getattr(parse({**e.data, "id": e.id}, TZ), "start_utc") == start]
    return str(found)


def refusals(world: MicrosoftWorld) -> list[tuple[int, str, str]]:
    with world.runtime.db.read() as session:
        return [(r.booking_id, r.action, r.reason)
                for r in status_out(session, world.business, world.now).edit_refusals]


def test_by_default_a_copy_moved_in_outlook_is_written_back(ms: MicrosoftWorld) -> None:
    made = ms.book(1)
    sync(ms)
    ten = local(ms, 1, 10).astimezone(UTC)
    move_copy(ms, copy_at(ms, ten), local(ms, 1, 14), local(ms, 1, 14, 45))
    sync(ms)
    assert booking(ms, made).start_utc == ten
    assert starts(ms) == [ten] and refusals(ms) == []


def test_applied_a_copy_moved_in_outlook_reschedules_the_booking(ms: MicrosoftWorld) -> None:
    choose(ms, edits_from_calendars="apply")
    made = ms.book(1)
    sync(ms)
    move_copy(ms, copy_at(ms, local(ms, 1, 10).astimezone(UTC)), local(ms, 1, 14),
              local(ms, 1, 14, 45))
    sync(ms)
    moved = booking(ms, made)
    assert moved.start_utc == local(ms, 1, 14).astimezone(UTC)
    assert moved.end_utc == local(ms, 1, 14, 45).astimezone(UTC)
    with ms.runtime.db.read() as session:
        last = session.execute(select(JournalEntry).where(
            JournalEntry.kind == "booking", JournalEntry.item_id == made)
            .order_by(JournalEntry.seq.desc())).scalars().first()
        assert last is not None and last.actor == f"microsoft:{ms.connection}"
    sync(ms)  # the copy's own echo changes nothing
    assert booking(ms, made).start_utc == moved.start_utc
    assert starts(ms) == [moved.start_utc] and refusals(ms) == []


def test_applied_a_move_onto_another_booking_is_refused_and_written_back(
        ms: MicrosoftWorld) -> None:
    choose(ms, edits_from_calendars="apply")
    made = ms.book(1)
    ms.book(1, hour=14)
    sync(ms)
    ten, two = local(ms, 1, 10).astimezone(UTC), local(ms, 1, 14).astimezone(UTC)
    move_copy(ms, copy_at(ms, ten), local(ms, 1, 14, 15), local(ms, 1, 15))
    sync(ms)
    assert booking(ms, made).start_utc == ten
    [(booking_id, action, reason)] = refusals(ms)
    assert (booking_id, action) == (made, "move") and "overlaps" in reason
    sync(ms)
    assert starts(ms) == [ten, two]


def test_applied_a_copy_deleted_in_outlook_cancels_only_when_allowed(
        ms: MicrosoftWorld) -> None:
    choose(ms, edits_from_calendars="apply")
    made = ms.book(1)
    sync(ms)
    ms.fake.mailbox.delete(copy_at(ms, local(ms, 1, 10).astimezone(UTC)))
    sync(ms)
    assert booking(ms, made).status == "confirmed"
    [(booking_id, action, reason)] = refusals(ms)
    assert (booking_id, action) == (made, "cancel") and "cancel" in reason
    sync(ms)
    assert len(our_copies(ms)) == 1  # written again
    choose(ms, allow_cancel_from_calendar=True)
    ms.fake.mailbox.delete(our_copies(ms)[0].id)
    sync(ms)
    assert booking(ms, made).status == "cancelled"
    sync(ms)
    assert our_copies(ms) == [] and len(refusals(ms)) == 1


def test_other_edits_are_written_back_even_when_applying(ms: MicrosoftWorld) -> None:
    choose(ms, edits_from_calendars="apply")
    made = ms.book(1)
    sync(ms)
    [copy] = our_copies(ms)
    ms.fake.mailbox.update(copy.id, {"subject": "edited in Outlook"}, None)
    sync(ms)
    sync(ms)
    assert our_copies(ms)[0].data["subject"] != "edited in Outlook"
    assert booking(ms, made).start_utc == local(ms, 1, 10).astimezone(UTC)

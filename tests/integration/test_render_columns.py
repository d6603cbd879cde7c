"""The publisher renders items from plain column rows (one Core query per batch, no ORM objects:
server/publishing/publish.py). Its texts equal those built the way it did before, from ORM objects (the
reference below, kept here only as the proof), for every profile, on SQLite and PostgreSQL:
bookings with and without a client, with every client field, notes and location set or empty,
hostile and non-ASCII text, the repeated autumn hour; blocked time timed, all-day and repeating
with exceptions. The same holds for what a feed, a multiget and a GET serve (they all take the
texts from the publisher)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event, select, update

from server.db.models import BlockedTime, Booking, Calendar, Client, RenderedItem, Service
from server.domain import journal
from server.domain.blocked import create_blocked
from server.domain.bookings import create_booking
from server.domain.businesses import create_business
from server.domain.calendars import create_calendar
from server.domain.clients import create_client
from server.domain.recurrence import stored_rule
from server.domain.services import create_service
from server.publishing.ical import render_event
from server.publishing.publish import Publisher
from server.redaction import PROFILES, BlockedFacts, BookingFacts, blocked_view, booking_view
from server.runtime import Runtime
from support import NOW, make_runtime

HOSTILE = "Ærø; \\N, \"quoted\"\r\nline\x07\u2028 \ufeffend – 💇 " + "long " * 30


def _reference_booking_texts(runtime: Runtime, profile: Any) -> dict[int, str]:
    """The previous rendering: ORM objects, then the same facts, view and writer."""
    texts = {}
    with runtime.db.read() as session:
        query = (select(Booking, Service.name, Calendar.name, Client)
                 .join(Service, Service.id == Booking.service_id)
                 .join(Calendar, Calendar.id == Booking.calendar_id)
                 .outerjoin(Client, Client.id == Booking.client_id))
        for booking, service_name, employee, client in session.execute(query):
            facts = BookingFacts(
                uid=booking.uid, start_local=booking.start_local, end_local=booking.end_local,
                start_utc=booking.start_utc, end_utc=booking.end_utc, tzid=booking.tzid,
                revision=booking.revision, created=booking.created_at,
                updated=booking.updated_at, service_name=service_name, employee_name=employee,
                client_name=client.name if client else None,
                client_email=client.email if client else None,
                client_phone=client.phone if client else None,
                client_address=client.address if client else None,
                client_notes=client.notes if client else None,
                location=booking.location, notes=booking.notes)
            texts[booking.id] = render_event(booking_view(facts, profile))
    return texts


def _reference_blocked_texts(runtime: Runtime, profile: Any) -> dict[int, str]:
    texts = {}
    with runtime.db.read() as session:
        for item in session.execute(select(BlockedTime)).scalars():
            facts = BlockedFacts(
                uid=item.uid, title=item.title, all_day=item.all_day,
                start_local=item.start_local, end_local=item.end_local, tzid=item.tzid,
                rrule=stored_rule(item.rrule, item.start_local, item.tzid),
                exdates=tuple(dt.datetime.fromisoformat(v) for v in json.loads(item.exdates)),
                revision=item.revision, created=item.created_at, updated=item.updated_at)
            texts[item.id] = render_event(blocked_view(facts, profile))
    return texts


def _seed(runtime: Runtime) -> tuple[int, list[int], list[int]]:
    now = NOW
    with runtime.db.write() as s:
        business = create_business(s, name="Salon", timezone="Europe/Copenhagen", now=now)
        calendar = create_calendar(s, business.id, name=HOSTILE, now=now)
        service = create_service(s, business.id, name="Cut " + HOSTILE, duration_minutes=45,
                                 now=now)
        full = create_client(s, business.id, name="Åse " + HOSTILE, now=now,
                             email="aase@example.com", phone="+45 12 34 56 78",
                             address="Vej 1;\n2000 Frederiksberg", notes=HOSTILE)
        bare = create_client(s, business.id, name="Bo", now=now)
        day = (now + dt.timedelta(days=3)).date()
        bookings = []
        for number, (client_id, location, notes) in enumerate([
                (full.id, "Home, " + HOSTILE, HOSTILE), (bare.id, None, None),
                (None, "", ""), (None, None, "Notes only")]):
            start = dt.datetime.combine(day + dt.timedelta(days=number), dt.time(10, 0))
            bookings.append(create_booking(
                s, business.id, calendar_id=calendar.id, service_id=service.id, start=start,
                now=now, client_id=client_id, location=location, notes=notes).id)
        # The repeated hour of the last Sunday of October (02:30 local happens twice).
        autumn = dt.datetime(now.year + 1, 10, 31, 1, 30, tzinfo=dt.timezone.utc)
        while autumn.weekday() != 6:
            autumn -= dt.timedelta(days=1)
        bookings.append(create_booking(s, business.id, calendar_id=calendar.id,
                                       service_id=service.id, start=autumn, now=now).id)
        first = dt.datetime.combine(day + dt.timedelta(days=10), dt.time(12, 0))
        blocked = [
            create_blocked(s, business.id, calendar_id=calendar.id, start=first,
                           end=first + dt.timedelta(hours=1), now=now, title=HOSTILE).id,
            create_blocked(s, business.id, calendar_id=calendar.id,
                           start=day + dt.timedelta(days=12), end=day + dt.timedelta(days=13),
                           now=now, all_day=True).id,
            create_blocked(s, business.id, calendar_id=calendar.id,
                           start=first + dt.timedelta(days=7),
                           end=first + dt.timedelta(days=7, hours=1), now=now,
                           title="Lunch", rrule="FREQ=WEEKLY;COUNT=10",
                           exdates=[first + dt.timedelta(days=14)]).id,
        ]
        return calendar.id, bookings, blocked


def _business_of(session: Any, calendar_id: int) -> int:
    calendar = session.get(Calendar, calendar_id)
    assert calendar is not None
    return int(calendar.business_id)


def test_column_rendering_equals_the_orm_rendering(tmp_path: Path, database_url: str) -> None:
    runtime = make_runtime(tmp_path, database_url)
    calendar_id, bookings, blocked = _seed(runtime)
    try:
        for profile in PROFILES:
            with runtime.db.read() as session:
                publisher = Publisher(session, journal.epoch(session), profile,
                              business_id=_business_of(session, calendar_id))
                ours = publisher._render_bookings(bookings)
                ours_blocked = publisher._render_blocked(blocked)
            assert ours == _reference_booking_texts(runtime, profile)
            assert ours_blocked == _reference_blocked_texts(runtime, profile)
            # What the publisher's readers serve: rendered now (nothing cached), then from
            # the cache it stored, the same texts.
            with runtime.db.write() as session:
                session.execute(delete(RenderedItem))
            for attempt in ("cold", "cached"):
                with runtime.db.read() as session:
                    calendar = session.get(Calendar, calendar_id)
                    assert calendar is not None
                    publisher = Publisher(session, journal.epoch(session), profile,
                              business_id=_business_of(session, calendar_id))
                    items = list(publisher.everything(calendar))
                    uids = [item.uid for item in items]
                    by_uids = {item.uid: item.event_text
                               for item in publisher.by_uids(calendar, uids)}
                    one = publisher.by_uid(calendar, uids[0])
                    assert (attempt == "cold") == bool(publisher.fresh)
                    publisher.save(runtime.db)
                expected = {**{("booking", i): t for i, t in ours.items()},
                            **{("blocked", i): t for i, t in ours_blocked.items()}}
                assert {(item.kind, item.item_id): item.event_text for item in items} \
                    == expected, attempt
                assert by_uids == {item.uid: item.event_text for item in items}
                assert one is not None and one.event_text == items[0].event_text
    finally:
        runtime.db.dispose()


def test_a_feeds_texts_are_the_same_cold_stored_and_stale(tmp_path: Path,
                                                          database_url: str) -> None:
    """texts_in_range (a feed's items) gives the rendered texts when nothing is stored, the
    stored ones after a save, and renders again a text stored for an older sequence. On
    PostgreSQL the server-side cursor reads the items without rendered_items (each chunk's
    stored texts are read by key): the texts saved while that cursor is open made a join
    inside it slower for every item (a first render of 10k items took 10 s instead of 1)."""
    runtime = make_runtime(tmp_path, database_url)
    calendar_id, bookings, blocked = _seed(runtime)
    streamed: list[str] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                executemany: bool) -> None:
        if context is not None and context.execution_options.get("yield_per"):
            streamed.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", capture)
    start, end = NOW - dt.timedelta(days=30), NOW + dt.timedelta(days=800)
    try:
        profile = "full"
        with runtime.db.read() as session:
            publisher = Publisher(session, journal.epoch(session), profile,
                              business_id=_business_of(session, calendar_id))
            expected = [*publisher._render_bookings(bookings).values(),
                        *publisher._render_blocked(blocked).values()]
        for attempt in ("cold", "stored", "stale"):
            if attempt == "stale":  # the stored text of one booking is for an older sequence
                with runtime.db.write() as session:
                    session.execute(update(RenderedItem).where(
                        RenderedItem.kind == "booking", RenderedItem.item_id == bookings[0])
                        .values(seq=RenderedItem.seq - 1, text="BEGIN:VEVENT\r\nstale\r\n"))
            with runtime.db.read() as session:
                calendar = session.get(Calendar, calendar_id)
                assert calendar is not None
                publisher = Publisher(session, journal.epoch(session), profile,
                              business_id=_business_of(session, calendar_id))
                texts = list(publisher.texts_in_range([calendar], start, end))
                fresh = set(publisher.fresh)
                publisher.save(runtime.db)
            assert sorted(texts) == sorted(expected), attempt
            assert fresh == {"cold": {("booking", i) for i in bookings}
                             | {("blocked", i) for i in blocked},
                             "stored": set(), "stale": {("booking", bookings[0])}}[attempt]
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", capture)
        runtime.db.dispose()
    if runtime.db.is_sqlite:  # the driver's own cursor over the joined query
        assert streamed == []
    else:
        assert len(streamed) == 6, streamed  # bookings and blocked time, three times
        assert not any("rendered_items" in statement for statement in streamed), streamed

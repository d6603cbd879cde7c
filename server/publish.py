"""What a link publishes: the items of its calendars, each rendered through the link's profile,
with UID, ETag and time range. Text is rendered once per (item, profile, journal sequence) and
kept in rendered_items; reads are indexed range queries joined with that cache.

ETags come from the journal (epoch, item, sequence, profile, renderer version), never from the
content, so an ETag cannot leak a hash of unredacted data."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from server.db import Database
from server.db.models import BlockedTime, Booking, Calendar, Client, RenderedItem, Service
from server.errors import BookingCalError
from server.ical import RENDER_VERSION, render_event
from server.redaction import BlockedFacts, BookingFacts, Profile, blocked_view, booking_view

log = logging.getLogger(__name__)
CHUNK = 1000
BookingSelect = Select[Booking, str, str, Client, str]
BlockedSelect = Select[BlockedTime, str]


@dataclass(frozen=True)
class Published:
    kind: str  # "booking" or "blocked"
    item_id: int
    calendar_id: int
    uid: str
    seq: int
    tzid: str
    start_utc: dt.datetime
    end_utc: dt.datetime | None  # None: a series without end
    start_local: dt.datetime
    updated: dt.datetime
    etag: str
    event_text: str

    @property
    def href(self) -> str:
        return f"{self.uid}.ics"


def item_etag(epoch: str, kind: str, item_id: int, seq: int, profile: str) -> str:
    digest = hashlib.sha256(f"{epoch}:{kind}:{item_id}:{seq}:{profile}:{RENDER_VERSION}"
                            .encode()).hexdigest()[:32]
    return f'"{digest}"'


def _booking_query(profile: str) -> "BookingSelect":
    cached = and_(RenderedItem.kind == "booking", RenderedItem.item_id == Booking.id,
                  RenderedItem.profile == profile, RenderedItem.seq == Booking.seq,
                  RenderedItem.version == RENDER_VERSION)
    return (select(Booking, Service.name, Calendar.name, Client, RenderedItem.text)
            .join(Service, Service.id == Booking.service_id)
            .join(Calendar, Calendar.id == Booking.calendar_id)
            .outerjoin(Client, Client.id == Booking.client_id)
            .outerjoin(RenderedItem, cached)
            .where(Booking.status == "confirmed"))


def _blocked_query(profile: str) -> "BlockedSelect":
    cached = and_(RenderedItem.kind == "blocked", RenderedItem.item_id == BlockedTime.id,
                  RenderedItem.profile == profile, RenderedItem.seq == BlockedTime.seq,
                  RenderedItem.version == RENDER_VERSION)
    return select(BlockedTime, RenderedItem.text).outerjoin(RenderedItem, cached)


class Publisher:
    """Reads a link's items in one session. Newly rendered texts are collected in `fresh` and
    stored by `Publisher.save()` in a short write transaction of their own."""

    def __init__(self, session: Session, epoch: str, profile: Profile) -> None:
        self.session = session
        self.epoch = epoch
        self.profile = profile
        self.fresh: dict[tuple[str, int], dict[str, Any]] = {}

    # --- rows to published items ------------------------------------------------------------

    def _booking(self, booking: Booking, service_name: str, employee: str,
                 client: Client | None, cached: str | None) -> Published:
        text = cached
        if text is None:
            facts = BookingFacts(
                uid=booking.uid, start_local=booking.start_local, end_local=booking.end_local,
                start_utc=booking.start_utc, end_utc=booking.end_utc,
                tzid=booking.tzid, revision=booking.revision, created=booking.created_at,
                updated=booking.updated_at, service_name=service_name, employee_name=employee,
                client_name=client.name if client else None,
                client_email=client.email if client else None,
                client_phone=client.phone if client else None,
                client_address=client.address if client else None,
                client_notes=client.notes if client else None,
                location=booking.location, notes=booking.notes)
            text = render_event(booking_view(facts, self.profile))
            self._remember("booking", booking.id, booking.seq, text)
        return Published("booking", booking.id, booking.calendar_id, booking.uid, booking.seq,
                         booking.tzid, booking.start_utc, booking.end_utc, booking.start_local,
                         booking.updated_at, item_etag(self.epoch, "booking", booking.id, booking.seq,
                                   self.profile), text)

    def _blocked(self, item: BlockedTime, cached: str | None) -> Published:
        text = cached
        if text is None:
            facts = BlockedFacts(
                uid=item.uid, title=item.title, all_day=item.all_day,
                start_local=item.start_local, end_local=item.end_local, tzid=item.tzid,
                rrule=item.rrule,
                exdates=tuple(dt.datetime.fromisoformat(v) for v in json.loads(item.exdates)),
                revision=item.revision, created=item.created_at, updated=item.updated_at)
            text = render_event(blocked_view(facts, self.profile))
            self._remember("blocked", item.id, item.seq, text)
        return Published("blocked", item.id, item.calendar_id, item.uid, item.seq, item.tzid,
                         item.start_utc, item.series_end_utc if item.repeats else item.end_utc,
                         item.start_local, item.updated_at,
                         item_etag(self.epoch, "blocked", item.id, item.seq, self.profile), text)

    def _remember(self, kind: str, item_id: int, seq: int, text: str) -> None:
        self.fresh[(kind, item_id)] = {"kind": kind, "item_id": item_id, "profile": self.profile,
                                       "seq": seq, "version": RENDER_VERSION, "text": text}

    def _bookings(self, query: "BookingSelect") -> Iterator[Published]:
        for row in self.session.execute(query.execution_options(yield_per=CHUNK)):
            yield self._booking(*row)

    def _blocked_items(self, query: "BlockedSelect") -> Iterator[Published]:
        for item, cached in self.session.execute(query.execution_options(yield_per=CHUNK)):
            yield self._blocked(item, cached)

    # --- queries ----------------------------------------------------------------------------

    def in_range(self, calendars: Sequence[Calendar], start: dt.datetime,
                 end: dt.datetime) -> Iterator[Published]:
        """Items overlapping [start, end): confirmed bookings in start order, then blocked time
        (a series whose occurrences may fall in the range counts). Index range scans, bounded
        below by each calendar's longest span."""
        for calendar in calendars:
            span = dt.timedelta(seconds=calendar.max_span_seconds)
            yield from self._bookings(_booking_query(self.profile).where(
                Booking.calendar_id == calendar.id, Booking.start_utc >= start - span,
                Booking.start_utc < end, Booking.end_utc > start)
                .order_by(Booking.start_utc, Booking.id))
            yield from self._blocked_items(_blocked_query(self.profile).where(
                BlockedTime.calendar_id == calendar.id,
                or_(and_(BlockedTime.repeats.is_(False),
                         BlockedTime.start_utc >= start - span, BlockedTime.start_utc < end,
                         BlockedTime.end_utc > start),
                    and_(BlockedTime.repeats.is_(True), BlockedTime.start_utc < end,
                         or_(BlockedTime.series_end_utc.is_(None),
                             BlockedTime.series_end_utc > start))))
                .order_by(BlockedTime.start_utc, BlockedTime.id))

    def everything(self, calendar: Calendar) -> Iterator[Published]:
        yield from self._bookings(_booking_query(self.profile).where(
            Booking.calendar_id == calendar.id).order_by(Booking.start_utc, Booking.id))
        yield from self._blocked_items(_blocked_query(self.profile).where(
            BlockedTime.calendar_id == calendar.id).order_by(BlockedTime.start_utc,
                                                             BlockedTime.id))

    def uids(self, calendar: Calendar) -> Iterator[str]:
        """The UIDs of every item the calendar shows, without rendering anything."""
        yield from self.session.execute(select(Booking.uid).where(
            Booking.calendar_id == calendar.id, Booking.status == "confirmed")
            .order_by(Booking.id)).scalars()
        yield from self.session.execute(select(BlockedTime.uid).where(
            BlockedTime.calendar_id == calendar.id).order_by(BlockedTime.id)).scalars()

    def by_uids(self, calendar: Calendar, uids: Iterable[str]) -> list[Published]:
        wanted = list(set(uids))
        found: list[Published] = []
        for start in range(0, len(wanted), 500):
            part = wanted[start:start + 500]
            found.extend(self._bookings(_booking_query(self.profile).where(
                Booking.calendar_id == calendar.id, Booking.uid.in_(part))))
            found.extend(self._blocked_items(_blocked_query(self.profile).where(
                BlockedTime.calendar_id == calendar.id, BlockedTime.uid.in_(part))))
        return found

    def by_ids(self, calendar: Calendar, kind: str, ids: Iterable[int]) -> list[Published]:
        wanted = list(set(ids))
        found: list[Published] = []
        for start in range(0, len(wanted), 500):
            part = wanted[start:start + 500]
            if kind == "booking":
                found.extend(self._bookings(_booking_query(self.profile).where(
                    Booking.calendar_id == calendar.id, Booking.id.in_(part))))
            else:
                found.extend(self._blocked_items(_blocked_query(self.profile).where(
                    BlockedTime.calendar_id == calendar.id, BlockedTime.id.in_(part))))
        return found

    def tzids_in_range(self, calendars: Sequence[Calendar], start: dt.datetime,
                       end: dt.datetime) -> tuple[set[str], dt.datetime | None]:
        """The zones the range's items use, and the earliest local start of a series that
        began before the range (its VTIMEZONE must reach back that far)."""
        ids = [c.id for c in calendars]
        zones = {c.timezone for c in calendars}
        if not ids:
            return zones, None
        span = dt.timedelta(seconds=max(c.max_span_seconds for c in calendars))
        zones.update(self.session.execute(select(Booking.tzid).distinct().where(
            Booking.calendar_id.in_(ids), Booking.start_utc >= start - span,
            Booking.start_utc < end)).scalars())
        rows = self.session.execute(select(BlockedTime.tzid, BlockedTime.start_local).where(
            BlockedTime.calendar_id.in_(ids), BlockedTime.start_utc < end,
            or_(BlockedTime.series_end_utc.is_(None), BlockedTime.series_end_utc > start - span)
        )).all()
        zones.update(row.tzid for row in rows)
        earliest = min((row.start_local for row in rows), default=None)
        return zones, earliest

    # --- the cache --------------------------------------------------------------------------

    def save(self, db: Database) -> None:
        """Store newly rendered texts (best effort: a busy database only costs a re-render)."""
        fresh, self.fresh = list(self.fresh.values()), {}
        if fresh:
            store_rendered(db, fresh)


def store_rendered(db: Database, rows: list[dict[str, Any]]) -> None:
    insert = sqlite.insert if db.is_sqlite else postgresql.insert
    try:
        for start in range(0, len(rows), 500):
            with db.write() as session:
                statement = insert(RenderedItem).values(rows[start:start + 500])
                session.execute(statement.on_conflict_do_update(
                    index_elements=["kind", "item_id", "profile"],
                    set_={"seq": statement.excluded.seq, "version": statement.excluded.version,
                          "text": statement.excluded.text}))
    except (BookingCalError, SQLAlchemyError) as exc:
        # Best effort: a busy database or a concurrent writer only costs a re-render.
        log.info("rendered text not cached this time: %s", type(exc).__name__)

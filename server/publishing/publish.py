"""What a link publishes: the items of its calendars, each rendered through the link's profile,
with UID, ETag and time range. Text is rendered once per (item, profile, journal sequence) and
kept in rendered_items; reads are indexed range queries joined with that cache.

ETags come from the journal, never from the content, so an ETag cannot leak a hash of unredacted
data: an item's ETag is a stamp naming its view (the database epoch, the profile, a link's own
reminder and naming, a writable account's alarms, the renderer version; hashed once per view,
not per item) and the item's sequence (the calendar's journal position of its last change).
The href names the item, so together they name exactly the text served: a listing of a whole
calendar builds its ETags as strings, without a digest per item."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import Select, and_, bindparam, case, literal, or_, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from server.db import Database
from server.db.models import (
    AccountAlarm, BlockedTime, Booking, Calendar, Client, RenderedItem, Service,
)
from server.domain.recurrence import stored_rule
from server.errors import BookingCalError
from server.publishing.ical import (
    RENDER_VERSION, item_document, render_event, with_alarm, with_summary_suffix,
)
from server.domain.phone_event import is_instance_uid
from server.redaction import BlockedFacts, BookingFacts, Profile, blocked_view, booking_view

log = logging.getLogger(__name__)
CHUNK = 1000


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
    epoch: str
    profile: str
    event_text: str
    # The whole resource as a writable account's phone sent it (its own personal events), or
    # a booking with the alarms that account added (`alarm_version` of them, in its ETag).
    document: str | None = None
    alarm_version: int = 0
    view: str = ""  # the link's view of the item (LinkView.key): part of its ETag

    @property
    def href(self) -> str:
        return f"{self.uid}.ics"

    @property
    def etag(self) -> str:
        return item_etag(self.epoch, self.kind, self.item_id, self.seq,
                         with_alarms(self.profile, self.alarm_version) + self.view)


def with_alarms(profile: str, alarm_version: int) -> str:
    """The profile part of the ETag of a booking as a writable account sees it: its own
    alarms (their version) make it another resource than the booking alone."""
    return f"{profile}+alarms{alarm_version}" if alarm_version else profile


@dataclass(frozen=True)
class LinkView:
    """What a (read-only) link adds to its profile's texts: an alarm `reminder` minutes before
    each booking (None: no alarm), and in a link of several calendars, blocked time named by
    its employee (`names`: calendar id -> " – Anna"). Part of every item's ETag and of the
    calendar's sync token and ctag, so changing a link's reminder or renaming an employee
    changes what clients see as changed."""

    reminder: int | None = None
    names: Mapping[int, str] = field(default_factory=dict)

    def key(self, kind: str, calendar_id: int) -> str:
        """The ETag part of this view for one kind of item in one calendar ("" for none)."""
        if kind == "booking":
            return "" if self.reminder is None else f"|alarm{self.reminder}"
        name = self.names.get(calendar_id)
        return "" if name is None else "|named" + name

    def calendar_key(self, calendar_id: int) -> str:
        """Both kinds' parts: what a calendar's sync token and ctag carry."""
        return self.key("booking", calendar_id) + self.key("blocked", calendar_id)

    def apply(self, kind: str, calendar_id: int, text: str) -> str:
        """A profile's VEVENT text as this link serves it."""
        if kind == "booking":
            return text if self.reminder is None else with_alarm(text, self.reminder)
        name = self.names.get(calendar_id)
        return text if name is None else with_summary_suffix(text, name)


NO_VIEW = LinkView()


def names_blocked(scope: str, profile: str) -> bool:
    """Whether blocked time names its employee ("Lunch – Anna"): in a link of several calendars
    (a set or all), where three identical "Lunch" events must be told apart, for the profiles
    that show titles ("Busy" stays the time only)."""
    return scope != "calendar" and profile in ("full", "limited")


def employee_suffix(calendar_name: str) -> str:
    """" – Anna": the end of a blocked time's summary naming its calendar's employee."""
    return " – " + " ".join(calendar_name.split())


def link_view(scope: str, profile: str, reminder: int | None, writable: bool,
              calendars: Iterable[Any]) -> LinkView:
    """The view of a link over `calendars` (anything with `id` and `name`). A writable
    account's phone keeps its own alarms and sees its one calendar unnamed: no view."""
    if writable:
        return NO_VIEW
    names = {c.id: employee_suffix(c.name) for c in calendars} \
        if names_blocked(scope, profile) else {}
    return LinkView(reminder, names)


@functools.lru_cache(maxsize=4096)
def etag_stamp(epoch: str, profile: str) -> str:
    """What every item ETag of one view shares: a digest of the epoch, the view (`profile` and
    what `with_alarms` and `LinkView.key` add to it) and the renderer version. Computed once
    per view, not per item."""
    key = f"{epoch}:{profile}:{RENDER_VERSION}".encode()
    return hashlib.sha256(key).hexdigest()[:20]


def etag_head(epoch: str, profile: str) -> str:
    """What every item ETag of a view starts with (the ETag is this, the sequence and '"')."""
    return f'"{etag_stamp(epoch, profile)}-'


def item_etag(epoch: str, kind: str, item_id: int, seq: int, profile: str) -> str:
    """The strong ETag of an item's text in a view: the view's stamp and the item's sequence
    (its calendar's journal position at its last change, which no other change of that
    calendar shares). `kind` and `item_id` are named by the href (a booking and blocked time
    never share a UID); they are not written into the ETag (ids are global, counted across
    businesses)."""
    return f'{etag_head(epoch, profile)}{seq}"'


def etag_maker(epoch: str, kind: str, profile: str) -> Callable[[int, int], str]:
    """`item_etag` for many items of one kind and view."""
    head = etag_head(epoch, profile)

    def etag(item_id: int, seq: int) -> str:
        return f'{head}{seq}"'

    return etag


def etags_of(epoch: str, kind: str, profile: str, items: Iterable[tuple[int, int]]
             ) -> list[str]:
    """`item_etag` of many (item id, seq) pairs of one kind and view: string building only."""
    head = etag_head(epoch, profile)
    return [f'{head}{seq}"' for _, seq in items]


def _cached(kind: str, model: Any, profile: str) -> Any:
    return and_(RenderedItem.kind == kind, RenderedItem.item_id == model.id,
                RenderedItem.profile == profile, RenderedItem.seq == model.seq,
                RenderedItem.version == RENDER_VERSION)


def _booking_rows(profile: str, *columns: Any) -> Select[Any]:
    """Bookings' columns with their cached text (NULL when it must be rendered)."""
    return (select(*columns, RenderedItem.text)
            .outerjoin(RenderedItem, _cached("booking", Booking, profile))
            .where(Booking.status == "confirmed"))


def _blocked_rows(profile: str, *columns: Any) -> Select[Any]:
    return select(*columns, RenderedItem.text).outerjoin(
        RenderedItem, _cached("blocked", BlockedTime, profile))


BOOKING_COLUMNS = (Booking.id, Booking.calendar_id, Booking.uid, Booking.seq, Booking.tzid,
                   Booking.start_utc, Booking.end_utc, Booking.start_local, Booking.updated_at)
BLOCKED_COLUMNS = (BlockedTime.id, BlockedTime.calendar_id, BlockedTime.uid, BlockedTime.seq,
                   BlockedTime.tzid, BlockedTime.start_utc, BlockedTime.end_utc,
                   BlockedTime.series_end_utc, BlockedTime.repeats, BlockedTime.start_local,
                   BlockedTime.updated_at)


class Publisher:
    """Reads a link's items in one session. Reads are column queries joined with the render
    cache; only items whose text is missing are loaded whole and rendered. Newly rendered
    texts are collected in `fresh` and stored by `save()` in a write transaction of their own."""

    def __init__(self, session: Session, epoch: str, profile: Profile,
                 own_link: int | None = None, view: LinkView = NO_VIEW) -> None:
        self.session = session
        self.epoch = epoch
        self.profile = profile
        # What the link adds to the profile's texts (a reminder, employees' names): applied to
        # the items it reads, part of their ETags (see `etag_profile`).
        self.view = view
        # A writable account (this link id): its own personal events come back as its phone
        # sent them, its bookings with the alarms it added.
        self.own_link = own_link
        self.own = own_link is not None
        # Which of the writable account's collections is read: None its employee's calendar,
        # else a personal calendar's id (its events only, no bookings). Set per collection by
        # the storage (server/storage_backend.py).
        self.collection: int | None = None
        self.fresh: dict[tuple[str, int], dict[str, Any]] = {}

    def etag_profile(self, kind: str, calendar_id: int) -> str:
        """The `profile` argument of `item_etag` for this publisher's items of `kind` in a
        calendar (a writable account's own alarms aside, added per booking)."""
        return self.profile + self.view.key(kind, calendar_id)

    def _item(self, kind: str, item_id: int, calendar_id: int, uid: str, seq: int, tzid: str,
              start_utc: dt.datetime, end_utc: dt.datetime | None, start_local: dt.datetime,
              updated: dt.datetime, text: str, document: str | None = None) -> Published:
        """An item as this publisher's link sees it (its view applied to the text)."""
        view = self.view
        return Published(kind, item_id, calendar_id, uid, seq, tzid, start_utc, end_utc,
                         start_local, updated, self.epoch, self.profile,
                         view.apply(kind, calendar_id, text), document,
                         view=view.key(kind, calendar_id))

    def _alarms(self, ids: list[int]) -> dict[int, tuple[str, int]]:
        """(alarm text, version) the writable account added to these bookings."""
        if self.own_link is None or not ids:
            return {}
        rows = self.session.execute(select(
            AccountAlarm.booking_id, AccountAlarm.text, AccountAlarm.version).where(
            AccountAlarm.link_id == self.own_link, AccountAlarm.booking_id.in_(ids)))
        return {row[0]: (row[1], row[2]) for row in rows}

    def _with_alarms(self, item: Published, alarms: dict[int, tuple[str, int]]) -> Published:
        found = alarms.get(item.item_id)
        if found is None:
            return item
        text, version = found
        head, end, tail = item.event_text.rpartition("END:VEVENT")
        document = item_document(head + text + end + tail, item.tzid)
        return replace(item, document=document, alarm_version=version)

    def _sent(self, ids: list[int]) -> dict[int, tuple[str | None, int | None]]:
        """(text its phone sent, personal calendar) of these blocked times, for those the
        writable account's current collection shows (its view only)."""
        if not self.own or not ids:
            return {}
        rows = self.session.execute(select(
            BlockedTime.id, BlockedTime.source_text, BlockedTime.collection_id, BlockedTime.uid
        ).where(BlockedTime.id.in_(ids)))
        # The instances stored for its overrides and RDATEs are inside its events' texts.
        return {row[0]: (row[1], row[2]) for row in rows
                if row[2] == self.collection and not is_instance_uid(row[3])}

    # --- rendering what the cache lacks -----------------------------------------------------

    def _render_bookings(self, ids: list[int]) -> dict[int, str]:
        """Texts of the bookings `ids`, rendered from plain columns (one Core query, no ORM
        objects: loading a cold feed's bookings as objects cost more than rendering them)."""
        texts: dict[int, str] = {}
        if not ids:
            return texts
        profile, remember = self.profile, self._remember
        for (item_id, business_id, seq, uid, start_local, end_local, start_utc, end_utc, tzid,
             revision, created, updated, service_name, employee, client_name, client_email,
             client_phone, client_address, client_notes, location, notes, all_day
             ) in self.session.connection().execute(_booking_facts(), {"ids": ids}).all():
            facts = BookingFacts(
                uid=uid, start_local=start_local, end_local=end_local, start_utc=start_utc,
                end_utc=end_utc, tzid=tzid, revision=revision, created=created,
                updated=updated, service_name=service_name, employee_name=employee,
                client_name=client_name, client_email=client_email, client_phone=client_phone,
                client_address=client_address, client_notes=client_notes, location=location,
                notes=notes, all_day=all_day)
            text = texts[item_id] = render_event(booking_view(facts, profile))
            remember("booking", item_id, business_id, seq, text)
        return texts

    def _render_blocked(self, ids: list[int]) -> dict[int, str]:
        texts: dict[int, str] = {}
        if not ids:
            return texts
        profile, remember = self.profile, self._remember
        for (item_id, business_id, seq, uid, title, all_day, start_local, end_local, tzid,
             rrule, exdates, revision, created, updated
             ) in self.session.connection().execute(_blocked_facts(), {"ids": ids}).all():
            facts = BlockedFacts(
                uid=uid, title=title, all_day=all_day, start_local=start_local,
                end_local=end_local, tzid=tzid, rrule=stored_rule(rrule, start_local, tzid),
                exdates=tuple(dt.datetime.fromisoformat(v) for v in json.loads(exdates)),
                revision=revision, created=created, updated=updated)
            text = texts[item_id] = render_event(blocked_view(facts, profile))
            remember("blocked", item_id, business_id, seq, text)
        return texts

    def _remember(self, kind: str, item_id: int, business_id: int, seq: int,
                  text: str) -> None:
        self.fresh[(kind, item_id)] = {"kind": kind, "item_id": item_id, "profile": self.profile,
                                       "business_id": business_id, "seq": seq,
                                       "version": RENDER_VERSION, "text": text}

    def _chunks(self, query: Select[Any]) -> Iterator[list[Any]]:
        result = self.session.execute(query.execution_options(yield_per=CHUNK))
        for chunk in result.partitions(CHUNK):
            yield list(chunk)

    def _bookings(self, query: Select[Any]) -> Iterator[Published]:
        if self.own and self.collection is not None:
            return  # a personal calendar holds no bookings
        for chunk in self._chunks(query):
            rendered = self._render_bookings([r.id for r in chunk if r.text is None])
            alarms = self._alarms([r.id for r in chunk])
            for r in chunk:
                yield self._with_alarms(self._item(
                    "booking", r.id, r.calendar_id, r.uid, r.seq, r.tzid, r.start_utc,
                    r.end_utc, r.start_local, r.updated_at,
                    r.text if r.text is not None else rendered[r.id]), alarms)

    def _blocked_items(self, query: Select[Any]) -> Iterator[Published]:
        for chunk in self._chunks(query):
            rendered = self._render_blocked([r.id for r in chunk if r.text is None])
            sent = self._sent([r.id for r in chunk])
            for r in chunk:
                if self.own and r.id not in sent:
                    continue  # another collection's, or an instance inside an event's text
                yield self._item("blocked", r.id, r.calendar_id, r.uid, r.seq, r.tzid,
                                 r.start_utc, r.series_end_utc if r.repeats else r.end_utc,
                                 r.start_local, r.updated_at,
                                 r.text if r.text is not None else rendered[r.id],
                                 sent[r.id][0] if r.id in sent else None)

    def _texts(self, query: Select[Any], render: Any) -> Iterator[str]:
        """(id, text) rows to texts. On SQLite the rows come straight from the driver's cursor
        (ids and texts need no conversion), which saves most of a warm feed's time; PostgreSQL
        keeps the server-side cursor of `yield_per`, so a big feed is never held in memory."""
        connection = self.session.connection()
        if connection.dialect.name == "sqlite":
            result = connection.execute(query)
            try:
                while rows := result.cursor.fetchmany(CHUNK):
                    rendered = render([item_id for item_id, text in rows if text is None])
                    for item_id, text in rows:
                        yield text if text is not None else rendered[item_id]
            finally:
                result.close()
            return
        for chunk in self._chunks(query):
            rendered = render([r.id for r in chunk if r.text is None])
            for r in chunk:
                yield r.text if r.text is not None else rendered[r.id]

    # --- queries ----------------------------------------------------------------------------

    def in_range(self, calendars: Sequence[Calendar], start: dt.datetime,
                 end: dt.datetime) -> Iterator[Published]:
        """Items overlapping [start, end): confirmed bookings in start order, then blocked time
        (a series whose occurrences may fall in the range counts). Index range scans, bounded
        below by each calendar's longest span."""
        for calendar in calendars:
            span = dt.timedelta(seconds=calendar.max_span_seconds)
            yield from self._bookings(_booking_rows(self.profile, *BOOKING_COLUMNS)
                                      .where(*_booking_range(calendar, span, start, end))
                                      .order_by(Booking.start_utc, Booking.id))
            yield from self._blocked_items(_blocked_rows(self.profile, *BLOCKED_COLUMNS)
                                           .where(*_blocked_range(calendar, span, start, end))
                                           .order_by(BlockedTime.start_utc, BlockedTime.id))

    def texts_in_range(self, calendars: Sequence[Calendar], start: dt.datetime,
                       end: dt.datetime, booking_alarm: int | None = None,
                       name_blocked: bool = False) -> Iterator[str]:
        """Just the event texts of `in_range` (what a feed needs), with the least work; with
        `booking_alarm`, each booking carries an alarm that many minutes before it; with
        `name_blocked`, blocked time names its calendar's employee ("Lunch – Anna")."""
        for calendar in calendars:
            span = dt.timedelta(seconds=calendar.max_span_seconds)
            booking_texts = self._texts(_booking_rows(self.profile, Booking.id)
                                        .where(*_booking_range(calendar, span, start, end))
                                        .order_by(Booking.start_utc, Booking.id),
                                        self._render_bookings)
            if booking_alarm is None:
                yield from booking_texts
            else:
                yield from (with_alarm(text, booking_alarm) for text in booking_texts)
            blocked_texts = self._texts(_blocked_rows(self.profile, BlockedTime.id)
                                        .where(*_blocked_range(calendar, span, start, end))
                                        .order_by(BlockedTime.start_utc, BlockedTime.id),
                                        self._render_blocked)
            if name_blocked:
                suffix = employee_suffix(calendar.name)
                yield from (with_summary_suffix(text, suffix) for text in blocked_texts)
            else:
                yield from blocked_texts

    def everything(self, calendar: Calendar) -> Iterator[Published]:
        yield from self._bookings(_booking_rows(self.profile, *BOOKING_COLUMNS).where(
            Booking.calendar_id == calendar.id).order_by(Booking.start_utc, Booking.id))
        yield from self._blocked_items(_blocked_rows(self.profile, *BLOCKED_COLUMNS).where(
            BlockedTime.calendar_id == calendar.id).order_by(BlockedTime.start_utc,
                                                             BlockedTime.id))

    def uids(self, calendar: Calendar) -> Iterator[str]:
        """The UIDs of every item the calendar shows, without rendering anything."""
        if not self.own:
            yield from self.session.execute(select(Booking.uid).where(
                Booking.calendar_id == calendar.id, Booking.status == "confirmed")
                .order_by(Booking.id)).scalars()
            yield from self.session.execute(select(BlockedTime.uid).where(
                BlockedTime.calendar_id == calendar.id).order_by(BlockedTime.id)).scalars()
            return
        if self.collection is None:
            yield from self.session.execute(select(Booking.uid).where(
                Booking.calendar_id == calendar.id, Booking.status == "confirmed")
                .order_by(Booking.id)).scalars()
        in_collection = BlockedTime.collection_id.is_(None) if self.collection is None \
            else BlockedTime.collection_id == self.collection
        for uid in self.session.execute(select(BlockedTime.uid).where(
                BlockedTime.calendar_id == calendar.id, in_collection)
                .order_by(BlockedTime.id)).scalars():
            if not is_instance_uid(uid):
                yield uid

    def by_uids(self, calendar: Calendar, uids: Iterable[str]) -> list[Published]:
        """The calendar's shown items among `uids` (a calendar-multiget), with their texts: one
        prepared statement (bookings and blocked time in one UNION ALL) per 500 UIDs, by the
        unique uid indexes alone (with the calendar in the condition SQLite may walk the
        calendar's index instead); the calendar is checked on the rows found."""
        wanted = list(set(uids))
        rows: list[Any] = []
        connection = self.session.connection()
        for start in range(0, len(wanted), 500):
            rows.extend(connection.execute(_by_uids_statement(), {
                "uids": wanted[start:start + 500], "profile": self.profile,
                "version": RENDER_VERSION}).all())
        return self._published([row for row in rows if row[2] == calendar.id])

    def _published(self, rows: list[Any]) -> list[Published]:
        """Items from rows of `_by_uid_statement`/`_by_uids_statement`, rendering what the
        cache lacks."""
        missing: dict[str, list[int]] = {"booking": [], "blocked": []}
        for row in rows:
            if row[10] is None:
                missing[row[0]].append(row[1])
        rendered = {("booking", item_id): text
                    for item_id, text in self._render_bookings(missing["booking"]).items()}
        rendered.update((("blocked", item_id), text)
                        for item_id, text in self._render_blocked(missing["blocked"]).items())
        found = [self._item(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                            row[8], row[9],
                            row[10] if row[10] is not None else rendered[(row[0], row[1])])
                 for row in rows]
        if not self.own:
            return found
        # A writable account's view of one collection: its phone's own texts and the alarms
        # it added (bookings are in its employee's calendar only).
        sent = self._sent([item.item_id for item in found if item.kind == "blocked"])
        alarms = self._alarms([item.item_id for item in found if item.kind == "booking"])
        return [self._with_alarms(item, alarms) if item.kind == "booking"
                else replace(item, document=sent[item.item_id][0] or item.document)
                for item in found
                if (item.kind == "booking" and self.collection is None)
                or (item.kind == "blocked" and item.item_id in sent)]

    def by_uid(self, calendar: Calendar, uid: str) -> Published | None:
        """One item of the calendar by UID (a CalDAV GET) in one round trip: a booking and
        blocked time cannot share a UID, so at most one row comes back."""
        row = self.session.connection().execute(_by_uid_statement(), {
            "uid": uid, "calendar_id": calendar.id, "profile": self.profile,
            "version": RENDER_VERSION}).first()
        found = self._published([row]) if row is not None else []
        return found[0] if found else None  # a writable account's view may hide the row

    def tzids_in_range(self, calendars: Sequence[Calendar], start: dt.datetime,
                       end: dt.datetime) -> set[str]:
        """The zones the range's items use."""
        ids = [c.id for c in calendars]
        zones = {c.timezone for c in calendars}
        if not ids:
            return zones
        span = dt.timedelta(seconds=max(c.max_span_seconds for c in calendars))
        zones.update(self.session.execute(select(Booking.tzid).distinct().where(
            Booking.calendar_id.in_(ids), Booking.start_utc >= _before(start, span),
            Booking.start_utc < end)).scalars())
        zones.update(self.session.execute(select(BlockedTime.tzid).distinct().where(
            BlockedTime.calendar_id.in_(ids), BlockedTime.start_utc < end,
            or_(BlockedTime.series_end_utc.is_(None),
                BlockedTime.series_end_utc > _before(start, span)))).scalars())
        return zones

    # --- the cache --------------------------------------------------------------------------

    def save(self, db: Database) -> None:
        """Store newly rendered texts (best effort: a busy database only costs a re-render)."""
        fresh, self.fresh = list(self.fresh.values()), {}
        if fresh:
            store_rendered(db, fresh)


def _item_union(booking_where: Any, blocked_where: Any) -> Any:
    """Bookings and blocked time as one UNION ALL of the same columns (kind, id, calendar_id,
    uid, seq, tzid, start_utc, end_utc, start_local, updated_at, cached text); a booking and
    blocked time never share a UID."""
    def cached(kind: str, model: Any) -> Any:
        return and_(RenderedItem.kind == kind, RenderedItem.item_id == model.id,
                    RenderedItem.profile == bindparam("profile"),
                    RenderedItem.seq == model.seq,
                    RenderedItem.version == bindparam("version"))

    booking = (select(literal("booking").label("kind"), Booking.id, Booking.calendar_id,
                      Booking.uid, Booking.seq, Booking.tzid, Booking.start_utc,
                      Booking.end_utc.label("end_utc"), Booking.start_local,
                      Booking.updated_at, RenderedItem.text)
               .outerjoin(RenderedItem, cached("booking", Booking))
               .where(Booking.status == "confirmed", *booking_where))
    blocked = (select(literal("blocked").label("kind"), BlockedTime.id,
                      BlockedTime.calendar_id, BlockedTime.uid, BlockedTime.seq,
                      BlockedTime.tzid, BlockedTime.start_utc,
                      case((BlockedTime.repeats, BlockedTime.series_end_utc),
                           else_=BlockedTime.end_utc).label("end_utc"),
                      BlockedTime.start_local, BlockedTime.updated_at, RenderedItem.text)
               .outerjoin(RenderedItem, cached("blocked", BlockedTime))
               .where(*blocked_where))
    # The union's columns carry the first select's types (the bookings' columns).
    return select(union_all(booking, blocked).subquery())


@functools.cache
def _by_uid_statement() -> Any:
    """Built once (building a statement costs more than running it): the item with its
    cached text, by UID within a calendar."""
    return _item_union(
        (Booking.uid == bindparam("uid"), Booking.calendar_id == bindparam("calendar_id")),
        (BlockedTime.uid == bindparam("uid"),
         BlockedTime.calendar_id == bindparam("calendar_id")))


@functools.cache
def _by_uids_statement() -> Any:
    """Items with their cached texts by UIDs (`uids`, expanding), of any calendar."""
    uids: Any = bindparam("uids", expanding=True)
    return _item_union((Booking.uid.in_(uids),), (BlockedTime.uid.in_(uids),))


@functools.cache
def _booking_facts() -> Any:
    """What a booking's rendering needs, by id (`ids`, expanding), as plain columns."""
    return (select(Booking.id, Booking.business_id, Booking.seq, Booking.uid,
                   Booking.start_local, Booking.end_local, Booking.start_utc, Booking.end_utc,
                   Booking.tzid, Booking.revision,
                   Booking.created_at, Booking.updated_at, Service.name, Calendar.name,
                   Client.name, Client.email, Client.phone, Client.address, Client.notes,
                   Booking.location, Booking.notes, Booking.all_day)
            .join(Service, Service.id == Booking.service_id)
            .join(Calendar, Calendar.id == Booking.calendar_id)
            .outerjoin(Client, Client.id == Booking.client_id)
            .where(Booking.id.in_(bindparam("ids", expanding=True))))


@functools.cache
def _blocked_facts() -> Any:
    return select(BlockedTime.id, BlockedTime.business_id, BlockedTime.seq, BlockedTime.uid,
                  BlockedTime.title, BlockedTime.all_day, BlockedTime.start_local,
                  BlockedTime.end_local, BlockedTime.tzid, BlockedTime.rrule, BlockedTime.exdates,
                  BlockedTime.revision, BlockedTime.created_at, BlockedTime.updated_at
                  ).where(BlockedTime.id.in_(bindparam("ids", expanding=True)))


def _before(instant: dt.datetime, span: dt.timedelta) -> dt.datetime:
    """`instant - span`, or the earliest instant when a client's range starts near year 1."""
    try:
        return instant - span
    except OverflowError:
        return dt.datetime.min.replace(tzinfo=dt.timezone.utc)


def _booking_range(calendar: Calendar, span: dt.timedelta, start: dt.datetime,
                   end: dt.datetime) -> tuple[Any, ...]:
    return (Booking.calendar_id == calendar.id, Booking.start_utc >= _before(start, span),
            Booking.start_utc < end, Booking.end_utc > start)


def _blocked_range(calendar: Calendar, span: dt.timedelta, start: dt.datetime,
                   end: dt.datetime) -> tuple[Any, ...]:
    return (BlockedTime.calendar_id == calendar.id,
            or_(and_(BlockedTime.repeats.is_(False),
                     BlockedTime.start_utc >= _before(start, span),
                     BlockedTime.start_utc < end, BlockedTime.end_utc > start),
                and_(BlockedTime.repeats.is_(True), BlockedTime.start_utc < end,
                     or_(BlockedTime.series_end_utc.is_(None),
                         BlockedTime.series_end_utc > start))))


def store_rendered(db: Database, rows: list[dict[str, Any]]) -> None:
    insert = sqlite.insert if db.is_sqlite else postgresql.insert
    statement = insert(RenderedItem)
    upsert = statement.on_conflict_do_update(
        index_elements=["kind", "item_id", "profile", "business_id"],
        set_={"seq": statement.excluded.seq, "version": statement.excluded.version,
              "text": statement.excluded.text})
    try:
        for start in range(0, len(rows), 1000):
            with db.write() as session:
                # One statement compiled once and sent with a list of rows (executemany), not
                # a statement of 1,000 VALUES tuples compiled anew each time.
                session.connection().execute(upsert, rows[start:start + 1000])
    except (BookingCalError, SQLAlchemyError) as exc:
        # Best effort: a busy database or a concurrent writer only costs a re-render.
        log.info("rendered text not cached this time: %s", type(exc).__name__)

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
import json
from dataclasses import dataclass, replace
from typing import Any, Iterable, Iterator, Sequence

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from server.db import Database
from server.db.models import AccountAlarm, BlockedTime, Booking, Calendar, PhoneTask
from server.db.scope import business_beside
from server.domain.phone_event import is_instance_uid
from server.domain.recurrence import stored_rule
from server.publishing import item_rows
from server.publishing.etags import item_etag
from server.publishing.ical import (
    RENDER_VERSION, item_document, render_event, with_alarm, with_summary_suffix,
)
from server.publishing.link_views import LinkView, NO_VIEW, employee_suffix, with_alarms
from server.publishing.text_spool import TextSpool
from server.redaction import BlockedFacts, BookingFacts, Profile, blocked_view, booking_view

CHUNK = 1000
SPILL_EVERY = 1000  # rendered texts held in memory before they go to the spool
# Where a task (which takes no time) is placed on the time line: before everything.
TIMELESS = dt.datetime(1, 1, 2, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Published:
    kind: str  # "booking", "blocked" or "task" (a writable account's own, as its phone sent it)
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


class Publisher:
    """Reads a link's items in one session. Reads are column queries joined with the render
    cache; only items whose text is missing are loaded whole and rendered. Newly rendered
    texts are collected in `fresh` and stored by `save()` in a write transaction of their own."""

    def __init__(self, session: Session, epoch: str, profile: Profile,
                 own_link: int | None = None, view: LinkView = NO_VIEW, *,
                 business_id: int) -> None:
        self.session = session
        # The link's business: every query names it (one shard on a cluster distributed by
        # business_id; docs/scaling.md), also those that find items by id or UID.
        self.business_id = business_id
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
        # Texts rendered by this publisher, not stored yet: the latest in `fresh`, older ones
        # spilled to `spool` (`spill`), all stored by `save`.
        self.fresh: dict[tuple[str, int], dict[str, Any]] = {}
        self.spool = TextSpool()

    def _of(self, model: Any, calendar: Calendar) -> Any:
        """`model`'s rows of `calendar`, named with the link's business."""
        return and_(business_beside(model, self.business_id), model.calendar_id == calendar.id)

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
            business_beside(AccountAlarm, self.business_id), AccountAlarm.link_id == self.own_link,
            AccountAlarm.booking_id.in_(ids)))
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
        ).where(business_beside(BlockedTime, self.business_id), BlockedTime.id.in_(ids)))
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
             ) in self.session.connection().execute(item_rows.booking_facts(), {
                 "ids": ids, "business_id": self.business_id}).all():
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
             ) in self.session.connection().execute(item_rows.blocked_facts(), {
                 "ids": ids, "business_id": self.business_id}).all():
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
        if len(self.fresh) >= SPILL_EVERY:
            self.spill()  # a render of any size holds at most this many texts in memory

    def _chunks(self, query: Select[*tuple[Any, ...]]) -> Iterator[list[Any]]:
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

    def _tasks(self, calendar: Calendar, uids: list[str] | None = None) -> Iterator[Published]:
        """The tasks of the writable account's current personal calendar (all, or those of
        `uids`), as its phone sent them. Only a writable account's own personal calendar shows
        tasks: no other view reads them. A task takes no time: it is listed for every range
        (Radicale applies a calendar-query's time range to its text)."""
        if not self.own or self.collection is None:
            return
        query = select(PhoneTask.id, PhoneTask.uid, PhoneTask.seq, PhoneTask.source_text,
                       PhoneTask.updated_at).where(
            self._of(PhoneTask, calendar), PhoneTask.collection_id == self.collection)
        if uids is not None:
            query = query.where(PhoneTask.uid.in_(uids))
        for row in self.session.execute(query.order_by(PhoneTask.id)):
            yield Published("task", row[0], calendar.id, row[1], row[2], "UTC", TIMELESS, None,
                            TIMELESS.replace(tzinfo=None), row[4], self.epoch, self.profile,
                            row[3], row[3])

    def _texts(self, query: Select[Any], render: Any, kind: str, plain: Select[int, int]
               ) -> Iterator[str]:
        """(id, text) rows to texts. On SQLite the rows come straight from the driver's cursor
        (ids and texts need no conversion), which saves most of a warm feed's time. PostgreSQL
        keeps the server-side cursor of `yield_per`, so a big feed is never held in memory; that
        cursor reads `plain` ((id, seq) rows, no join) and each chunk's stored texts are read by
        primary key (item_rows.stored_texts): the rendered texts saved while the cursor is open
        cannot slow it down."""
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
        for chunk in self._chunks(plain):
            stored = item_rows.stored_texts(self.session, self.business_id, kind, self.profile,
                                            {r.id: r.seq for r in chunk})
            rendered = render([r.id for r in chunk if r.id not in stored])
            for r in chunk:
                yield stored[r.id] if r.id in stored else rendered[r.id]

    # --- queries ----------------------------------------------------------------------------

    def in_range(self, calendars: Sequence[Calendar], start: dt.datetime,
                 end: dt.datetime) -> Iterator[Published]:
        """Items overlapping [start, end): confirmed bookings in start order, then blocked time
        (a series whose occurrences may fall in the range counts). Index range scans, bounded
        below by each calendar's longest span."""
        for calendar in calendars:
            span = dt.timedelta(seconds=calendar.max_span_seconds)
            yield from self._bookings(
                item_rows.booking_rows(self.profile, *item_rows.BOOKING_COLUMNS)
                .where(*item_rows.booking_range(self.business_id, calendar, span, start, end))
                .order_by(Booking.start_utc, Booking.id))
            yield from self._blocked_items(
                item_rows.blocked_rows(self.profile, *item_rows.BLOCKED_COLUMNS)
                .where(*item_rows.blocked_range(self.business_id, calendar, span, start, end))
                .order_by(BlockedTime.start_utc, BlockedTime.id))
            yield from self._tasks(calendar)

    def texts_in_range(self, calendars: Sequence[Calendar], start: dt.datetime,
                       end: dt.datetime, booking_alarm: int | None = None,
                       name_blocked: bool = False) -> Iterator[str]:
        """Just the event texts of `in_range` (what a feed needs), with the least work; with
        `booking_alarm`, each booking carries an alarm that many minutes before it; with
        `name_blocked`, blocked time names its calendar's employee ("Lunch – Anna")."""
        for calendar in calendars:
            span = dt.timedelta(seconds=calendar.max_span_seconds)
            booking_range = item_rows.booking_range(self.business_id, calendar, span, start, end)
            booking_order = (Booking.start_utc, Booking.id)
            booking_texts = self._texts(
                item_rows.booking_rows(self.profile, Booking.id).where(*booking_range)
                .order_by(*booking_order), self._render_bookings, "booking",
                item_rows.booking_seqs().where(*booking_range).order_by(*booking_order))
            if booking_alarm is None:
                yield from booking_texts
            else:
                yield from (with_alarm(text, booking_alarm) for text in booking_texts)
            blocked_range = item_rows.blocked_range(self.business_id, calendar, span, start, end)
            blocked_order = (BlockedTime.start_utc, BlockedTime.id)
            blocked_texts = self._texts(
                item_rows.blocked_rows(self.profile, BlockedTime.id).where(*blocked_range)
                .order_by(*blocked_order), self._render_blocked, "blocked",
                item_rows.blocked_seqs().where(*blocked_range).order_by(*blocked_order))
            if name_blocked:
                suffix = employee_suffix(calendar.name)
                yield from (with_summary_suffix(text, suffix) for text in blocked_texts)
            else:
                yield from blocked_texts

    def everything(self, calendar: Calendar) -> Iterator[Published]:
        yield from self._bookings(item_rows.booking_rows(self.profile, *item_rows.BOOKING_COLUMNS).where(
            self._of(Booking, calendar)).order_by(Booking.start_utc, Booking.id))
        yield from self._blocked_items(item_rows.blocked_rows(self.profile, *item_rows.BLOCKED_COLUMNS).where(
            self._of(BlockedTime, calendar)).order_by(BlockedTime.start_utc,
                                                             BlockedTime.id))
        yield from self._tasks(calendar)

    def uids(self, calendar: Calendar) -> Iterator[str]:
        """The UIDs of every item the calendar shows, without rendering anything."""
        if not self.own:
            yield from self.session.execute(select(Booking.uid).where(
                self._of(Booking, calendar), Booking.status == "confirmed")
                .order_by(Booking.id)).scalars()
            yield from self.session.execute(select(BlockedTime.uid).where(
                self._of(BlockedTime, calendar)).order_by(BlockedTime.id)).scalars()
            return
        if self.collection is None:
            yield from self.session.execute(select(Booking.uid).where(
                self._of(Booking, calendar), Booking.status == "confirmed")
                .order_by(Booking.id)).scalars()
        in_collection = BlockedTime.collection_id.is_(None) if self.collection is None \
            else BlockedTime.collection_id == self.collection
        for uid in self.session.execute(select(BlockedTime.uid).where(
                self._of(BlockedTime, calendar), in_collection)
                .order_by(BlockedTime.id)).scalars():
            if not is_instance_uid(uid):
                yield uid
        yield from (task.uid for task in self._tasks(calendar))

    def by_uids(self, calendar: Calendar, uids: Iterable[str]) -> list[Published]:
        """The calendar's shown items among `uids` (a calendar-multiget), with their texts: one
        prepared statement (bookings and blocked time in one UNION ALL) per 500 UIDs, by the
        unique uid indexes alone (with the calendar in the condition SQLite may walk the
        calendar's index instead); the calendar is checked on the rows found."""
        wanted = list(set(uids))
        rows: list[Any] = []
        connection = self.session.connection()
        for start in range(0, len(wanted), 500):
            rows.extend(connection.execute(item_rows.by_uids_statement(), {
                "uids": wanted[start:start + 500], "business_id": self.business_id,
                "profile": self.profile,
                "version": RENDER_VERSION}).all())
        found = self._published([row for row in rows if row[2] == calendar.id])
        if self.own and self.collection is not None and wanted:
            for start in range(0, len(wanted), 500):
                found.extend(self._tasks(calendar, wanted[start:start + 500]))
        return found

    def _published(self, rows: list[Any]) -> list[Published]:
        """Items from rows of `item_rows.by_uid_statement`/`item_rows.by_uids_statement`, rendering what the
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
        row = self.session.connection().execute(item_rows.by_uid_statement(), {
            "uid": uid, "calendar_id": calendar.id, "business_id": self.business_id,
            "profile": self.profile,
            "version": RENDER_VERSION}).first()
        found = self._published([row]) if row is not None else []
        if row is None:
            found = list(self._tasks(calendar, [uid]))
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
            business_beside(Booking, self.business_id), Booking.calendar_id.in_(ids),
            Booking.start_utc >= item_rows.before(start, span), Booking.start_utc < end)).scalars())
        zones.update(self.session.execute(select(BlockedTime.tzid).distinct().where(
            business_beside(BlockedTime, self.business_id), BlockedTime.calendar_id.in_(ids),
            BlockedTime.start_utc < end,
            or_(BlockedTime.series_end_utc.is_(None),
                BlockedTime.series_end_utc > item_rows.before(start, span)))).scalars())
        return zones

    # --- the cache --------------------------------------------------------------------------

    def spill(self) -> None:
        """Move the texts rendered so far to the spool (no database access: done while the
        reading transaction is open, every SPILL_EVERY texts, to bound the memory held)."""
        if self.fresh:
            self.spool.add(self.fresh.values())
            self.fresh = {}

    def save(self, db: Database) -> None:
        """Store every text rendered and not stored yet, on a connection of its own (best
        effort: a busy database only costs a re-render). Call it after the reading
        transaction ended where the render may be large (server/publishing/text_spool.py)."""
        if not self.spool.count:
            fresh, self.fresh = list(self.fresh.values()), {}
            if fresh:
                item_rows.store_rendered(db, fresh)
            return
        self.spill()
        try:
            for chunk in self.spool.chunks(item_rows.STORE_CHUNK):
                if not item_rows.store_rendered(db, chunk):
                    break
        finally:
            self.spool.close()

    def discard(self) -> None:
        """Forget the texts not stored (a render that failed)."""
        self.fresh = {}
        self.spool.close()



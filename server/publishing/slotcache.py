"""Open slots (server/publishing/slotfeed.py) computed once per state of their inputs, not per request.

A slots answer is a function of: the link (its id, last change, service), its calendars (their
journal positions, which every booking, blocked time and calendar change moves, their zones and
names), the business's name and zone, the service's settings, the calendars' opening hours and
the exceptions near the window, the busy time of every connected calendar that may block (Google,
Outlook, CalDAV, ICS: through each mapping's connection status, blocking switch and last read),
the business's stale-data policy and, when it is "hide", the freshness of those sources (time
alone turns a source stale: it is read on each poll then), the configuration (fixed for a
process) and the time. `inputs_key` reads everything but the link and calendars (those came with
the feed's state query) in one cheap query over small, indexed rows and digests it.

Time changes the answer only at known instants: a start time leaves when it comes closer than
the service's notice, one enters when it comes within the horizon, the window moves at the
business's midnight. `slotfeed.open_slots` says the first such instant after the computation
(`OpenSlots.until`); an entry serves requests from its computation until then. A repeated poll
costs the feed's state query, the inputs query and a dictionary lookup, and is answered 304
when the client holds the body's ETag.

Entries live in this process (each process computes once per state), one per link and format,
at most `MAX_ENTRIES` of them (least recently used first out)."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from sqlalchemy import String, and_, bindparam, cast, literal, select, union_all
from sqlalchemy.orm import Session

from server.db.models import (
    Business, CalDAVCalendarMap, CalDAVConnection, CalDAVReadState, GoogleCalendarMap,
    GoogleConnection, GoogleReadState, IcsReadState, IcsSource, MicrosoftCalendarMap,
    MicrosoftConnection, MicrosoftReadState, OpeningException, OpeningHours, Service,
)

if TYPE_CHECKING:
    from server.publishing.feedstate import FeedState

MAX_ENTRIES = 4096
SLOTS_VERSION = 1  # bump when the same slots would be written differently


def _text(column: Any) -> Any:
    return cast(column, String)


def _inputs_statement() -> Any:
    ids: Any = bindparam("calendar_ids", expanding=True)
    # The service's own columns, not its last change: not every change of them moves it.
    rules = _text(Service.duration_minutes)
    for column in (Service.buffer_before_minutes, Service.buffer_after_minutes,
                   Service.slot_step_minutes, Service.min_notice_minutes,
                   Service.max_horizon_days):
        rules = rules + ":" + _text(column)
    service = select(literal("service"), Service.id, rules, _text(Service.active),
                     Service.name).where(
        Service.id == bindparam("service_id"), Service.business_id == bindparam("business_id"))
    hours = select(literal("hours"), OpeningHours.calendar_id, _text(OpeningHours.weekday),
                   _text(OpeningHours.opens), _text(OpeningHours.closes)).where(
        OpeningHours.calendar_id.in_(ids))
    exceptions = select(literal("exception"), OpeningException.calendar_id,
                        _text(OpeningException.day), _text(OpeningException.opens),
                        _text(OpeningException.closes)).where(
        OpeningException.calendar_id.in_(ids),
        OpeningException.day >= bindparam("first"), OpeningException.day < bindparam("end"))

    def external(connection: Any, mapping: Any, state: Any, name: str) -> Any:
        return (select(literal(name), mapping.calendar_id,
                       _text(connection.status) + ":" + _text(connection.block_online_booking),
                       mapping.read_calendar, _text(state.synced_at))
                .join(connection, connection.id == mapping.connection_id)
                .outerjoin(state, and_(state.connection_id == connection.id,
                                       state.google_calendar == mapping.read_calendar))
                .where(mapping.calendar_id.in_(ids),
                       connection.business_id == bindparam("business_id")))

    # An ICS source is its own connection, reading one URL for one calendar.
    ics = (select(literal("ics"), IcsSource.calendar_id,
                  _text(IcsSource.status) + ":" + _text(IcsSource.block_online_booking),
                  _text(IcsSource.id), _text(IcsReadState.synced_at))
           .outerjoin(IcsReadState, IcsReadState.connection_id == IcsSource.id)
           .where(IcsSource.calendar_id.in_(ids),
                  IcsSource.business_id == bindparam("business_id")))
    policy = select(literal("policy"), Business.id, Business.stale_policy, literal(""),
                    literal("")).where(Business.id == bindparam("business_id"))
    # Every provider whose busy time may block (server/sync/tables.py BY_PROVIDER, and ICS):
    # a provider missing here would leave its new busy time out of cached slots.
    return union_all(service, hours, exceptions, policy, ics,
                     external(GoogleConnection, GoogleCalendarMap, GoogleReadState, "google"),
                     external(MicrosoftConnection, MicrosoftCalendarMap, MicrosoftReadState,
                              "microsoft"),
                     external(CalDAVConnection, CalDAVCalendarMap, CalDAVReadState, "caldav"))


_STATEMENT = _inputs_statement()


@dataclass(frozen=True)
class SlotInputs:
    """The digest of a slots answer's inputs, and whether the business's stale-data policy is
    "hide" (then the sources' freshness, which time alone changes, is an input too: the caller
    adds it with `with_freshness`)."""

    key: str
    hides: bool

    def with_freshness(self, states: Sequence[str]) -> str:
        return hashlib.sha256("\x1f".join([self.key, *states]).encode("utf-8")).hexdigest()


def inputs_key(session: Session, state: FeedState, first: dt.date, end: dt.date,
               kind: str) -> SlotInputs:
    """A digest of everything a slots answer for the local days [first, end) depends on
    besides the time (see the module's docstring)."""
    link = state.link
    assert link is not None
    calendars = state.calendars
    rows = session.execute(_STATEMENT, {
        "calendar_ids": [c.id for c in calendars] or [-1], "service_id": link.service_id,
        "business_id": link.business_id,
        # The schedule reads the hours of the day before and after the window too.
        "first": first - dt.timedelta(days=1), "end": end + dt.timedelta(days=1)}).all()
    parts = [kind, str(SLOTS_VERSION), str(link.id), link.updated_at.isoformat(),
             str(link.service_id), link.label, state.epoch, state.business_name,
             state.business_timezone, first.isoformat(), end.isoformat()]
    parts += [f"{c.id}:{c.journal_seq}:{c.timezone}:{c.name}:{c.max_span_seconds}"
              for c in calendars]
    parts += sorted("|".join(str(v) for v in row) for row in rows)
    hides = any(row[0] == "policy" and row[2] == "hide" for row in rows)
    return SlotInputs(hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest(), hides)


@dataclass(frozen=True)
class SlotEntry:
    key: str
    body: bytes
    etag: str
    computed_at: dt.datetime
    until: dt.datetime  # exclusive: time alone may change the answer from then on

    def serves(self, key: str, now: dt.datetime) -> bool:
        return key == self.key and self.computed_at <= now < self.until


class SlotCache:
    """(link id, format) -> the last answer, bounded, thread-safe."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[int, str], SlotEntry] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, link_id: int, kind: str, key: str, now: dt.datetime) -> SlotEntry | None:
        with self._lock:
            entry = self._entries.get((link_id, kind))
            if entry is None or not entry.serves(key, now):
                self.misses += 1
                return None
            self._entries.move_to_end((link_id, kind))
            self.hits += 1
            return entry

    def put(self, link_id: int, kind: str, entry: SlotEntry) -> None:
        with self._lock:
            self._entries[(link_id, kind)] = entry
            self._entries.move_to_end((link_id, kind))
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def first_change(candidates: Sequence[dt.datetime], notice: dt.timedelta,
                 horizon: dt.timedelta, now: dt.datetime, midnight: dt.datetime
                 ) -> dt.datetime:
    """The first instant after `now` from which the time alone may change which of
    `candidates` are open: a start stays open while now <= start - notice (so it leaves just
    after that instant) and is open once now >= start - horizon; the window moves at
    `midnight`. Exclusive: the answer computed at `now` holds for every time before it."""
    tick = dt.timedelta(microseconds=1)
    until = midnight
    for start in candidates:
        leaves = start - notice + tick
        if now < leaves < until:
            until = leaves
        enters = start - horizon
        if now < enters < until:
            until = enters
    return until

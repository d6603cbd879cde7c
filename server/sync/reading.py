"""Reading a provider into the mirror, the same for every provider: per remote calendar a
connection reads, its changes since the saved cursor, page after page (the adapter's
`list_page`, one request each); the cursor is saved only after the last page. A read that fits
in a turn (TURN_ITEMS events) is stored with its cursor in one transaction; a longer one (a
first import of a huge calendar) is stored a turn at a time, noting on the read state the page
the next turn goes on from, and a full read over turns removes at its end what it never
listed (`_sweep`). An expired cursor means a full read that reconciles instead of wiping.

Our own copies are recognised by their tag or by the ids we gave them (another app's full
update may drop the tag) and never mirrored; a copy someone changed (its etag moved) or deleted
in the provider is queued to be written again (the booking system stays the source of truth),
also when only a full read can tell that it is gone. A copy of this connection the database
does not know (written after the backup it was restored from) is adopted when its id proves it
ours. Mirrored events are written by the domain layer (server/domain/mirrored.py), which applies
the blocking policy. A failure of one calendar (404, 403) is recorded on its read state while
the other calendars go on.

The bookkeeping rows are the provider's own tables (`lister.tables`, server/sync/tables.py)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, and_, delete, or_, select, update
from sqlalchemy.orm import Session

from server.config import AvailabilityConfig
from server.db import Database
from server.db.models import BlockedTime, Booking, Business, SyncFullRead
from server.db.scope import business_beside, get_of, of_connection
from server.domain import calendar_edits, mirrored
from server.domain.blocking import BlockingPolicy
from server.errors import BookingCalError, ConflictError
from server.sync import calendar_errors, full_reads, item_errors
from server.sync.errors import (
    CursorExpiredError, PauseError, ReconnectError, RetryableError, SyncError,
)
from server.sync.provider import FormerIds, Page, RemoteItem
from server.sync.tables import Tables

log = logging.getLogger(__name__)
STORE_ATTEMPTS = 3  # writes of one calendar's events that collided with another importer
FULL_SYNC_PAST = dt.timedelta(days=30)
# Events listed per calendar in one turn of the bridge (about; whole pages): a longer read goes
# on in the next turn, so one huge calendar neither holds a pass nor the memory of its events.
TURN_ITEMS = 2500
# A cursor that asks for a full read of the calendar's whole history, not only from
# FULL_SYNC_PAST on: set after a restore from backup (server/sync/epoch.py), so that the copies
# of ours written after the backup are found whatever their date.
WHOLE_HISTORY = "whole-history"


class Lister(Protocol):
    """The reading half of an adapter (server/sync/provider.py)."""

    label: str
    tables: Tables

    def list_page(self, client: Any, calendar: str, *, cursor: str | None, page: str | None,
                  since: dt.datetime | None, zone: str, attempts: int | None) -> Page:
        """One page of changes (see Provider.list_page)."""
        ...

    def copy_id(self, secret: bytes, connection: Any, kind: str, item_id: int) -> str:
        """The deterministic remote id of our copy of an item (from the connection's row)."""
        ...

    def former_copy_ids(self, session: Session, secret: bytes, connection: Any) -> FormerIds:
        """The ids our copies had under former naming schemes (still ours), per item; loaded
        once per calendar's store, when a copy unknown to the database is met."""
        ...

    def describe(self, error: SyncError, calendar: str, *, writing: bool) -> str:
        """What went wrong with one remote calendar, and what to change."""
        ...


@dataclass
class ReadReport:
    """What a read did (counts and calendar names only)."""

    imported: int = 0
    removed: int = 0
    pages: int = 0
    full_syncs: int = 0
    copies_to_restore: int = 0
    unknown_copies: int = 0
    calendars: list[str] = field(default_factory=list)  # read to their end
    failed: list[str] = field(default_factory=list)  # calendars whose read failed on their own
    continuing: list[str] = field(default_factory=list)  # the next turn goes on reading them

    def then(self, later: ReadReport) -> ReadReport:
        """This turn's report followed by a later turn's, as one."""
        return ReadReport(
            self.imported + later.imported, self.removed + later.removed,
            self.pages + later.pages, self.full_syncs + later.full_syncs,
            self.copies_to_restore + later.copies_to_restore,
            self.unknown_copies + later.unknown_copies, self.calendars + later.calendars,
            self.failed + later.failed, later.continuing)


class NotIncremental(BookingCalError):
    """A bounded read (`max_pages`) met a calendar that needs more than a short incremental
    read: no cursor yet, an expired one, or more pages of changes than allowed."""

    code = "unavailable"


@dataclass(frozen=True)
class _Plan:
    """Where one calendar's read begins: the cursor to read changes since (None: a full read),
    a read of the whole history, the page an earlier turn stopped at, and when the read began
    (its listing's window; every row it lists is stamped no earlier)."""

    cursor: str | None
    whole: bool
    page: str | None
    started: dt.datetime


@dataclass
class _Fetched:
    """What one turn listed of one calendar."""

    items: list[RemoteItem]
    cursor: str | None  # the next cursor: set with the last page only
    full: bool
    next_page: str | None  # where the next turn goes on; None: the read is complete
    started: dt.datetime
    resumed: bool  # the items go on from an earlier turn's page (not from the beginning)


def _plan(state: Any, weekly: bool, now: dt.datetime, bounded: bool) -> _Plan:
    """The read of one calendar this turn: going on where an earlier turn stopped, or from its
    cursor; a full read when there is none, it is WHOLE_HISTORY, or the weekly one is due.
    A bounded read (before a booking) never goes on with the bridge's read in progress."""
    cursor: str | None = state.sync_token
    if state.page_token is not None and state.read_started_at is not None and not bounded \
            and (state.read_full or cursor is not None):
        return _Plan(None if state.read_full else cursor,
                     state.read_full and cursor == WHOLE_HISTORY, state.page_token,
                     state.read_started_at)
    if weekly and cursor not in (None, WHOLE_HISTORY):
        log.info("calendar read in full (weekly)")
        cursor = None
    return _Plan(None if cursor == WHOLE_HISTORY else cursor, cursor == WHOLE_HISTORY, None,
                 now)


def _page_refused(error: SyncError) -> bool:
    """Whether the provider refused a page an earlier turn was given (it lives for a while
    only): then the read starts over. Transient failures, quotas and refused credentials are
    not that."""
    return not isinstance(error, (RetryableError, PauseError, ReconnectError)) \
        and error.status in (400, 410)


def _fetch(lister: Lister, client: Any, calendar: str, plan: _Plan, now: dt.datetime,
           zone: str, report: ReadReport, max_pages: int | None, attempts: int | None,
           turn_items: int | None) -> _Fetched:
    """One turn's pages of `calendar`: until the last page, or until `turn_items` events are
    listed (the next turn goes on from the page reached). An expired cursor restarts it as a
    full read, a refused page from the beginning, unless bounded by `max_pages`: then only an
    incremental read of that many pages is done, or NotIncremental."""
    cursor, page, started, whole = plan.cursor, plan.page, plan.started, plan.whole
    full = cursor is None
    resumed = page is not None
    if full and max_pages is not None:
        raise NotIncremental(f"the bridge has not finished its first read of this "
                             f"{lister.label} calendar")
    items: list[RemoteItem] = []
    pages = 0
    while True:
        if max_pages is not None and pages >= max_pages:
            raise NotIncremental(f"more than {max_pages} pages of {lister.label} changes; the "
                                 "bridge reads them")
        try:
            # The window is the read's own, from its first turn on: a provider's page belongs
            # to the listing that gave it.
            answer = lister.list_page(client, calendar, cursor=cursor, page=page,
                                      since=None if whole else started - FULL_SYNC_PAST,
                                      zone=zone, attempts=attempts)
        except CursorExpiredError as exc:
            if cursor is None:
                raise
            if max_pages is not None:
                raise NotIncremental(f"the {lister.label} sync token expired; the bridge reads "
                                     "the calendar again") from exc
            log.info("%s cursor of a calendar expired; full resync", lister.label)
            cursor, full, items, page, started, resumed = None, True, [], None, now, False
            continue
        except SyncError as exc:
            if not (resumed and page == plan.page and _page_refused(exc)):
                raise
            log.info("%s refused the page a read stopped at; reading the calendar from the "
                     "beginning", lister.label)
            page, started, resumed = None, now, False
            continue
        report.pages += 1
        pages += 1
        items.extend(answer.items)
        page = answer.next_page
        if not page:
            return _Fetched(items, answer.cursor, full, None, started, resumed)
        if turn_items is not None and len(items) >= turn_items:
            return _Fetched(items, None, full, page, started, resumed)


def _apply(session: Session, lister: Lister, connection: Any, calendar: str,
           items: list[RemoteItem], full: bool, now: dt.datetime, report: ReadReport,
           id_secret: bytes | None, rules: AvailabilityConfig, *, listing: bool = False) -> int:
    """Hand the changes to the domain layer; check our own copies among them. Return the
    longest span (seconds) among the events written. `listing`: the items are part of a full
    read over turns, so the copies among them are seen there now (their `seen_at`, which that
    read's `_sweep` goes by; a read of one turn reconciles from the items themselves)."""
    GoogleCopy = lister.tables.copy
    ids = sorted({item.remote_id for item in items}
                 | {item.series_id for item in items if item.series_id})
    # A read-only provider (no copy table) has no copies of ours to recognise.
    copies = {} if GoogleCopy is None else {
        copy.event_id: copy for chunk in mirrored.chunks(ids) for copy in session.execute(
            select(GoogleCopy).where(of_connection(GoogleCopy, connection),
                                     GoogleCopy.event_id.in_(chunk))).scalars()}
    changes: list[mirrored.Change] = []
    ours: list[str] = []
    former: FormerIds | None = None  # loaded at the first unknown copy, once
    for item in items:
        # Ours by the tag, or by the id we gave it: another app may have replaced the event
        # without the tag. Never mirrored, so it never blocks.
        if item.tag is not None or item.remote_id in copies or str(item.series_id) in copies:
            ours.append(item.remote_id)
            copy = copies.get(item.remote_id)
            if copy is None and id_secret is not None and GoogleCopy is not None:
                if former is None:
                    former = lister.former_copy_ids(session, id_secret, connection)
                _adopt_unknown_copy(session, lister, connection, calendar, item, report,
                                    id_secret, former)
            else:
                _check_copy(session, lister, connection, copy, item, now, report, rules)
        else:
            assert item.change is not None, "an adapter parses every event not tagged ours"
            changes.append(item.change)
    result = mirrored.apply_changes(
        session, business_id=connection.business_id, connection_id=connection.id,
        google_calendar=calendar, changes=changes, full=full,
        policy=BlockingPolicy.of(connection), now=now, model=lister.tables.mirrored)
    # One of ours mirrored by mistake before (an older version did so for a copy whose tag
    # another app had dropped) stops blocking now.
    report.removed += mirrored.drop_ours(session, connection.id, calendar, ours,
                                         model=lister.tables.mirrored,
                                         business_id=connection.business_id)
    if listing and copies:
        listed = {item.series_id or item.remote_id for item in items if not item.cancelled}
        _seen(session, GoogleCopy, connection, [copy.id for event_id, copy in copies.items()
                                                if event_id in listed], now)
    if full and GoogleCopy is not None:
        _reconcile_copies(session, lister, connection, calendar, items, now, report)
    # A tombstone carries only the id: one that was not mirrored may be a copy of ours, deleted.
    for remote_id in result.unknown_tombstones:
        _copy_deleted(session, lister, connection, copies.get(remote_id), now, report,
                      rules)
    report.imported += result.imported
    report.removed += result.removed
    return result.longest_seconds


def _seen(session: Session, Copy: Any, connection: Any, copy_ids: list[int],
          now: dt.datetime) -> None:
    """Note that the provider showed these copies now (one statement per chunk of ids)."""
    ordered = sorted(copy_ids)
    for start in range(0, len(ordered), mirrored.CHUNK):
        chunk = ordered[start:start + mirrored.CHUNK]
        session.execute(update(Copy).where(
            business_beside(Copy, connection.business_id), Copy.id.in_(chunk)).values(
            seen_at=now).execution_options(synchronize_session=False))


def _reconcile_copies(session: Session, lister: Lister, connection: Any, calendar: str,
                      items: list[RemoteItem], now: dt.datetime, report: ReadReport) -> None:
    """After a full read of `calendar` (which lists no deleted events): every copy we believe
    is there but the provider no longer shows, of an item still to come, is queued to be
    written again. Without this, a copy deleted just before the cursor expired would be lost
    for good: its tombstone is never seen."""
    shown = {item.series_id or item.remote_id for item in items if not item.cancelled}
    GoogleCopy = lister.tables.copy
    for copy in session.execute(select(GoogleCopy).where(
            of_connection(GoogleCopy, connection), GoogleCopy.google_calendar == calendar,
            GoogleCopy.deleted.is_(False), GoogleCopy.sent_seq >= 0)).scalars():
        if copy.event_id not in shown and _still_to_come(session, copy, now):
            _requeue(copy, report)


def _still_to_come(session: Session, copy: Any, now: dt.datetime) -> bool:
    """Whether the copy's item is live and not over (a full read lists only recent events)."""
    if copy.kind == "booking":
        booking = get_of(session, Booking, copy.business_id, copy.item_id)
        return booking is not None and booking.status == "confirmed" and booking.end_utc > now
    item = get_of(session, BlockedTime, copy.business_id, copy.item_id)
    return item is not None and (item.series_end_utc is None or item.series_end_utc > now)


def _check_copy(session: Session, lister: Lister, connection: Any, copy: Any,
                item: RemoteItem, now: dt.datetime, report: ReadReport,
                rules: AvailabilityConfig) -> None:
    """Our copy as the provider has it now: edited there (its etag differs from the one our
    last write got back) or deleted there, it is queued to be written again, unless the
    business applies such edits and the rules accept this one (server/domain/calendar_edits.py)."""
    if copy is None or copy.deleted:
        return
    if item.cancelled:
        _copy_deleted(session, lister, connection, copy, now, report, rules)
    elif copy.etag and item.etag and item.etag != copy.etag:
        change = item.change if isinstance(item.change, mirrored.RemoteEvent) else None
        if change is not None and copy.kind == "booking" and calendar_edits.apply_edit(
                session, connection.business_id, copy.item_id, change,
                provider=lister.label, connection_id=connection.id, now=now, rules=rules):
            copy.etag = item.etag  # the booking now says what the copy says
            return
        _requeue(copy, report)


def _adopt_unknown_copy(session: Session, lister: Lister, connection: Any,
                        calendar: str, item: RemoteItem, report: ReadReport,
                        id_secret: bytes, former: FormerIds) -> None:
    """A copy this connection wrote that the database does not know: written after the backup
    the database was restored from (or recorded by a process that died right after writing),
    or kept when the same account was disconnected before. Its id (the current one, or one of
    a former naming scheme: `former`) proves it ours; adopted under that id, the next write
    rewrites it in place or, if its item is gone, deletes it. Copies of other connections,
    accounts or installations (same tag, other ids) stay untouched."""
    if item.cancelled:
        return
    kind, _, number = (item.tag or "").partition(":")
    if kind not in ("booking", "blocked") or not number.isdigit() or len(number) > 18:
        return
    known = [lister.copy_id(id_secret, connection, kind, int(number)),
             *former(kind, int(number))]
    if (item.copy_key or item.remote_id) not in known:
        return
    GoogleCopy = lister.tables.copy
    if session.execute(select(GoogleCopy.id).where(
            of_connection(GoogleCopy, connection), GoogleCopy.kind == kind,
            GoogleCopy.item_id == int(number))).first() is not None:
        return
    session.add(GoogleCopy(business_id=connection.business_id, connection_id=connection.id,
                           kind=kind, item_id=int(number),
                           calendar_id=0, google_calendar=calendar, event_id=item.remote_id,
                           sent_seq=-1, sent_version=0, etag=item.etag, deleted=False,
                           restored_count=0))
    report.unknown_copies += 1


def _copy_deleted(session: Session, lister: Lister, connection: Any, copy: Any,
                  now: dt.datetime, report: ReadReport, rules: AvailabilityConfig) -> None:
    """Our copy deleted in the provider: written again, unless the business applies such
    edits and may cancel the booking (then the outbox removes what is left of the copy). A
    write of it that was failing (a refused delete, maybe given up) is tried at once."""
    if copy is None or copy.deleted:
        return
    if copy.kind == "booking" and calendar_edits.apply_edit(
            session, connection.business_id, copy.item_id, None, provider=lister.label,
            connection_id=connection.id, now=now, rules=rules):
        return
    if lister.tables.write_error is not None:
        item_errors.retry_now(session, connection, (copy.kind, copy.item_id), now,
                              lister.tables)
    _requeue(copy, report)


def _requeue(copy: Any, report: ReadReport) -> None:
    copy.sent_seq = -1  # the next write sends it again, which also restores a deleted copy
    copy.restored_count += 1
    report.copies_to_restore += 1


def read(db: Database, lister: Lister, client: Any, connection_id: int, now: dt.datetime, *,
         rules: AvailabilityConfig, only: str | None = None, id_secret: bytes | None = None,
         max_pages: int | None = None, attempts: int | None = None,
         business_id: int | None = None, turn_items: int | None = TURN_ITEMS) -> ReadReport:
    """One turn of reading every remote calendar the connection reads (or only the one named).
    With `id_secret` (the key of our copies' ids), copies unknown to the database are adopted.
    With `max_pages`, only a short incremental read is done (else NotIncremental): full reads,
    with their reconciliation and adoption, are left to the bridge. `attempts` bounds the calls
    per list request (default: the adapter's retries). `rules`: the configured availability
    (`[availability]`), which an edit of our copy applied as a reschedule is held to, as any
    reschedule (server/domain/calendar_edits.py); there is no default, so no reader can apply
    edits under rules the deployment did not choose. `business_id`: the connection's business,
    which every statement then names (None: the connection's row is read by id alone).

    A turn lists at most about `turn_items` events of a calendar (None: no bound): a longer
    read (a first import of a huge calendar) stores what it listed, notes where it stopped and
    asks for the next turn (the read state's pull_requested), and the report names the
    calendar in `continuing`. The mirror fills as it goes; the cursor is saved with the last
    page, and a full read then removes what it never listed (`_sweep`)."""
    report = ReadReport()
    GoogleConnection, GoogleReadState = lister.tables.connection, lister.tables.read_state
    read_table = str(GoogleReadState.__tablename__)
    with db.read() as session:
        connection = get_of(session, GoogleConnection, business_id, connection_id)
        if connection is None:
            return report
        business_id = connection.business_id
        query = select(GoogleReadState, SyncFullRead.full_read_at).outerjoin(
            SyncFullRead, and_(SyncFullRead.read_table == read_table,
                               business_beside(SyncFullRead, business_id),
                               SyncFullRead.read_state_id == GoogleReadState.id)).where(
            of_connection(GoogleReadState, connection))
        if only is not None:
            query = query.where(GoogleReadState.google_calendar == only)
        found = list(session.execute(query))
        reads = [(state.id, state.google_calendar, _Progress.of(state)) for state, _ in found]
        last_full = {state.id: when for state, when in found}
        business = session.get(Business, connection.business_id)
        business_zone = business.timezone if business is not None else "UTC"
    if only is None:
        # Before fetching: a notification during the fetch counts. A calendar whose read goes
        # on over turns keeps asking until that read ends (also when a turn fails), and once
        # more after it: a notification during its last turn is not lost.
        with db.write() as session:
            session.execute(update(GoogleReadState).where(
                business_beside(GoogleReadState, business_id),
                GoogleReadState.connection_id == connection_id,
                GoogleReadState.page_token.is_(None)).values(pull_requested=False))
    # The bridge's reads (not the bounded ones before a booking) read each calendar in full
    # once a week (server/sync/full_reads.py).
    bounded = max_pages is not None
    weekly = full_reads.due(db, read_table, business_id, last_full, now) if not bounded \
        else set()
    for state_id, calendar, progress in reads:
        plan = _plan(progress, state_id in weekly, now, bounded)
        try:
            fetched = _fetch(lister, client, calendar, plan, now, business_zone, report,
                             max_pages, attempts, None if bounded else turn_items)
        except SyncError as exc:
            if not calendar_errors.specific(exc):
                raise
            _calendar_failed(db, lister, business_id, state_id,
                             lister.describe(exc, calendar, writing=False), now)
            report.failed.append(calendar)
            continue
        if not _store(db, lister, business_id, connection_id, state_id, calendar, fetched, now,
                      report, id_secret, rules, bridge=not bounded):
            return report
        if fetched.next_page is not None:
            report.continuing.append(calendar)
            continue
        if fetched.full:
            report.full_syncs += 1
            full_reads.done(db, read_table, business_id, state_id, now)
        report.calendars.append(calendar)
    return report


@dataclass(frozen=True)
class _Progress:
    """A read state's cursor and read in progress, as the read began (`_plan` reads it)."""

    sync_token: str | None
    page_token: str | None
    read_started_at: dt.datetime | None
    read_full: bool

    @classmethod
    def of(cls, state: Any) -> _Progress:
        return cls(state.sync_token, state.page_token, state.read_started_at,
                   bool(state.read_full))


def _store(db: Database, lister: Lister, business_id: int, connection_id: int, state_id: int,
           calendar: str, fetched: _Fetched, now: dt.datetime, report: ReadReport,
           id_secret: bytes | None, rules: AvailabilityConfig, *, bridge: bool) -> bool:
    """Write one turn's changes of one calendar in one transaction, with its new cursor when
    the read is complete, or where the next turn goes on; False if the connection or the read
    state is gone. A read complete in one turn writes a full read as one (`full` to the
    mirror); a read over several turns writes each turn's events as they are and, at its end,
    removes what a full read did not list (`_sweep`). `bridge`: the bridge's own read, which
    ends any read in progress (a bounded read before a booking leaves it alone).

    Two processes importing the same new event at once (the bridge and an online booking's
    freshness read, or two bridges) collide on its unique key on PostgreSQL: the loser's
    transaction runs again and updates the winner's rows, so the import is idempotent instead
    of failing."""
    spans = fetched.resumed or fetched.next_page is not None
    # Every row a read lists is stamped no earlier than the read began (a clock set back).
    stamp = max(now, fetched.started)
    for attempt in range(1, STORE_ATTEMPTS + 1):
        part = ReadReport()
        try:
            with db.write() as session:
                connection = get_of(session, lister.tables.connection, business_id,
                                    connection_id)
                state = get_of(session, lister.tables.read_state, business_id, state_id)
                if connection is None or state is None:
                    return False
                longest = _apply(session, lister, connection, calendar, fetched.items,
                                 fetched.full and not spans, stamp, part, id_secret, rules,
                                 listing=fetched.full and spans)
                state.max_span_seconds = max(state.max_span_seconds or 0, longest)
                state.last_error = state.last_error_at = None
                if fetched.next_page is not None:
                    state.read_items = ((state.read_items or 0) if fetched.resumed else 0) \
                        + len(fetched.items)
                    state.page_token, state.read_started_at = fetched.next_page, fetched.started
                    state.read_full = fetched.full
                    state.pull_requested = True  # the next turn goes on
                else:
                    if fetched.full and spans:
                        _sweep(session, lister, connection, calendar, fetched.started, now,
                               part)
                    state.sync_token = fetched.cursor
                    state.synced_at = now
                    connection.last_sync_at = now
                    if bridge:
                        state.page_token = state.read_started_at = None
                        state.read_full, state.read_items = False, 0
        except ConflictError:
            if attempt == STORE_ATTEMPTS:
                raise
            log.info("%s events imported by another process at the same time; writing them "
                     "again", lister.label)
            continue
        report.imported += part.imported
        report.removed += part.removed
        report.copies_to_restore += part.copies_to_restore
        report.unknown_copies += part.unknown_copies
        return True
    return False


def _sweep(session: Session, lister: Lister, connection: Any, calendar: str,
           started: dt.datetime, now: dt.datetime, report: ReadReport) -> None:
    """The end of a full read that spanned turns: what it did not list since it began is gone
    from the calendar. Mirrored events it did not stamp are removed; copies of ours it did not
    see (nor we write) since, of items still to come, are queued to be written again, as
    `_reconcile_copies` does for a read of one turn."""
    mirror = lister.tables.mirrored.__table__
    business_id = connection.business_id
    gone = session.execute(delete(mirror).where(
        mirror.c.business_id == business_id, mirror.c.connection_id == connection.id,
        mirror.c.google_calendar == calendar, mirror.c.updated_at < started))
    report.removed += cast(CursorResult[Any], gone).rowcount
    Copy = lister.tables.copy
    if Copy is None:
        return
    for copy in session.execute(select(Copy).where(
            of_connection(Copy, connection), Copy.google_calendar == calendar,
            Copy.deleted.is_(False), Copy.sent_seq >= 0,
            or_(Copy.seen_at.is_(None), Copy.seen_at < started))).scalars():
        if _still_to_come(session, copy, now):
            _requeue(copy, report)


def _calendar_failed(db: Database, lister: Lister, business_id: int, state_id: int,
                     error: str, now: dt.datetime) -> None:
    """Record a failure of one calendar's read (404, 403). A read under way there stops asking
    for its next turn: it goes on at the next poll, not at every pass against a calendar the
    provider refuses."""
    log.warning("%s calendar read failed: %s", lister.label, error)
    with db.write() as session:
        state = get_of(session, lister.tables.read_state, business_id, state_id)
        if state is not None:
            state.last_error, state.last_error_at = error, now
            if state.page_token is not None:  # only its own asking: a notification stays
                state.pull_requested = False

"""Reading a provider into the mirror, the same for every provider: per remote calendar a
connection reads, its changes since the saved cursor, page after page (the adapter's
`list_page`, one request each); the cursor is saved only after the last page, with the changes,
in one transaction. An expired cursor means a full read that reconciles instead of wiping.

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
from typing import Any, Protocol

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from server.config import AvailabilityConfig
from server.db import Database
from server.db.models import BlockedTime, Booking, Business, SyncFullRead
from server.db.scope import business_beside, get_of, of_connection
from server.domain import calendar_edits, mirrored
from server.domain.blocking import BlockingPolicy
from server.errors import BookingCalError, ConflictError
from server.sync import calendar_errors, full_reads, item_errors
from server.sync.errors import CursorExpiredError, SyncError
from server.sync.provider import FormerIds, Page, RemoteItem
from server.sync.tables import Tables

log = logging.getLogger(__name__)
STORE_ATTEMPTS = 3  # writes of one calendar's events that collided with another importer
FULL_SYNC_PAST = dt.timedelta(days=30)
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
    calendars: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # calendars whose read failed on their own


class NotIncremental(BookingCalError):
    """A bounded read (`max_pages`) met a calendar that needs more than a short incremental
    read: no cursor yet, an expired one, or more pages of changes than allowed."""

    code = "unavailable"


def _fetch(lister: Lister, client: Any, calendar: str, cursor: str | None, now: dt.datetime,
           zone: str, report: ReadReport, max_pages: int | None, attempts: int | None
           ) -> tuple[list[RemoteItem], str | None, bool]:
    """(items, next cursor, was full): restarting as a full read when the cursor expired,
    unless bounded by `max_pages`: then only an incremental read of that many pages is done."""
    whole = cursor == WHOLE_HISTORY
    if whole:
        cursor = None
    full = cursor is None
    if full and max_pages is not None:
        raise NotIncremental(f"the bridge has not finished its first read of this "
                             f"{lister.label} calendar")
    items: list[RemoteItem] = []
    page: str | None = None
    pages = 0
    while True:
        if max_pages is not None and pages >= max_pages:
            raise NotIncremental(f"more than {max_pages} pages of {lister.label} changes; the "
                                 "bridge reads them")
        try:
            answer = lister.list_page(client, calendar, cursor=cursor, page=page,
                                      since=None if whole else now - FULL_SYNC_PAST, zone=zone,
                                      attempts=attempts)
        except CursorExpiredError as exc:
            if cursor is None:
                raise
            if max_pages is not None:
                raise NotIncremental(f"the {lister.label} sync token expired; the bridge reads "
                                     "the calendar again") from exc
            log.info("%s cursor of a calendar expired; full resync", lister.label)
            cursor, full, items, page = None, True, [], None
            continue
        report.pages += 1
        pages += 1
        items.extend(answer.items)
        page = answer.next_page
        if not page:
            return items, answer.cursor, full


def _apply(session: Session, lister: Lister, connection: Any, calendar: str,
           items: list[RemoteItem], full: bool, now: dt.datetime, report: ReadReport,
           id_secret: bytes | None, rules: AvailabilityConfig) -> int:
    """Hand the changes to the domain layer; check our own copies among them. Return the
    longest span (seconds) among the events written."""
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
    if full and GoogleCopy is not None:
        _reconcile_copies(session, lister, connection, calendar, items, now, report)
    # A tombstone carries only the id: one that was not mirrored may be a copy of ours, deleted.
    for remote_id in result.unknown_tombstones:
        _copy_deleted(session, lister, connection, copies.get(remote_id), now, report,
                      rules)
    report.imported += result.imported
    report.removed += result.removed
    return result.longest_seconds


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
         business_id: int | None = None) -> ReadReport:
    """One read of every remote calendar the connection reads (or only the one named). With
    `id_secret` (the key of our copies' ids), copies unknown to the database are adopted. With
    `max_pages`, only a short incremental read is done (else NotIncremental): full reads, with
    their reconciliation and adoption, are left to the bridge. `attempts` bounds the calls per
    list request (default: the adapter's retries). `rules`: the configured availability
    (`[availability]`), which an edit of our copy applied as a reschedule is held to, as any
    reschedule (server/domain/calendar_edits.py); there is no default, so no reader can apply
    edits under rules the deployment did not choose. `business_id`: the connection's business,
    which every statement then names (None: the connection's row is read by id alone)."""
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
        reads = [(state.id, state.google_calendar, state.sync_token) for state, _ in found]
        last_full = {state.id: when for state, when in found}
        business = session.get(Business, connection.business_id)
        business_zone = business.timezone if business is not None else "UTC"
    if only is None:
        with db.write() as session:  # before fetching: a notification during the fetch counts
            session.execute(update(GoogleReadState).where(
                business_beside(GoogleReadState, business_id),
                GoogleReadState.connection_id == connection_id).values(pull_requested=False))
    # The bridge's reads (not the bounded ones before a booking) read each calendar in full
    # once a week (server/sync/full_reads.py).
    weekly = (full_reads.due(db, read_table, business_id, last_full, now)
              if max_pages is None else set())
    for state_id, calendar, cursor in reads:
        if state_id in weekly and cursor not in (None, WHOLE_HISTORY):
            log.info("%s calendar read in full (weekly)", lister.label)
            cursor = None
        try:
            items, next_cursor, full = _fetch(lister, client, calendar, cursor, now,
                                              business_zone, report, max_pages, attempts)
        except SyncError as exc:
            if not calendar_errors.specific(exc):
                raise
            _calendar_failed(db, lister, business_id, state_id,
                             lister.describe(exc, calendar, writing=False), now)
            report.failed.append(calendar)
            continue
        if full:
            report.full_syncs += 1
        if not _store(db, lister, business_id, connection_id, state_id, calendar, items, full,
                      next_cursor, now, report, id_secret, rules):
            return report
        if full:
            full_reads.done(db, read_table, business_id, state_id, now)
        report.calendars.append(calendar)
    return report


def _store(db: Database, lister: Lister, business_id: int, connection_id: int, state_id: int,
           calendar: str, items: list[RemoteItem], full: bool, next_cursor: str | None,
           now: dt.datetime, report: ReadReport, id_secret: bytes | None,
           rules: AvailabilityConfig) -> bool:
    """Write one calendar's changes and its new cursor in one transaction; False if the
    connection or the read state is gone. Two processes importing the same new event at once
    (the bridge and an online booking's freshness read, or two bridges) collide on its unique
    key on PostgreSQL: the loser's transaction runs again and updates the winner's rows, so
    the import is idempotent instead of failing."""
    for attempt in range(1, STORE_ATTEMPTS + 1):
        part = ReadReport()
        try:
            with db.write() as session:
                connection = get_of(session, lister.tables.connection, business_id,
                                    connection_id)
                state = get_of(session, lister.tables.read_state, business_id, state_id)
                if connection is None or state is None:
                    return False
                longest = _apply(session, lister, connection, calendar, items, full, now, part,
                                 id_secret, rules)
                state.max_span_seconds = max(state.max_span_seconds or 0, longest)
                state.sync_token = next_cursor
                state.synced_at = now
                state.last_error = state.last_error_at = None
                connection.last_sync_at = now
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


def _calendar_failed(db: Database, lister: Lister, business_id: int, state_id: int,
                     error: str, now: dt.datetime) -> None:
    log.warning("%s calendar read failed: %s", lister.label, error)
    with db.write() as session:
        state = get_of(session, lister.tables.read_state, business_id, state_id)
        if state is not None:
            state.last_error, state.last_error_at = error, now

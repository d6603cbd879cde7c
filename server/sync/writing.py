"""Writing to a provider, the same for every provider: every booking change reaches the
connection's remote calendars from the journal (the journal is the outbox). The engine plans
the writes from each employee calendar's journal position (a backfill of future items first),
hands them to the adapter in batches (`write_batch`: idempotent creates with deterministic ids,
a copy deleted remotely restored by the next write, deletes of what is already gone counted
as done), records what each batch wrote before the next is sent, and advances a calendar's
position only when all of its writes succeeded. A failure of one item backs off on its own
(server/sync/item_errors.py); of one remote calendar, on that calendar
(server/sync/calendar_errors.py); a refused token or an exhausted quota stops the pass at once.
A booking is never changed because its copy vanished.

The bookkeeping rows are the provider's own tables (`writer.tables`, server/sync/tables.py)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db import Database
from server.db.models import (
    BlockedTime, Booking, Calendar, Client, Service,
)
from server.db.scope import get_of, in_calendar, of_connection
from server.domain import journal
from server.domain.recurrence import stored_rule
from server.errors import GoneError
from server.redaction import (
    BlockedFacts, BookingFacts, EventView, google_blocked_view, google_booking_view,
)
from server.sync import calendar_errors, item_errors
from server.sync.errors import ReconnectError, RetryableError, SyncError, stops_connection
from server.sync.tables import GOOGLE, MICROSOFT, Tables


@dataclass
class Write:
    """One intended write of a pass."""

    kind: str
    item_id: int
    calendar_id: int
    seq: int
    remote_calendar: str
    body: Any  # the adapter's copy (copy_body); None: delete
    remote_id: str  # the copy's id: the existing one, or the deterministic id of a new one
    exists: bool = False  # a copy was written before (update it; else create)
    copy_deleted: bool = False  # ... and was deleted since (create it again)
    etag: str | None = None  # the copy's etag after our last write (If-Match, where used)
    copy_key: str = ""  # the deterministic id of our copy (a Graph create's transactionId)


@dataclass(frozen=True)
class WriteResult:
    """What one write got back: the copy's new etag, or the classified error."""

    etag: str | None = None
    error: SyncError | None = None
    # The copy's remote id when the provider chose it (a Graph create); None: Write.remote_id.
    remote_id: str | None = None


@dataclass
class WriteReport:
    """What a write pass did (counts only)."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    restored: int = 0
    failed: list[str] = field(default_factory=list)
    # Employee calendar id -> what went wrong with its remote calendar alone (404, 403).
    calendar_errors: dict[int, str] = field(default_factory=dict)
    # The first write that failed because the provider failed (5xx, rate limit, timeout) even
    # after its retries: the engine backs off the connection's writes.
    retryable: SyncError | None = None

    @property
    def writes(self) -> int:
        return self.inserted + self.updated + self.deleted


class Writer(Protocol):
    """The writing half of an adapter (server/sync/provider.py)."""

    tables: Tables

    @property
    def batch_limit(self) -> int:
        """The most writes write_batch is given at once."""
        ...

    def copy_id(self, secret: bytes, connection: Any, kind: str, item_id: int) -> str:
        """The deterministic remote id of our copy of an item (from the connection's row)."""
        ...

    def copy_body(self, view: EventView, *, remote_id: str, item_ref: str, copy_version: int,
                  reminders: bool) -> Any:
        """Our copy of an item as the provider takes it, tagged with `item_ref`."""
        ...

    def write_batch(self, client: Any, writes: list[Write], attempts: int | None
                    ) -> dict[tuple[str, int], WriteResult]:
        """Send at most batch_limit writes; a result for each (kind, item id)."""
        ...

    def describe(self, error: SyncError, calendar: str, *, writing: bool) -> str:
        """What went wrong with one remote calendar, and what to change."""
        ...


def stopping_error(results: Any) -> SyncError | None:
    """The first error among `results` (WriteResults) that stops the connection; a refused
    token comes first."""
    found: SyncError | None = None
    for result in results:
        if isinstance(result.error, ReconnectError):
            return result.error
        if found is None and result.error is not None and stops_connection(result.error):
            found = result.error
    return found


def _view(session: Session, kind: str, item_id: int,
          connection: Any) -> tuple[EventView, int, int] | None:
    """(view, seq, calendar id) of an item that the provider should show, or None."""
    business_id = connection.business_id
    if kind == "booking":
        booking = get_of(session, Booking, business_id, item_id)
        if booking is None or booking.status != "confirmed":
            return None
        service = get_of(session, Service, business_id, booking.service_id)
        calendar = get_of(session, Calendar, business_id, booking.calendar_id)
        client = get_of(session, Client, business_id, booking.client_id) \
            if booking.client_id else None
        assert service is not None and calendar is not None
        facts = BookingFacts(
            uid=booking.uid, start_local=booking.start_local, end_local=booking.end_local,
            start_utc=booking.start_utc, end_utc=booking.end_utc, tzid=booking.tzid,
            revision=booking.revision, created=booking.created_at, updated=booking.updated_at,
            service_name=service.name, employee_name=calendar.name,
            client_name=client.name if client else None,
            client_email=client.email if client else None,
            client_phone=client.phone if client else None,
            client_address=client.address if client else None,
            client_notes=client.notes if client else None, location=booking.location,
            notes=booking.notes, all_day=booking.all_day)
        return (google_booking_view(facts, connection.hide_client_details), booking.seq,
                booking.calendar_id)
    item = get_of(session, BlockedTime, business_id, item_id)
    if item is None:
        return None
    blocked = BlockedFacts(
        uid=item.uid, title=item.title, all_day=item.all_day, start_local=item.start_local,
        end_local=item.end_local, tzid=item.tzid,
        rrule=stored_rule(item.rrule, item.start_local, item.tzid),
        exdates=tuple(dt.datetime.fromisoformat(v) for v in json.loads(item.exdates)),
        revision=item.revision, created=item.created_at, updated=item.updated_at)
    return google_blocked_view(blocked), item.seq, item.calendar_id


def plan(session: Session, writer: Writer, secret: bytes, connection: Any,
         now: dt.datetime, backfill_limit: int | None = None
         ) -> tuple[list[Write], dict[int, int], set[tuple[str, int]]]:
    """The writes that bring the provider up to date, each map's new journal position (absent
    for a map whose backfill goes on in later passes, `backfill_limit` items at a time), and
    the items with a recorded write error that need no write any more. An item whose last
    write failed on its own waits for its retry time unless it changed since; its error row
    keeps it wanted while the journal position moves on."""
    errors = item_errors.load(session, connection, writer.tables)
    GoogleCalendarMap, GoogleCopy = writer.tables.calendar_map, writer.tables.copy
    work: dict[tuple[str, int], Write] = {}
    positions: dict[int, int] = {}
    maps = list(session.execute(select(GoogleCalendarMap).where(
        of_connection(GoogleCalendarMap, connection))).scalars())
    mapped = {m.calendar_id: m for m in maps}
    copies = {(c.kind, c.item_id): c for c in session.execute(select(GoogleCopy).where(
        of_connection(GoogleCopy, connection))).scalars()}
    wanted: set[tuple[str, int]] = set()
    waiting = {m.calendar_id for m in maps if calendar_errors.backing_off(m.retry_at, now)}
    for row in maps:
        calendar = get_of(session, Calendar, connection.business_id, row.calendar_id)
        if calendar is None or row.calendar_id in waiting:
            continue  # a calendar backing off keeps its position: its changes go later
        positions[row.id] = calendar.journal_seq
        if calendar.deleted_at is not None or not calendar.active:
            # Gone from everything that shows it: its copies leave the provider.
            wanted.update(key for key, c in copies.items()
                          if c.calendar_id == calendar.id and not c.deleted)
            continue
        if not row.backfilled:
            missing = sorted(key for key in _future_items(session, calendar, now)
                             if (key not in copies or copies[key].deleted)
                             and not (key in errors and errors[key].retry_at > now))
            if backfill_limit is not None and len(missing) > backfill_limit:
                missing = missing[:backfill_limit]
                del positions[row.id]  # not done yet: the next pass goes on
            wanted.update(missing)
            continue
        try:
            found = journal.changes_since(session, calendar, row.sent_seq)
        except GoneError:  # behind the pruning horizon: send everything in the future again
            wanted.update(_future_items(session, calendar, now))
            continue
        wanted.update((c.kind, c.item_id) for c in found.changes
                      if c.kind in ("booking", "blocked"))
    # Copies to rewrite: a setting changed what they show, their calendar left, or someone
    # changed or deleted them remotely (reading marks those with sent_seq -1).
    for key, existing in copies.items():
        if not existing.deleted and (existing.sent_version != connection.copy_version
                                     or existing.calendar_id not in mapped
                                     or existing.sent_seq < 0):
            wanted.add(key)
    wanted.update(errors)
    settled: set[tuple[str, int]] = set()
    for kind, item_id in sorted(wanted):
        copy = copies.get((kind, item_id))
        shown = _view(session, kind, item_id, connection)
        failing = errors.get((kind, item_id))
        if failing is not None and item_errors.waiting(
                failing, shown[1] if shown is not None else 0, now):
            continue  # backing off after failing on its own
        settled.add((kind, item_id))  # cleared unless a write of it is planned below
        target = mapped.get(shown[2]) if shown is not None else None
        calendar = get_of(session, Calendar, connection.business_id, shown[2]) \
            if shown is not None else None
        visible = shown is not None and target is not None and calendar is not None \
            and calendar.active and calendar.deleted_at is None
        if visible:
            assert shown is not None and target is not None
            view, seq, calendar_id = shown
            if copy is not None and not copy.deleted and copy.sent_seq >= seq \
                    and copy.sent_version == connection.copy_version \
                    and copy.google_calendar == target.write_calendar:
                continue  # already there
            if copy is not None and not copy.deleted \
                    and copy.google_calendar != target.write_calendar:
                # Moving to another remote calendar: delete there first (in a later pass the
                # new copy is written).
                work[(kind, item_id)] = Write(kind, item_id, copy.calendar_id, seq,
                                              copy.google_calendar, None, copy.event_id, True)
                continue
            identifier = copy.event_id if copy else writer.copy_id(secret, connection, kind,
                                                                   item_id)
            work[(kind, item_id)] = Write(
                kind, item_id, calendar_id, seq, target.write_calendar,
                writer.copy_body(view, remote_id=identifier, item_ref=f"{kind}:{item_id}",
                                 copy_version=connection.copy_version,
                                 reminders=connection.reminders),
                identifier, copy is not None, bool(copy and copy.deleted),
                copy.etag if copy is not None else None,
                writer.copy_id(secret, connection, kind, item_id))
        elif copy is not None and not copy.deleted:
            work[(kind, item_id)] = Write(kind, item_id, copy.calendar_id, 0,
                                          copy.google_calendar, None, copy.event_id, True)
    planned = [w for w in work.values() if w.calendar_id not in waiting]
    return planned, positions, {key for key in settled if key in errors and key not in work}


def _future_items(session: Session, calendar: Calendar,
                  now: dt.datetime) -> set[tuple[str, int]]:
    found = {("booking", i) for i in session.execute(select(Booking.id).where(
        in_calendar(Booking, calendar), Booking.status == "confirmed",
        Booking.end_utc > now)).scalars()}
    found.update(("blocked", i) for i in session.execute(select(BlockedTime.id).where(
        in_calendar(BlockedTime, calendar),
        (BlockedTime.series_end_utc.is_(None)) | (BlockedTime.series_end_utc > now))).scalars())
    return found


def record(session: Session, writer: Writer, connection: Any, work: list[Write],
           results: dict[tuple[str, int], WriteResult], now: dt.datetime,
           report: WriteReport) -> set[int]:
    """Store what reached the provider; returns the employee calendars whose journal position
    must stay (a write failed for the whole connection or for the remote calendar). A write
    that failed for its item alone is recorded on the item, which then backs off on its own."""
    failed_calendars: set[int] = set()
    written: set[tuple[str, int]] = set()
    GoogleCopy = writer.tables.copy
    for item in work:
        result = results[(item.kind, item.item_id)]
        if result.error is not None:
            report.failed.append(f"{item.kind} {item.item_id}: {result.error.message}")
            if item_errors.permanent(result.error):
                item_errors.failed(session, connection.business_id, connection.id,
                                   (item.kind, item.item_id),
                                   item.calendar_id, item.seq, result.error, now,
                                   writer.tables)
                continue
            failed_calendars.add(item.calendar_id)
            if calendar_errors.specific(result.error):
                report.calendar_errors[item.calendar_id] = writer.describe(
                    result.error, item.remote_calendar, writing=True)
            elif isinstance(result.error, RetryableError) and report.retryable is None:
                report.retryable = result.error
            continue
        written.add((item.kind, item.item_id))
        copy = session.execute(select(GoogleCopy).where(
            of_connection(GoogleCopy, connection), GoogleCopy.kind == item.kind,
            GoogleCopy.item_id == item.item_id)).scalar_one_or_none()
        if item.body is None:
            report.deleted += 1
            if copy is not None:
                copy.deleted = True
            continue
        if copy is None:
            copy = GoogleCopy(business_id=connection.business_id, connection_id=connection.id,
                              kind=item.kind, item_id=item.item_id,
                              event_id=result.remote_id or item.remote_id, restored_count=0)
            session.add(copy)
            report.inserted += 1
        else:
            report.updated += 1
        copy.calendar_id = item.calendar_id
        copy.google_calendar = item.remote_calendar
        copy.sent_seq = item.seq
        copy.sent_version = connection.copy_version
        copy.deleted = False
        copy.etag = result.etag or None
        copy.seen_at = now  # the provider took it: a full read in turns must not miss it
        if result.remote_id:
            copy.event_id = result.remote_id
    item_errors.cleared(session, connection, written, writer.tables)
    return failed_calendars


def advance(session: Session, connection: Any, positions: dict[int, int],
            failed_calendars: set[int], errors: dict[int, str] | None = None,
            now: dt.datetime | None = None, tables: Tables | None = None) -> None:
    """A map's journal position advances only when all of its writes succeeded. A map whose
    remote calendar failed on its own (`errors`) records it; one with no failure in the pass
    has its last error cleared. A calendar failing on its own backs off exponentially
    (calendar_errors.backoff); one backing off keeps its error until it is tried again."""
    maps = (tables or _tables_of(connection)).calendar_map
    for row in session.execute(select(maps).where(of_connection(maps, connection))).scalars():
        if errors and row.calendar_id in errors:
            row.last_error, row.last_error_at = errors[row.calendar_id], now
            row.failures = (row.failures or 0) + 1
            row.retry_at = now + calendar_errors.backoff(row.failures) if now else None
        elif now is not None and calendar_errors.backing_off(row.retry_at, now):
            continue
        elif row.calendar_id not in failed_calendars:
            row.last_error = row.last_error_at = row.retry_at = None
            row.failures = 0
        if row.id in positions and row.calendar_id not in failed_calendars:
            row.sent_seq = positions[row.id]
            row.backfilled = True


def write(db: Database, writer: Writer, client: Any, secret: bytes, connection_id: int,
          now: dt.datetime, backfill_limit: int | None = None,
          attempts: int | None = None, business_id: int | None = None) -> WriteReport:
    """One pass: plan from the journal, write, record. Safe to repeat at any point: a pass over
    an unchanged state makes no writes. What each batch wrote is recorded before the next
    batch is sent, so a process killed mid-pass sends again at most one batch (whose creates
    then meet their own ids). A refused token or an exhausted quota, on any write, stops the
    pass at once: what was written is recorded, then the error is raised for the engine to
    stop or pause the connection. `business_id`: the connection's business, which every
    statement then names (None: the connection's row is read by id alone)."""
    report = WriteReport()
    with db.read() as session:
        connection = get_of(session, writer.tables.connection, business_id, connection_id)
        if connection is None or connection.direction == writer.tables.read_only:
            return report
        business_id = connection.business_id
        work, positions, settled = plan(session, writer, secret, connection, now,
                                        backfill_limit)
    failed: set[int] = set()
    size = writer.batch_limit
    chunks = [work[start:start + size] for start in range(0, len(work), size)]
    for number, chunk in enumerate(chunks or [[]], 1):
        results = writer.write_batch(client, chunk, attempts) if chunk else {}
        stop = stopping_error(results.values())
        with db.write() as session:
            connection = get_of(session, writer.tables.connection, business_id, connection_id)
            if connection is None:
                return report
            failed |= record(session, writer, connection, chunk, results, now, report)
            if number == 1:
                item_errors.cleared(session, connection, settled, writer.tables)
            if number == max(1, len(chunks)) and stop is None:
                advance(session, connection, positions, failed, report.calendar_errors, now,
                        writer.tables)
        if stop is not None:  # what was written is recorded; the connection stops here
            raise stop
    return report


def _tables_of(connection: Any) -> Tables:
    """The tables of the provider a connection row belongs to."""
    return MICROSOFT if isinstance(connection, MICROSOFT.connection) else GOOGLE

"""To Google: every booking change reaches the connection's Google calendars from the journal
(the journal is the outbox). Inserts use deterministic event ids, so a retried insert can never
duplicate (409: the event exists; we adopt it, restoring it if it was deleted). Existing copies
are written with a full update, which also restores a copy someone deleted in Google. Deletes
count 404/410 as done. A booking is never changed because its Google copy vanished."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db import Database
from server.db.models import (
    BlockedTime, Booking, Calendar, Client, GoogleCalendarMap, GoogleConnection, GoogleCopy,
    Service,
)
from server.domain import journal
from server.domain.recurrence import stored_rule
from server.errors import GoneError
from server.google import calendar_errors, item_errors
from server.google.api import (
    BATCH_LIMIT, CallResult, GoogleCalendarApi, GoogleError, RetryableError, connection_error,
)
from server.google.copies import event_body
from server.google.event_ids import event_id
from server.keys import Keyring
from server.redaction import (
    BlockedFacts, BookingFacts, EventView, google_blocked_view, google_booking_view,
)

log = logging.getLogger(__name__)


def id_secret(keyring: Keyring) -> bytes:
    """The per-installation key of our event ids, derived from the token-hashing key."""
    return hmac.new(keyring.hash_key, b"google-event-ids", hashlib.sha256).digest()


@dataclass
class Work:
    """One intended write of a pass."""

    kind: str
    item_id: int
    calendar_id: int
    seq: int
    google_calendar: str
    body: dict[str, Any] | None  # None: delete
    copy_event_id: str | None = None  # the existing copy's id, if any
    copy_deleted: bool = False


@dataclass
class PushReport:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    restored: int = 0
    failed: list[str] = field(default_factory=list)
    # Employee calendar id -> what went wrong with its Google calendar alone (404, 403).
    calendar_errors: dict[int, str] = field(default_factory=dict)
    # The first write that failed because Google failed (5xx, rate limit, timeout) even after
    # its retries: the bridge backs off the connection's writes (server/sync/engine.py).
    retryable: GoogleError | None = None

    @property
    def writes(self) -> int:
        return self.inserted + self.updated + self.deleted


def _view(session: Session, kind: str, item_id: int,
          connection: GoogleConnection) -> tuple[EventView, int, int] | None:
    """(view, seq, calendar id) of an item that Google should show, or None."""
    if kind == "booking":
        booking = session.get(Booking, item_id)
        if booking is None or booking.status != "confirmed":
            return None
        service = session.get(Service, booking.service_id)
        calendar = session.get(Calendar, booking.calendar_id)
        client = session.get(Client, booking.client_id) if booking.client_id else None
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
            notes=booking.notes)
        return (google_booking_view(facts, connection.hide_client_details), booking.seq,
                booking.calendar_id)
    item = session.get(BlockedTime, item_id)
    if item is None:
        return None
    blocked = BlockedFacts(
        uid=item.uid, title=item.title, all_day=item.all_day, start_local=item.start_local,
        end_local=item.end_local, tzid=item.tzid,
        rrule=stored_rule(item.rrule, item.start_local, item.tzid),
        exdates=tuple(dt.datetime.fromisoformat(v) for v in json.loads(item.exdates)),
        revision=item.revision, created=item.created_at, updated=item.updated_at)
    return google_blocked_view(blocked), item.seq, item.calendar_id


def plan(session: Session, keyring: Keyring, connection: GoogleConnection,
         now: dt.datetime, backfill_limit: int | None = None
         ) -> tuple[list[Work], dict[int, int], set[tuple[str, int]]]:
    """The writes that bring Google up to date, each map's new journal position (absent
    for a map whose backfill goes on in later passes, `backfill_limit` items at a time), and
    the items with a recorded write error that need no write any more. An item whose last
    write failed on its own (server/google/item_errors.py) waits for its retry time unless it
    changed since; its error row keeps it wanted while the journal position moves on."""
    secret = id_secret(keyring)
    errors = item_errors.load(session, connection.id)
    work: dict[tuple[str, int], Work] = {}
    positions: dict[int, int] = {}
    maps = list(session.execute(select(GoogleCalendarMap).where(
        GoogleCalendarMap.connection_id == connection.id)).scalars())
    mapped = {m.calendar_id: m for m in maps}
    copies = {(c.kind, c.item_id): c for c in session.execute(select(GoogleCopy).where(
        GoogleCopy.connection_id == connection.id)).scalars()}
    wanted: set[tuple[str, int]] = set()
    waiting = {m.calendar_id for m in maps if calendar_errors.backing_off(m.retry_at, now)}
    for row in maps:
        calendar = session.get(Calendar, row.calendar_id)
        if calendar is None or row.calendar_id in waiting:
            continue  # a calendar backing off keeps its position: its changes go later
        positions[row.id] = calendar.journal_seq
        if calendar.deleted_at is not None or not calendar.active:
            # Gone from everything that shows it: its copies leave Google.
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
    # changed or deleted them in Google (the pull marks those with sent_seq -1).
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
        calendar = session.get(Calendar, shown[2]) if shown is not None else None
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
                # Moving to another Google calendar: delete there first (in a later pass the
                # new copy is written).
                work[(kind, item_id)] = Work(kind, item_id, copy.calendar_id, seq,
                                             copy.google_calendar, None, copy.event_id)
                continue
            identifier = copy.event_id if copy else event_id(secret, connection.id, kind,
                                                              item_id)
            work[(kind, item_id)] = Work(kind, item_id, calendar_id, seq, target.write_calendar,
                                         event_body(view, event_id=identifier,
                                                    item_ref=f"{kind}:{item_id}",
                                                    copy_version=connection.copy_version,
                                                    reminders=connection.reminders),
                                         copy.event_id if copy else None,
                                         bool(copy and copy.deleted))
        elif copy is not None and not copy.deleted:
            work[(kind, item_id)] = Work(kind, item_id, copy.calendar_id, 0,
                                         copy.google_calendar, None, copy.event_id)
    planned = [w for w in work.values() if w.calendar_id not in waiting]
    return planned, positions, {key for key in settled if key in errors and key not in work}


def _future_items(session: Session, calendar: Calendar,
                  now: dt.datetime) -> set[tuple[str, int]]:
    found = {("booking", i) for i in session.execute(select(Booking.id).where(
        Booking.calendar_id == calendar.id, Booking.status == "confirmed",
        Booking.end_utc > now)).scalars()}
    found.update(("blocked", i) for i in session.execute(select(BlockedTime.id).where(
        BlockedTime.calendar_id == calendar.id,
        (BlockedTime.series_end_utc.is_(None)) | (BlockedTime.series_end_utc > now))).scalars())
    return found


def execute(api: GoogleCalendarApi, work: list[Work], part_attempts: int | None = None
            ) -> dict[tuple[str, int], CallResult]:
    """Send the writes in batches; resolve 404/409/410 by the rules of this module."""
    events = api.events()
    calls = {}
    for item in work:
        key = f"{item.kind}-{item.item_id}"
        if item.body is None:
            calls[key] = events.delete(calendarId=item.google_calendar,
                                       eventId=item.copy_event_id, sendUpdates="none")
        elif item.copy_event_id is None or item.copy_deleted:
            calls[key] = events.insert(calendarId=item.google_calendar, body=item.body,
                                       sendUpdates="none")
        else:
            calls[key] = events.update(calendarId=item.google_calendar,
                                       eventId=item.copy_event_id, body=item.body,
                                       sendUpdates="none")
    answers = api.batch(calls, part_attempts=part_attempts)
    results: dict[tuple[str, int], CallResult] = {}
    for item in work:
        key = f"{item.kind}-{item.item_id}"
        result = answers[key]
        error = result.error
        if error is not None and item.body is None and error.status in (404, 410):
            result = CallResult(response={})  # already gone: done
        elif error is not None and item.body is not None and error.status in (404, 409, 410) \
                and connection_error(answers.values()) is None:
            result = _resolve(api, item, error)
        results[(item.kind, item.item_id)] = result
    return results


def _resolve(api: GoogleCalendarApi, item: Work, error: GoogleError) -> CallResult:
    """409 on insert: the id exists (a retried insert, or a deleted copy): write over it, which
    also restores it. 404/410 on update: the copy was removed; insert (or restore) it."""
    assert item.body is not None
    events = api.events()
    identifier = str(item.body["id"])
    try:
        if error.status == 409 or error.status == 410:
            return CallResult(response=api.call(events.update(
                calendarId=item.google_calendar, eventId=identifier, body=item.body,
                sendUpdates="none")))
        return CallResult(response=api.call(events.insert(
            calendarId=item.google_calendar, body=item.body, sendUpdates="none")))
    except GoogleError as second:
        if second.status == 409:
            try:
                return CallResult(response=api.call(events.update(
                    calendarId=item.google_calendar, eventId=identifier, body=item.body,
                    sendUpdates="none")))
            except GoogleError as third:
                return CallResult(error=third)
        return CallResult(error=second)


def record(session: Session, connection: GoogleConnection, work: list[Work],
           results: dict[tuple[str, int], CallResult], now: dt.datetime,
           report: PushReport) -> set[int]:
    """Store what reached Google; returns the employee calendars whose journal position must
    stay (a write failed for the whole connection or for the Google calendar). A write that
    failed for its item alone is recorded on the item (server/google/item_errors.py), which
    then backs off on its own."""
    failed_calendars: set[int] = set()
    written: set[tuple[str, int]] = set()
    for item in work:
        result = results[(item.kind, item.item_id)]
        if result.error is not None:
            report.failed.append(f"{item.kind} {item.item_id}: {result.error.message}")
            if item_errors.permanent(result.error):
                item_errors.failed(session, connection.id, (item.kind, item.item_id),
                                   item.calendar_id, item.seq, result.error, now)
                continue
            failed_calendars.add(item.calendar_id)
            if calendar_errors.specific(result.error):
                report.calendar_errors[item.calendar_id] = calendar_errors.describe(
                    result.error, item.google_calendar, writing=True)
            elif isinstance(result.error, RetryableError) and report.retryable is None:
                report.retryable = result.error
            continue
        written.add((item.kind, item.item_id))
        copy = session.execute(select(GoogleCopy).where(
            GoogleCopy.connection_id == connection.id, GoogleCopy.kind == item.kind,
            GoogleCopy.item_id == item.item_id)).scalar_one_or_none()
        if item.body is None:
            report.deleted += 1
            if copy is not None:
                copy.deleted = True
            continue
        if copy is None:
            copy = GoogleCopy(connection_id=connection.id, kind=item.kind, item_id=item.item_id,
                              event_id=str(item.body["id"]), restored_count=0)
            session.add(copy)
            report.inserted += 1
        else:
            report.updated += 1
        copy.calendar_id = item.calendar_id
        copy.google_calendar = item.google_calendar
        copy.sent_seq = item.seq
        copy.sent_version = connection.copy_version
        copy.deleted = False
        copy.etag = str((result.response or {}).get("etag", "")) or None
    item_errors.cleared(session, connection.id, written)
    return failed_calendars


def advance(session: Session, connection: GoogleConnection, positions: dict[int, int],
            failed_calendars: set[int], errors: dict[int, str] | None = None,
            now: dt.datetime | None = None) -> None:
    """A map's journal position advances only when all of its writes reached Google. A map
    whose Google calendar failed on its own (`errors`) records it; one with no failure in the
    pass has its last error cleared. A calendar failing on its own backs off exponentially
    (calendar_errors.backoff); one backing off keeps its error until it is tried again."""
    for row in session.execute(select(GoogleCalendarMap).where(
            GoogleCalendarMap.connection_id == connection.id)).scalars():
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


def push(db: Database, keyring: Keyring, api: GoogleCalendarApi, connection_id: int,
         now: dt.datetime, backfill_limit: int | None = None,
         part_attempts: int | None = None) -> PushReport:
    """One pass: plan from the journal, write to Google, record. Safe to repeat at any point:
    a pass over an unchanged state makes no writes. What each batch wrote is recorded before
    the next batch is sent, so a process killed mid-pass sends again at most one batch (whose
    inserts then meet their own ids: 409, adopted). A refused token or an exhausted quota,
    on any write, stops the pass at once: what was written is recorded, then the error is
    raised for the bridge to stop or pause the connection (server/sync/engine.py)."""
    report = PushReport()
    with db.read() as session:
        connection = session.get(GoogleConnection, connection_id)
        if connection is None or connection.direction == "from_google":
            return report
        work, positions, settled = plan(session, keyring, connection, now, backfill_limit)
    failed: set[int] = set()
    chunks = [work[start:start + BATCH_LIMIT] for start in range(0, len(work), BATCH_LIMIT)]
    for number, chunk in enumerate(chunks or [[]], 1):
        results = execute(api, chunk, part_attempts) if chunk else {}
        stop = connection_error(results.values())
        with db.write() as session:
            connection = session.get(GoogleConnection, connection_id)
            if connection is None:
                return report
            failed |= record(session, connection, chunk, results, now, report)
            if number == 1:
                item_errors.cleared(session, connection_id, settled)
            if number == max(1, len(chunks)) and stop is None:
                advance(session, connection, positions, failed, report.calendar_errors, now)
        if stop is not None:  # what was written is recorded; the connection stops here
            raise stop
    return report

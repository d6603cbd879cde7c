"""From Google: incremental sync of each Google calendar a connection reads, with sync tokens
(paging; the token saved only after the last page; 410 means a full resync that reconciles
instead of wiping). Repeating events come expanded into instances (singleEvents), cancelled
instances included. This module fetches and parses; the mirrored events are written by the
domain layer (server/domain/mirrored.py). Our own copies are recognised by their private mark
or by their id (another app's full update drops the mark) and never imported; a copy someone
changed or deleted in Google is queued to be written again (the booking system stays the
source of truth), also when only a full resync (410) can tell that it is gone. A failure that concerns one calendar (404,
403) is recorded on its read state while the other calendars go on
(server/google/calendar_errors.py)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.db import Database
from server.db.models import (
    BlockedTime, Booking, Business, GoogleConnection, GoogleCopy, GoogleReadState,
)
from server.domain import mirrored
from server.errors import BookingCalError, ConflictError
from server.domain.timeutil import zone
from server.google import calendar_errors
from server.google.api import GoogleCalendarApi, GoogleError
from server.domain.blocking import BlockingPolicy
from server.google.copies import MARK, is_ours
from server.google.event_ids import event_id as our_event_id

log = logging.getLogger(__name__)
PAGE_SIZE = 2500
STORE_ATTEMPTS = 3  # writes of one calendar's events that collided with another importer
FULL_SYNC_PAST = dt.timedelta(days=30)
# A read state's sync token that asks for a full read of the calendar's whole history, not only
# from FULL_SYNC_PAST on: set after a restore from backup (server/google/restored.py), so that
# the copies of ours written after the backup are found whatever their date.
WHOLE_HISTORY = "whole-history"
UTC = dt.timezone.utc


@dataclass
class PullReport:
    imported: int = 0
    removed: int = 0
    pages: int = 0
    full_syncs: int = 0
    copies_to_restore: int = 0
    unknown_copies: int = 0
    calendars: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # calendars whose read failed on their own


def _instant(when: dict[str, Any], calendar_zone: str) -> tuple[dt.datetime, dt.date | None]:
    if "date" in when:
        day = dt.date.fromisoformat(when["date"])
        tzid = when.get("timeZone") or calendar_zone
        return dt.datetime.combine(day, dt.time(), tzinfo=zone(tzid)).astimezone(UTC), day
    moment = dt.datetime.fromisoformat(when["dateTime"].replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(when.get("timeZone") or calendar_zone))
    return moment.astimezone(UTC), None


def _self_response(event: dict[str, Any]) -> str | None:
    for attendee in event.get("attendees", []):
        if attendee.get("self"):
            return str(attendee.get("responseStatus", "needsAction"))
    return None


class NotIncremental(BookingCalError):
    """A bounded pull (`max_pages`) met a calendar that needs more than a short incremental
    sync: no sync token yet, an expired one, or more pages of changes than allowed."""

    code = "unavailable"


def _fetch(api: GoogleCalendarApi, calendar: str, token: str | None, now: dt.datetime,
           report: PullReport, max_pages: int | None = None, attempts: int | None = None
           ) -> tuple[list[dict[str, Any]], str | None, bool]:
    """(events, next sync token, was full) — restarting as a full sync on 410, unless bounded
    by `max_pages`: then only an incremental sync of at most that many pages is done."""
    whole = token == WHOLE_HISTORY
    if whole:
        token = None
    full = token is None
    if full and max_pages is not None:
        raise NotIncremental("the bridge has not finished its first read of this Google "
                             "calendar")
    events: list[dict[str, Any]] = []
    page: str | None = None
    pages = 0
    while True:
        if max_pages is not None and pages >= max_pages:
            raise NotIncremental(f"more than {max_pages} pages of Google changes; the bridge "
                                 "reads them")
        params: dict[str, Any] = {"calendarId": calendar, "singleEvents": True,
                                  "maxResults": PAGE_SIZE, "showDeleted": not full}
        if page:
            params["pageToken"] = page
        if token:
            params["syncToken"] = token
        elif not whole:
            params["timeMin"] = (now - FULL_SYNC_PAST).isoformat()
        try:
            answer = api.call(api.events().list(**params), attempts=attempts)
        except GoogleError as exc:
            if exc.status == 410 and token and max_pages is not None:
                raise NotIncremental("the Google sync token expired; the bridge reads the "
                                     "calendar again") from exc
            if exc.status == 410 and token:
                log.info("Google sync token of a calendar expired; full resync")
                token, full, events, page = None, True, [], None
                continue
            raise
        report.pages += 1
        pages += 1
        events.extend(answer.get("items", []))
        page = answer.get("nextPageToken")
        if not page:
            return events, answer.get("nextSyncToken"), full


def _parse(event: dict[str, Any], calendar_zone: str) -> mirrored.Change:
    """A Google event (not ours) as the domain layer takes it."""
    event_id = str(event["id"])
    if event.get("status") == "cancelled":
        return mirrored.Tombstone(event_id)
    start, start_date = _instant(event["start"], calendar_zone)
    end, end_date = _instant(event["end"], calendar_zone)
    return mirrored.GoogleEvent(
        event_id=event_id, start_utc=start, end_utc=end, start_date=start_date,
        end_date=end_date, summary=str(event.get("summary", "")),
        recurring_event_id=event.get("recurringEventId"),
        transparency=str(event.get("transparency", "opaque")),
        status=str(event.get("status", "confirmed")),
        event_type=str(event.get("eventType", "default")), self_response=_self_response(event))


def _apply(session: Session, connection: GoogleConnection, calendar: str, calendar_zone: str,
           events: list[dict[str, Any]], full: bool, now: dt.datetime,
           report: PullReport, id_secret: bytes | None) -> int:
    """Hand the events to the domain layer (server/domain/mirrored.py); check our own copies
    among them. Return the longest span (seconds) among the events written. With `id_secret`,
    copies of ours that the database does not know are adopted."""
    ids = sorted({str(event["id"]) for event in events}
                 | {str(event["recurringEventId"]) for event in events
                    if event.get("recurringEventId")})
    copies = {copy.event_id: copy for chunk in mirrored.chunks(ids) for copy in session.execute(
        select(GoogleCopy).where(GoogleCopy.connection_id == connection.id,
                                 GoogleCopy.event_id.in_(chunk))).scalars()}
    changes: list[mirrored.Change] = []
    ours: list[str] = []
    for event in events:
        # Ours by the private mark, or by the id we gave it: another app may have replaced
        # the event without its extendedProperties. Never mirrored, so it never blocks.
        if is_ours(event) or str(event["id"]) in copies \
                or str(event.get("recurringEventId")) in copies:
            ours.append(str(event["id"]))
            copy = copies.get(str(event["id"]))
            if copy is None and id_secret is not None:
                _adopt_unknown_copy(session, connection, calendar, event, report, id_secret)
            else:
                _check_copy(copy, event, report)
        else:
            changes.append(_parse(event, calendar_zone))
    result = mirrored.apply_changes(
        session, business_id=connection.business_id, connection_id=connection.id,
        google_calendar=calendar, changes=changes, full=full,
        policy=BlockingPolicy.of(connection), now=now)
    # One of ours mirrored by mistake before (an older version did so for a copy whose mark
    # another app had dropped) stops blocking now.
    report.removed += mirrored.drop_ours(session, connection.id, calendar, ours)
    if full:
        _reconcile_copies(session, connection, calendar, events, now, report)
    # A tombstone carries only the id: one that was not mirrored may be a copy of ours, deleted.
    for event_id in result.unknown_tombstones:
        _copy_deleted(copies.get(event_id), report)
    report.imported += result.imported
    report.removed += result.removed
    return result.longest_seconds


def _reconcile_copies(session: Session, connection: GoogleConnection, calendar: str,
                      events: list[dict[str, Any]], now: dt.datetime,
                      report: PullReport) -> None:
    """After a full read of `calendar` (which lists no deleted events): every copy we believe
    is there but Google no longer shows, of an item still to come, is queued to be written
    again. Without this, a copy deleted in Google just before the sync token expired would be
    lost for good: its tombstone is never seen."""
    shown = {str(event.get("recurringEventId") or event["id"]) for event in events
             if event.get("status") != "cancelled"}
    for copy in session.execute(select(GoogleCopy).where(
            GoogleCopy.connection_id == connection.id, GoogleCopy.google_calendar == calendar,
            GoogleCopy.deleted.is_(False), GoogleCopy.sent_seq >= 0)).scalars():
        if copy.event_id not in shown and _still_to_come(session, copy, now):
            _requeue(copy, report)


def _still_to_come(session: Session, copy: GoogleCopy, now: dt.datetime) -> bool:
    """Whether the copy's item is live and not over (a full read lists only recent events)."""
    if copy.kind == "booking":
        booking = session.get(Booking, copy.item_id)
        return booking is not None and booking.status == "confirmed" and booking.end_utc > now
    item = session.get(BlockedTime, copy.item_id)
    return item is not None and (item.series_end_utc is None or item.series_end_utc > now)


def _check_copy(copy: GoogleCopy | None, event: dict[str, Any], report: PullReport) -> None:
    """Our copy as Google has it now. If it was edited there (its etag differs from the one
    our last write got back), queue it to be written again."""
    if copy is None or copy.deleted:
        return
    if copy.etag and event.get("etag") and event["etag"] != copy.etag:
        _requeue(copy, report)


def _adopt_unknown_copy(session: Session, connection: GoogleConnection, calendar: str,
                        event: dict[str, Any], report: PullReport, id_secret: bytes) -> None:
    """A copy this connection wrote that the database does not know: written after the backup
    the database was restored from (or recorded by a process that died right after writing).
    Its id proves it ours; adopted, the next push rewrites it or, if its item is gone, deletes
    it. Copies of other connections or installations (same mark, other ids) stay untouched."""
    if event.get("status") == "cancelled":
        return
    kind, _, item = str(event.get("extendedProperties", {}).get("private", {}).get(MARK, "")
                        ).partition(":")
    if kind not in ("booking", "blocked") or not item.isdigit() or len(item) > 18:
        return
    if our_event_id(id_secret, connection.id, kind, int(item)) != str(event["id"]):
        return
    if session.execute(select(GoogleCopy.id).where(
            GoogleCopy.connection_id == connection.id, GoogleCopy.kind == kind,
            GoogleCopy.item_id == int(item))).first() is not None:
        return
    session.add(GoogleCopy(connection_id=connection.id, kind=kind, item_id=int(item),
                           calendar_id=0, google_calendar=calendar, event_id=str(event["id"]),
                           sent_seq=-1, sent_version=0, etag=event.get("etag"), deleted=False,
                           restored_count=0))
    report.unknown_copies += 1


def _copy_deleted(copy: GoogleCopy | None, report: PullReport) -> None:
    if copy is not None and not copy.deleted:
        _requeue(copy, report)


def _requeue(copy: GoogleCopy, report: PullReport) -> None:
    copy.sent_seq = -1  # the next push writes it again, which also restores a deleted copy
    copy.restored_count += 1
    report.copies_to_restore += 1


def pull(db: Database, api: GoogleCalendarApi, connection_id: int,
         now: dt.datetime, only: str | None = None, id_secret: bytes | None = None,
         max_pages: int | None = None, attempts: int | None = None) -> PullReport:
    """One pass over every Google calendar the connection reads (or only the one named). With
    `id_secret` (the key of our event ids, see push.id_secret), copies unknown to the database
    are adopted. With `max_pages`, only a short incremental sync is done (else NotIncremental):
    full reads, with their reconciliation and adoption, are left to the bridge. `attempts`
    bounds the calls per list request (default: the adapter's retries)."""
    report = PullReport()
    with db.read() as session:
        connection = session.get(GoogleConnection, connection_id)
        if connection is None:
            return report
        query = select(GoogleReadState).where(GoogleReadState.connection_id == connection_id)
        if only is not None:
            query = query.where(GoogleReadState.google_calendar == only)
        reads = [(state.id, state.google_calendar, state.sync_token) for state in
                 session.execute(query).scalars()]
        business = session.get(Business, connection.business_id)
        business_zone = business.timezone if business is not None else "UTC"
    if only is None:
        with db.write() as session:  # before fetching: a notification during the fetch counts
            session.execute(update(GoogleReadState).where(
                GoogleReadState.connection_id == connection_id).values(pull_requested=False))
    for state_id, calendar, token in reads:
        try:
            events, next_token, full = _fetch(api, calendar, token, now, report, max_pages,
                                              attempts)
        except GoogleError as exc:
            if not calendar_errors.specific(exc):
                raise
            _calendar_failed(db, state_id, calendar_errors.describe(exc, calendar,
                                                                    writing=False), now)
            report.failed.append(calendar)
            continue
        if full:
            report.full_syncs += 1
        if not _store(db, connection_id, state_id, calendar, business_zone, events, full,
                      next_token, now, report, id_secret):
            return report
        report.calendars.append(calendar)
    return report


def _store(db: Database, connection_id: int, state_id: int, calendar: str, business_zone: str,
           events: list[dict[str, Any]], full: bool, next_token: str | None, now: dt.datetime,
           report: PullReport, id_secret: bytes | None) -> bool:
    """Write one calendar's fetched events and its new sync token in one transaction; False if
    the connection or the read state is gone. Two processes importing the same new event at
    once (the bridge and an online booking's freshness sync, or two bridges) collide on its
    unique key on PostgreSQL: the loser's transaction runs again and updates the winner's
    rows, so the import is idempotent instead of failing."""
    for attempt in range(1, STORE_ATTEMPTS + 1):
        part = PullReport()
        try:
            with db.write() as session:
                connection = session.get(GoogleConnection, connection_id)
                state = session.get(GoogleReadState, state_id)
                if connection is None or state is None:
                    return False
                longest = _apply(session, connection, calendar, business_zone, events, full,
                                 now, part, id_secret)
                state.max_span_seconds = max(state.max_span_seconds or 0, longest)
                state.sync_token = next_token
                state.synced_at = now
                state.last_error = state.last_error_at = None
                connection.last_sync_at = now
        except ConflictError:
            if attempt == STORE_ATTEMPTS:
                raise
            log.info("Google events imported by another process at the same time; "
                     "writing them again")
            continue
        report.imported += part.imported
        report.removed += part.removed
        report.copies_to_restore += part.copies_to_restore
        report.unknown_copies += part.unknown_copies
        return True
    return False


def _calendar_failed(db: Database, state_id: int, error: str, now: dt.datetime) -> None:
    log.warning("Google calendar read failed: %s", error)
    with db.write() as session:
        state = session.get(GoogleReadState, state_id)
        if state is not None:
            state.last_error, state.last_error_at = error, now

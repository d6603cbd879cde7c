"""Writing to Google Calendar, the Google half of the engine's writing (server/sync/writing.py):
our copies as Google events (server/google/copies.py) with deterministic event ids, sent in
batches of at most 50. Inserts can never duplicate (409: the event exists; we write over it,
restoring it if it was deleted). Existing copies are written with a full update, which also
restores a copy someone deleted in Google (404/410: inserted again). Deletes count 404/410 as
done."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

from server.db import Database
from server.google import calendar_errors
from server.google.api import (
    BATCH_LIMIT, CallResult, GoogleCalendarApi, GoogleError, connection_error,
)
from server.google.copies import event_body
from server.google.event_ids import event_id
from server.keys import Keyring
from server.redaction import EventView
from server.sync.errors import SyncError
from server.sync.tables import GOOGLE, Tables
from server.sync.writing import Write, WriteReport, WriteResult, write

__all__ = ["GoogleWriter", "PushReport", "id_secret", "push"]
PushReport = WriteReport


def id_secret(keyring: Keyring) -> bytes:
    """The per-installation key of our event ids, derived from the token-hashing key."""
    return hmac.new(keyring.hash_key, b"google-event-ids", hashlib.sha256).digest()


def _result(answer: CallResult) -> WriteResult:
    if answer.error is not None:
        return WriteResult(error=answer.error)
    return WriteResult(etag=str((answer.response or {}).get("etag", "")) or None)


class GoogleWriter:
    """The writing half of the Google adapter (server/sync/writing.py's Writer)."""

    batch_limit = BATCH_LIMIT
    tables: Tables = GOOGLE

    def copy_id(self, secret: bytes, connection: Any, kind: str, item_id: int) -> str:
        """Our deterministic Google event id (server/google/event_ids.py)."""
        return event_id(secret, connection.id, kind, item_id)

    def copy_body(self, view: EventView, *, remote_id: str, item_ref: str, copy_version: int,
                  reminders: bool) -> dict[str, Any]:
        """The Google event of our copy (server/google/copies.py)."""
        return event_body(view, event_id=remote_id, item_ref=item_ref,
                          copy_version=copy_version, reminders=reminders)

    def describe(self, error: SyncError, calendar: str, *, writing: bool) -> str:
        """What went wrong with one Google calendar (server/google/calendar_errors.py)."""
        return calendar_errors.describe(error, calendar, writing=writing)

    def write_batch(self, client: GoogleCalendarApi, writes: list[Write],
                    attempts: int | None) -> dict[tuple[str, int], WriteResult]:
        """Send the writes in one batch; resolve 404/409/410 by the rules of this module."""
        events = client.events()
        calls = {}
        for item in writes:
            key = f"{item.kind}-{item.item_id}"
            if item.body is None:
                calls[key] = events.delete(calendarId=item.remote_calendar,
                                           eventId=item.remote_id, sendUpdates="none")
            elif not item.exists or item.copy_deleted:
                calls[key] = events.insert(calendarId=item.remote_calendar, body=item.body,
                                           sendUpdates="none")
            else:
                calls[key] = events.update(calendarId=item.remote_calendar,
                                           eventId=item.remote_id, body=item.body,
                                           sendUpdates="none")
        answers = client.batch(calls, part_attempts=attempts)
        results: dict[tuple[str, int], WriteResult] = {}
        for item in writes:
            result = answers[f"{item.kind}-{item.item_id}"]
            error = result.error
            if error is not None and item.body is None and error.status in (404, 410):
                result = CallResult(response={})  # already gone: done
            elif error is not None and item.body is not None \
                    and error.status in (404, 409, 410) \
                    and connection_error(answers.values()) is None:
                result = _resolve(client, item, error)
            results[(item.kind, item.item_id)] = _result(result)
        return results


def _resolve(api: GoogleCalendarApi, item: Write, error: GoogleError) -> CallResult:
    """409 on insert: the id exists (a retried insert, or a deleted copy): write over it, which
    also restores it. 404/410 on update: the copy was removed; insert (or restore) it."""
    assert item.body is not None
    events = api.events()
    identifier = str(item.body["id"])
    try:
        if error.status == 409 or error.status == 410:
            return CallResult(response=api.call(events.update(
                calendarId=item.remote_calendar, eventId=identifier, body=item.body,
                sendUpdates="none")))
        return CallResult(response=api.call(events.insert(
            calendarId=item.remote_calendar, body=item.body, sendUpdates="none")))
    except GoogleError as second:
        if second.status == 409:
            try:
                return CallResult(response=api.call(events.update(
                    calendarId=item.remote_calendar, eventId=identifier, body=item.body,
                    sendUpdates="none")))
            except GoogleError as third:
                return CallResult(error=third)
        return CallResult(error=second)


WRITER = GoogleWriter()


def push(db: Database, keyring: Keyring, api: GoogleCalendarApi, connection_id: int,
         now: dt.datetime, backfill_limit: int | None = None,
         part_attempts: int | None = None, business_id: int | None = None) -> WriteReport:
    """One write pass to the connection's Google calendars through the engine
    (server/sync/writing.write, which explains the guarantees)."""
    return write(db, WRITER, api, id_secret(keyring), connection_id, now, backfill_limit,
                 part_attempts, business_id=business_id)

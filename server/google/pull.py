"""Reading Google Calendar, the Google half of the engine's reading (server/sync/reading.py):
one page of a calendar's changes since its sync token (`events.list` with `syncToken`, repeating
events expanded into instances with `singleEvents`, cancelled ones included; a full read from a
date on, without deleted events), a 410 turned into the engine's CursorExpiredError, and each
event parsed into the engine's terms: our copies by their private mark, everything else into the
mirror's vocabulary (server/domain/blocking.py), which is Google's own."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from server.config import AvailabilityConfig
from server.db import Database
from server.domain import mirrored
from server.domain.timeutil import zone as tz
from server.google import calendar_errors
from server.google.api import GoogleCalendarApi, GoogleError
from server.google.copies import MARK
from server.google.event_ids import event_id as our_event_id
from server.sync.errors import CursorExpiredError, SyncError
from server.sync.provider import FormerIds, Page, RemoteItem, no_former_ids
from server.sync.tables import GOOGLE, Tables
from server.sync.reading import FULL_SYNC_PAST, WHOLE_HISTORY, NotIncremental, ReadReport, read

__all__ = ["FULL_SYNC_PAST", "PAGE_SIZE", "WHOLE_HISTORY", "GoogleLister", "NotIncremental",
           "PullReport", "pull"]
PAGE_SIZE = 2500
UTC = dt.timezone.utc
PullReport = ReadReport


def _instant(when: dict[str, Any], calendar_zone: str) -> tuple[dt.datetime, dt.date | None]:
    if "date" in when:
        day = dt.date.fromisoformat(when["date"])
        tzid = when.get("timeZone") or calendar_zone
        return dt.datetime.combine(day, dt.time(), tzinfo=tz(tzid)).astimezone(UTC), day
    moment = dt.datetime.fromisoformat(when["dateTime"].replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz(when.get("timeZone") or calendar_zone))
    return moment.astimezone(UTC), None


def _self_response(event: dict[str, Any]) -> str | None:
    for attendee in event.get("attendees", []):
        if attendee.get("self"):
            return str(attendee.get("responseStatus", "needsAction"))
    return None


def _parse(event: dict[str, Any], calendar_zone: str) -> mirrored.Change:
    """A Google event as the domain layer takes it (ours too: an edit of our copy may be
    applied, server/domain/calendar_edits.py)."""
    event_id = str(event["id"])
    if event.get("status") == "cancelled":
        return mirrored.Tombstone(event_id)
    start, start_date = _instant(event["start"], calendar_zone)
    end, end_date = _instant(event["end"], calendar_zone)
    return mirrored.RemoteEvent(
        event_id=event_id, start_utc=start, end_utc=end, start_date=start_date,
        end_date=end_date, summary=str(event.get("summary", "")),
        recurring_event_id=event.get("recurringEventId"),
        transparency=str(event.get("transparency", "opaque")),
        status=str(event.get("status", "confirmed")),
        event_type=str(event.get("eventType", "default")), self_response=_self_response(event))


def item(event: dict[str, Any], calendar_zone: str) -> RemoteItem:
    """A listed Google event in the engine's terms."""
    private = event.get("extendedProperties", {}).get("private", {})
    tag = str(private[MARK]) if MARK in private else None
    series = event.get("recurringEventId")
    return RemoteItem(remote_id=str(event["id"]), series_id=str(series) if series else None,
                      etag=event.get("etag"), cancelled=event.get("status") == "cancelled",
                      tag=tag, change=_parse(event, calendar_zone))


class GoogleLister:
    """The reading half of the Google adapter (server/sync/reading.py's Lister)."""

    label = "Google"
    tables: Tables = GOOGLE

    def list_page(self, client: GoogleCalendarApi, calendar: str, *, cursor: str | None,
                  page: str | None, since: dt.datetime | None, zone: str,
                  attempts: int | None) -> Page:
        """One `events.list` page; a refused sync token raises CursorExpiredError."""
        params: dict[str, Any] = {"calendarId": calendar, "singleEvents": True,
                                  "maxResults": PAGE_SIZE, "showDeleted": cursor is not None}
        if page:
            params["pageToken"] = page
        if cursor:
            params["syncToken"] = cursor
        elif since is not None:
            params["timeMin"] = since.isoformat()
        try:
            answer = client.call(client.events().list(**params), attempts=attempts)
        except GoogleError as exc:
            if exc.status == 410 and cursor:
                raise CursorExpiredError(exc.message, exc.status, exc.reason) from exc
            raise
        return Page(items=[item(event, zone) for event in answer.get("items", [])],
                    next_page=answer.get("nextPageToken"), cursor=answer.get("nextSyncToken"))

    def copy_id(self, secret: bytes, connection: Any, kind: str, item_id: int) -> str:
        """Our deterministic Google event id (server/google/event_ids.py)."""
        return our_event_id(secret, connection.id, kind, item_id)

    def former_copy_ids(self, session: Session, secret: bytes, connection: Any) -> FormerIds:
        """No former naming scheme."""
        return no_former_ids

    def describe(self, error: SyncError, calendar: str, *, writing: bool) -> str:
        """What went wrong with one Google calendar (server/google/calendar_errors.py)."""
        return calendar_errors.describe(error, calendar, writing=writing)


LISTER = GoogleLister()


def pull(db: Database, api: GoogleCalendarApi, connection_id: int,
         now: dt.datetime, *, rules: AvailabilityConfig, only: str | None = None,
         id_secret: bytes | None = None, max_pages: int | None = None,
         attempts: int | None = None, business_id: int | None = None) -> ReadReport:
    """Read the connection's Google calendars (or only the one named) through the engine
    (server/sync/reading.read, which explains the arguments)."""
    return read(db, LISTER, api, connection_id, now, rules=rules, only=only,
                id_secret=id_secret, max_pages=max_pages, attempts=attempts,
                business_id=business_id)

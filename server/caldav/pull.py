"""Reading a CalDAV calendar for the engine (server/sync/reading.py's Lister).

With sync-collection (RFC 6578) the cursor is the server's sync token: a read asks what changed
since it (one small REPORT when nothing did) and fetches the changed resources by
calendar-multiget. A server that refuses a token (Baikal answers 403, others 409 or 410, or
400) makes the engine read again in full (CursorExpiredError). A server without sync-collection
is polled: one PROPFIND of the collection's ctag first, and only when it moved, a listing of
every resource's ETag compared with the last one (kept in the cursor), the changed ones
fetched. Repeating events are expanded over a fixed window chosen at the full read (from
`since`, to WINDOW_AHEAD ahead); once the rolling window has moved RENEW_AFTER past that end,
the cursor counts as expired and a full read with a new window reconciles (as for Outlook).

A resource is listed whole: a `Series` change first (its occurrences mirrored before go unless
listed again), then its occurrences (server/caldav/events.py); a deleted resource is the
`Series` change alone; our copies (marked) are listed with their tag only."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any, Callable

from sqlalchemy.orm import Session

from server.caldav import copies, dav, events, former_rows
from server.caldav.client import CalDAVClient
from server.domain import mirrored
from server.sync.errors import CursorExpiredError, SyncError
from server.sync.provider import FormerIds, Page, RemoteItem

log = logging.getLogger(__name__)
UTC = dt.timezone.utc
WINDOW_AHEAD = dt.timedelta(days=400)
WINDOW_BEHIND_WHOLE = dt.timedelta(days=730)
RENEW_AFTER = dt.timedelta(days=35)
VERSION = "v1"
SYNC = "sync"
POLL = "poll"
REFUSED_TOKEN = (400, 403, 409, 410, 412, 507)
NO_SYNC_COLLECTION = (400, 403, 404, 405, 415, 501)


def encode_cursor(window_end: dt.datetime, mode: str, state: str) -> str:
    return f"{VERSION}|{window_end.astimezone(UTC).isoformat()}|{mode}|{state}"


def decode_cursor(cursor: str) -> tuple[dt.datetime, str, str] | None:
    parts = cursor.split("|", 3)
    if len(parts) != 4 or parts[0] != VERSION or parts[2] not in (SYNC, POLL):
        return None
    try:
        return dt.datetime.fromisoformat(parts[1]), parts[2], parts[3]
    except ValueError:
        return None


def _poll_state(ctag: str | None, etags: dict[str, str]) -> str:
    return json.dumps({"ctag": ctag, "etags": etags}, separators=(",", ":"), sort_keys=True)


def _read_poll_state(state: str) -> tuple[str | None, dict[str, str]] | None:
    try:
        found = json.loads(state)
        return found.get("ctag"), {str(k): str(v) for k, v in found["etags"].items()}
    except (ValueError, KeyError, AttributeError, TypeError):
        return None


class CalDAVLister:
    """The reading half of the CalDAV adapter."""

    label = "CalDAV"
    now: Callable[[], dt.datetime]

    def list_page(self, client: CalDAVClient, calendar: str, *, cursor: str | None,
                  page: str | None, since: dt.datetime | None, zone: str,
                  attempts: int | None) -> Page:
        """Every change of one calendar since `cursor` (see the module's docstring); one
        page: the changed resources are fetched MULTIGET_CHUNK at a time."""
        now = self.now()
        if cursor is None:
            start = since if since is not None else now - WINDOW_BEHIND_WHOLE
            return self._full(client, calendar, start, now + WINDOW_AHEAD, zone, attempts)
        decoded = decode_cursor(cursor)
        if decoded is None or decoded[0] - now < WINDOW_AHEAD - RENEW_AFTER:
            raise CursorExpiredError("the CalDAV read window moved on; reading again", 410,
                                     "windowRenewal")
        window_end, mode, state = decoded
        start = since if since is not None else now - WINDOW_BEHIND_WHOLE
        if mode == SYNC:
            try:
                entries, token = dav.sync_collection(client, calendar, state, attempts)
            except SyncError as exc:
                if exc.status in REFUSED_TOKEN:
                    raise CursorExpiredError("the CalDAV server refused the sync token; "
                                             "reading the calendar again", exc.status,
                                             exc.reason) from None
                raise
            if token is None:
                raise CursorExpiredError("the CalDAV server gave no new sync token", 410,
                                         "noToken")
            items = self._items(client, calendar, entries, start, window_end, zone, attempts)
            return Page(items=items, cursor=encode_cursor(window_end, SYNC, token))
        known = _read_poll_state(state)
        if known is None:
            raise CursorExpiredError("unreadable CalDAV polling state", 410, "badCursor")
        ctag, etags = known
        new_ctag = dav.collection_tag(client, calendar, attempts)
        if ctag is not None and new_ctag == ctag:
            return Page(items=[], cursor=cursor)  # nothing changed: one request
        listing = {e.name: e.etag or "" for e in dav.etag_listing(client, calendar, attempts)}
        changed = [dav.Entry(name, etag) for name, etag in listing.items()
                   if etags.get(name) != etag]
        gone = [dav.Entry(name, None) for name in etags if name not in listing]
        items = self._items(client, calendar, changed + gone, start, window_end, zone,
                            attempts)
        return Page(items=items, cursor=encode_cursor(window_end, POLL,
                                                      _poll_state(new_ctag, listing)))

    def _full(self, client: CalDAVClient, calendar: str, start: dt.datetime,
              window_end: dt.datetime, zone: str, attempts: int | None) -> Page:
        """Everything the calendar holds, by sync-collection when the server has it, else by
        an ETag listing (which the next reads compare with)."""
        try:
            entries, token = dav.sync_collection(client, calendar, "", attempts)
        except SyncError as exc:
            if exc.status not in NO_SYNC_COLLECTION:
                raise
            log.info("a CalDAV server has no sync-collection (%s); polling ETags instead",
                     exc.status)
            token = None
        if token is not None:
            entries = [e for e in entries if e.etag is not None]
            items = self._items(client, calendar, entries, start, window_end, zone, attempts)
            return Page(items=items, cursor=encode_cursor(window_end, SYNC, token))
        ctag = dav.collection_tag(client, calendar, attempts)
        entries = dav.etag_listing(client, calendar, attempts)
        items = self._items(client, calendar, entries, start, window_end, zone, attempts)
        return Page(items=items, cursor=encode_cursor(
            window_end, POLL, _poll_state(ctag, {e.name: e.etag or "" for e in entries})))

    def _items(self, client: CalDAVClient, calendar: str, entries: list[dav.Entry],
               start: dt.datetime, end: dt.datetime, zone: str,
               attempts: int | None) -> list[RemoteItem]:
        """The engine's items of the listed resources: the live ones fetched and parsed."""
        items: list[RemoteItem] = []
        for entry in entries:  # our copies: their ETag says all (no fetch)
            tag = copies.tag_of_name(entry.name)
            if tag is not None:
                items.append(RemoteItem(remote_id=entry.name, etag=entry.etag or None, tag=tag,
                                        cancelled=entry.etag is None,
                                        copy_key=copies.base_name(entry.name)))
        entries = [entry for entry in entries if copies.tag_of_name(entry.name) is None]
        live = [entry.name for entry in entries if entry.etag is not None]
        fetched = {e.name: e for e in dav.multiget(client, calendar, live, attempts)} \
            if live else {}
        for entry in entries:
            found = fetched.get(entry.name) if entry.etag is not None else None
            if found is None or found.etag is None or found.data is None:
                items.append(RemoteItem(remote_id=entry.name, cancelled=True,
                                        change=mirrored.Series(entry.name)))
                continue
            parsed = events.parse(entry.name, found.data, zone=zone, start=start, end=end,
                                  owner=client.addresses)
            if parsed.tag is not None:  # ours under a name we did not give: its UID tells
                items.append(RemoteItem(remote_id=entry.name, etag=found.etag, tag=parsed.tag,
                                        copy_key=copies.key_of_uid(parsed.uid)))
                continue
            items.append(RemoteItem(remote_id=entry.name, etag=found.etag,
                                    change=mirrored.Series(entry.name)))
            for event in parsed.events:
                items.append(RemoteItem(remote_id=event.event_id,
                                        series_id=event.recurring_event_id, change=event))
        return items

    def copy_id(self, secret: bytes, connection: Any, kind: str, item_id: int) -> str:
        """The deterministic resource name of our copy: keyed by the account in the business,
        so that an account connected again finds the copies it kept."""
        return copies.copy_name(secret, copies.owner_key(connection.business_id,
                                                         connection.username), kind, item_id)

    def former_copy_ids(self, session: Session, secret: bytes, connection: Any) -> FormerIds:
        """The names a copy had under the former scheme (keyed by the connection's row): keyed
        by this connection's row (a restore) or by a row the account had before it was
        disconnected and connected again (server/caldav/former_rows.py, loaded here once). A
        copy so named, which the database does not know, is the account's too."""
        rows = former_rows.rows_of(session, secret, connection)

        def names(kind: str, item_id: int) -> list[str]:
            return [copies.former_copy_name(secret, row, kind, item_id) for row in rows]
        return names

    def describe(self, error: SyncError, calendar: str, *, writing: bool) -> str:
        """What went wrong with one CalDAV calendar, and what to change."""
        doing = "writing to" if writing else "reading"
        if error.status == 404:
            return (f"{doing} the CalDAV calendar {calendar} failed: it no longer exists; "
                    "choose another calendar for this employee")
        if error.status == 403 and writing:
            return (f"writing to the CalDAV calendar {calendar} failed: this calendar is "
                    "read-only for the account (a subscribed or shared calendar?); choose a "
                    "calendar the account owns, or set the direction to read only")
        if error.status == 403:
            return (f"reading the CalDAV calendar {calendar} failed: the account may not "
                    "read it; choose a calendar the account owns")
        return f"{doing} the CalDAV calendar {calendar} failed: {error.message}"

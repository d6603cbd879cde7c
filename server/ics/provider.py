"""The ICS adapter of the sync engine (server/sync/provider.py): a subscribed ICS URL as a
read-only busy source. Each source (`ics_sources`) is a connection with one remote calendar
("feed"); the engine's leases, backoff, health, mirror writes (server/domain/mirrored.py, the
blocking policy) and explain view work as for Google and Microsoft.

A read is one conditional GET (server/ics/fetch.py). 304, or a body whose digest is the one
read last, changes nothing. A changed body under a cursor raises CursorExpiredError; the
engine then asks for a full read, which is answered from that same body (kept on the client,
no second request) and reconciles the mirror: what the feed no longer has stops blocking. A
new day re-expands the repeating events the same way (the window moves). A fetch that fails
leaves the mirrored events as they were: a transient failure backs the source off and is shown
on it, any other is recorded on its read state; both show the source as stale.

Each source is fetched when its `next_poll_at` has come (set after every read: the source's own
interval, else the feed's REFRESH-INTERVAL / X-PUBLISHED-TTL, else ics.default_interval_seconds,
always within ics.min/max_interval_seconds), or at once when a refresh was asked for."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import ssl
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session

from server.config import IcsConfig
from server.db.models import Calendar, IcsReadState, IcsSource
from server.db.scope import get_of, of_connection
from server.ics import parse
from server.ics.cursor import Cursor
from server.ics.fetch import FetchError, Fetched, fetch, host_of
from server.ics.intervals import interval
from server.redaction import EventView
from server.runtime import Runtime
from server.sync import health
from server.sync import workable as sync_workable
from server.sync.errors import CALENDAR, CursorExpiredError, RetryableError, SyncError
from server.sync.provider import ConnectionView, FormerIds, Page, RemoteItem, no_former_ids
from server.sync.reading import FULL_SYNC_PAST, WHOLE_HISTORY
from server.sync.tables import ICS, Tables
from server.sync.writing import Write, WriteResult

log = logging.getLogger(__name__)
FEED = "feed"  # the one remote calendar of a source


@dataclass
class IcsClient:
    """One source's client: its URL (a secret: never logged) and what the last fetch left for
    the next call (a changed body to read in full, the feed's refresh interval)."""

    url: str = field(repr=False)
    pending: dict[str, Fetched] = field(default_factory=dict)
    refresh_seconds: int | None = None
    requests: int = 0  # HTTP requests made (the bench counts them)


@dataclass
class IcsProvider:
    """The adapter for every ICS source of one runtime."""

    runtime: Runtime
    tls: ssl.SSLContext | None = None  # tests: a context trusting their certificate
    name: str = "ics"
    label: str = "ICS"
    connections: type[IcsSource] = IcsSource
    tables: Tables = ICS
    limits: IcsConfig | None = None  # the fetch limits, when not ics's (a live check's)

    @property
    def poll_interval(self) -> dt.timedelta:
        return dt.timedelta(0)  # each source's next_poll_at decides (workable)

    def poll_intervals(self, session: Session) -> dict[int, dt.timedelta]:
        return {}  # every connection on poll_interval

    @property
    def backfill_per_minute(self) -> int:
        return 1  # nothing is ever written

    @property
    def batch_limit(self) -> int:
        return 1

    @property
    def copy_secret(self) -> bytes:
        return b""

    def connection(self, session: Session, connection_id: int, *,
                   business_id: int) -> ConnectionView | None:
        row = get_of(session, IcsSource, business_id, connection_id)
        if row is None or row.status == health.NEEDS_RECONNECT:
            return None
        notified = session.execute(select(IcsReadState.id).where(
            of_connection(IcsReadState, row),
            IcsReadState.pull_requested.is_(True))).first() is not None
        return ConnectionView(id=connection_id,
                              credentials=self.runtime.keyring.decrypt(row.url_encrypted),
                              reads=True, writes=False, notified=notified)

    lists_due: bool = True  # its sources' next fetch is stored (next_poll_at, indexed)

    def workable(self, session: Session, now: dt.datetime,
                 only: Collection[int] | None = None) -> list[int]:
        """Sources whose fetch is due (or asked for), not paused, of calendars not deleted:
        one indexed query (of `only`, when given)."""
        asked = exists().where(IcsReadState.connection_id == IcsSource.id,
                               IcsReadState.pull_requested.is_(True))
        return list(session.execute(select(IcsSource.id).join(
            Calendar, Calendar.id == IcsSource.calendar_id).where(
            Calendar.deleted_at.is_(None),
            IcsSource.status != health.NEEDS_RECONNECT,
            or_(IcsSource.paused_until.is_(None), IcsSource.paused_until <= now),
            or_(IcsSource.next_poll_at.is_(None), IcsSource.next_poll_at <= now, asked),
            *([] if only is None else [IcsSource.id.in_(sorted(only))]))
            .order_by(IcsSource.id)).scalars())

    def wanted(self, session: Session, now: dt.datetime,
               only: Collection[int] | None = None) -> set[int]:
        """Sources asked to be fetched now (nothing is ever sent)."""
        return sync_workable.asked(ICS, session, only)

    def client(self, credentials: str) -> IcsClient:
        return IcsClient(credentials)

    def _get(self, client: IcsClient, cursor: Cursor | None, attempts: int | None) -> Fetched:
        settings = self.limits or self.runtime.config.ics
        tries = max(1, attempts or 2)
        for attempt in range(1, tries + 1):
            try:
                fetched = fetch(client.url, settings, tls=self.tls,
                                etag=cursor.etag if cursor else None,
                                last_modified=cursor.last_modified if cursor else None)
                client.requests += fetched.requests
                return fetched
            except FetchError as exc:
                client.requests += 1
                if exc.transient and attempt < tries:
                    continue
                log.info("ICS fetch from %s failed: %s", host_of(client.url), exc.message)
                if exc.transient:
                    raise RetryableError(exc.message, exc.status,
                                         retry_after=exc.retry_after) from None
                raise SyncError(exc.message, exc.status, scope=CALENDAR) from None
        raise AssertionError("unreachable")

    def list_page(self, client: IcsClient, calendar: str, *, cursor: str | None,
                  page: str | None, since: dt.datetime | None, zone: str,
                  attempts: int | None) -> Page:
        """The whole feed as one page (see the module's docstring)."""
        now = self.runtime.clock.now()
        today = now.date().isoformat()
        saved = Cursor.load(cursor) if cursor != WHOLE_HISTORY else None
        if saved is not None and saved.day != today:
            raise CursorExpiredError("the repeating events are expanded again for a new day")
        pending = client.pending.pop(calendar, None)
        fetched = pending if saved is None and pending is not None else self._get(
            client, saved, attempts)
        if fetched.status == 304:
            if saved is None:
                raise SyncError(f"{fetched.host} answered 304 to an unconditional request",
                                304, scope=CALENDAR)
            return Page([], cursor=cursor)
        digest = hashlib.sha256(fetched.body).hexdigest()
        if saved is not None:
            if digest == saved.digest:
                return Page([], cursor=Cursor(fetched.etag, fetched.last_modified, digest,
                                              saved.day, saved.truncated).dump())
            client.pending[calendar] = fetched
            raise CursorExpiredError("the feed changed; it is read in full")
        settings = self.runtime.config.ics
        try:
            feed = parse.read(fetched.body, tzid=zone, start=since or now - FULL_SYNC_PAST,
                              end=now + dt.timedelta(days=settings.horizon_days),
                              max_instances=settings.max_instances)
        except parse.FeedError as exc:
            raise SyncError(f"{fetched.host}: {exc}", scope=CALENDAR) from None
        client.refresh_seconds = feed.refresh_seconds
        if feed.truncated:
            log.info("ICS feed from %s has more occurrences than allowed; %d kept",
                     fetched.host, len(feed.events))
        items = [RemoteItem(remote_id=event.event_id, series_id=event.recurring_event_id,
                            change=event) for event in feed.events]
        return Page(items, cursor=Cursor(fetched.etag, fetched.last_modified, digest, today,
                                         feed.truncated).dump())

    def copy_id(self, secret: bytes, connection: Any, kind: str, item_id: int) -> str:
        return ""  # nothing of ours is ever in a feed we read

    def former_copy_ids(self, session: Session, secret: bytes, connection: Any) -> FormerIds:
        """No former naming scheme."""
        return no_former_ids

    def describe(self, error: SyncError, calendar: str, *, writing: bool) -> str:
        return error.message

    def subscribe(self, client: IcsClient, connection_id: int, now: dt.datetime, *,
                  business_id: int) -> int:
        """After a read: schedule the source's next fetch (no push exists for ICS)."""
        settings = self.runtime.config.ics
        with self.runtime.db.write() as session:
            row = get_of(session, IcsSource, business_id, connection_id)
            if row is None:
                return 0
            if client.refresh_seconds is not None:
                row.feed_interval_seconds = client.refresh_seconds
            row.next_poll_at = now + interval(settings, row.interval_seconds,
                                              row.feed_interval_seconds)
        return 0

    def copy_body(self, view: EventView, *, remote_id: str, item_ref: str, copy_version: int,
                  reminders: bool) -> Any:
        raise NotImplementedError("an ICS source is read only")

    def write_batch(self, client: IcsClient, writes: list[Write], attempts: int | None
                    ) -> dict[tuple[str, int], WriteResult]:
        return {}  # never called: connection().writes is False

    def reconcile_epoch(self, session: Session) -> None:
        """After a restore: every feed read again in full (nothing was written)."""
        session.execute(update(IcsReadState).values(sync_token=WHOLE_HISTORY))

"""The contract between the sync engine and a provider adapter (see README.md here).

An adapter is one object per provider, registered with the engine (server/gcal_bridge.py).
The engine calls it only through this Protocol; everything that is the same for every provider
(leases, backoff, health, restore epochs, wake-ups, the pass loop) stays in the engine."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from collections.abc import Collection
from typing import Any, Callable, Protocol

from sqlalchemy.orm import Session

from server.domain import mirrored
from server.redaction import EventView
from server.sync.errors import SyncError
from server.sync.tables import Tables
from server.sync.writing import Write, WriteResult


# (kind, item id) -> the ids our copy of that item had under former naming schemes.
FormerIds = Callable[[str, int], list[str]]


def no_former_ids(kind: str, item_id: int) -> list[str]:
    """The FormerIds of a provider without a former naming scheme."""
    return []


@dataclass(frozen=True)
class ConnectionView:
    """What the engine needs to know of a connection at the start of a pass."""

    id: int
    credentials: str = field(repr=False)  # the provider's secret (a refresh token): never logged
    reads: bool  # it reads at least one remote calendar
    writes: bool  # it sends our changes to the provider
    notified: bool = False  # a push notification asked for a read
    # Its own time between reads (a CalDAV account's setting); None: the provider's.
    poll_interval: dt.timedelta | None = None


@dataclass(frozen=True)
class RemoteItem:
    """One listed event in the engine's terms."""

    remote_id: str
    series_id: str | None = None  # the repeating event's id, for an instance of one
    etag: str | None = None
    cancelled: bool = False  # deleted or cancelled (an incremental read lists them)
    tag: str | None = None  # our mark's item reference ("booking:7") when it carries one
    # The deterministic id our copy was created with, when the provider chose the remote id
    # (Microsoft: the transactionId kept in the copy); None: the remote id is ours (Google).
    copy_key: str | None = None
    change: mirrored.Change | None = None  # the mirror's view (Google: ours too; Microsoft: not)


@dataclass(frozen=True)
class Page:
    """One page of a calendar's changes; the new cursor comes with the last page only."""

    items: list[RemoteItem]
    next_page: str | None = None
    cursor: str | None = None


class Provider(Protocol):
    """A provider adapter. Its calls fail only with `SyncError`s (server/sync/errors.py):
    `ReconnectError` and `PauseError` stop the connection, `RetryableError` backs off the side
    that failed, others concern one calendar or one item (`scope_of`), which the engine records
    while the rest goes on; `write_batch` returns per-item errors instead of raising. Each
    call is idempotent: a process killed at any point, run again, converges without
    duplicates."""

    name: str  # "google"; the key of its registration and of its restore epoch
    label: str  # "Google", for messages
    connections: type[Any]  # the connection table: leases and health live on its rows
    tables: Tables  # every bookkeeping table of the provider (server/sync/tables.py)

    @property
    def poll_interval(self) -> dt.timedelta:
        """How often each connection is read when no notification comes."""
        ...

    def poll_intervals(self, session: Session) -> dict[int, dt.timedelta]:
        """The connections read at an interval of their own instead of `poll_interval`, with
        it (one query; {} when the provider has no such setting)."""
        ...

    @property
    def backfill_per_minute(self) -> int:
        """Existing items sent per minute while a calendar backfills."""
        ...

    def connection(self, session: Session, connection_id: int, *,
                   business_id: int) -> ConnectionView | None:
        """The connection as a pass needs it; None if gone, of another business than
        `business_id`, or needing reconnection. Its statements name `business_id`."""
        ...

    # Whether `workable` lists only the connections due now (a stored next poll time, indexed:
    # ICS URLs) rather than every one that may be worked: then the engine asks it every pass
    # instead of keeping its answer between full looks (server/sync/due.py).
    lists_due: bool

    def workable(self, session: Session, now: dt.datetime,
                 only: Collection[int] | None = None) -> list[int]:
        """Connections that may be worked now (connected, or their pause over), in id order;
        of `only`, when given."""
        ...

    def wanted(self, session: Session, now: dt.datetime,
               only: Collection[int] | None = None) -> set[int]:
        """Connections with work besides polling: changes to send now, or a notification; of
        `only`, when given (reading only their rows)."""
        ...

    @property
    def copy_secret(self) -> bytes:
        """The per-installation key of the deterministic ids of our copies."""
        ...

    def client(self, credentials: str) -> Any:
        """A client for one connection; the engine keeps it while the credentials stay."""
        ...

    def list_page(self, client: Any, calendar: str, *, cursor: str | None, page: str | None,
                  since: dt.datetime | None, zone: str, attempts: int | None) -> Page:
        """One request's page of a calendar's changes since `cursor` (None: a full read of
        what exists from `since` on, the whole history if None, no deleted events), `page`
        continuing a read. Raises CursorExpiredError if the provider refuses the cursor.
        `zone` is the business's, for dates without one; `attempts` bounds the calls."""
        ...

    def copy_id(self, secret: bytes, connection: Any, kind: str, item_id: int) -> str:
        """The deterministic remote id of our copy of an item, from the connection's row (its
        id, or for CalDAV its business and account: a reconnected account finds its copies)."""
        ...

    def former_copy_ids(self, session: Session, secret: bytes, connection: Any) -> FormerIds:
        """The ids our copies of the connection's account had under former naming schemes (a
        copy the database lost the record of, or one kept at a disconnection of the account,
        is adopted under them too): what they depend on is loaded once, in `session`, then
        asked per item; none for most providers (`no_former_ids`)."""
        ...

    def describe(self, error: SyncError, calendar: str, *, writing: bool) -> str:
        """What went wrong with one remote calendar, and what to change."""
        ...

    def subscribe(self, client: Any, connection_id: int, now: dt.datetime, *,
                  business_id: int) -> int:
        """Open or renew push subscriptions of the read calendars (best effort); how many.
        `business_id`: the connection's, which its statements name."""
        ...

    @property
    def batch_limit(self) -> int:
        """The most writes `write_batch` is given at once."""
        ...

    def copy_body(self, view: EventView, *, remote_id: str, item_ref: str, copy_version: int,
                  reminders: bool) -> Any:
        """Our copy of an item (its redacted view) as the provider takes it: with the id
        `remote_id` where the provider lets us choose it, tagged with `item_ref`."""
        ...

    def write_batch(self, client: Any, writes: list[Write], attempts: int | None
                    ) -> dict[tuple[str, int], WriteResult]:
        """Send the writes (at most batch_limit), a result for each (kind, item id): creates
        idempotent (a create meeting our own id writes over it), updates restoring a copy
        deleted remotely, deletes of what is already gone counted as done; a failing part is
        retried alone at most `attempts` calls in all."""
        ...

    def reconcile_epoch(self, session: Session) -> None:
        """After a restore: queue every copy to be written again and forget every cursor."""
        ...

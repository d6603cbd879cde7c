"""The contract between the sync engine and a provider adapter (see README.md here).

An adapter is one object per provider, registered with the engine (server/gcal_bridge.py).
The engine calls it only through this Protocol; everything that is the same for every provider
(leases, backoff, health, restore epochs, wake-ups, the pass loop) stays in the engine."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from server.sync.errors import SyncError


@dataclass(frozen=True)
class ConnectionView:
    """What the engine needs to know of a connection at the start of a pass."""

    id: int
    credentials: str = field(repr=False)  # the provider's secret (a refresh token): never logged
    reads: bool  # it reads at least one remote calendar
    writes: bool  # it sends our changes to the provider
    notified: bool = False  # a push notification asked for a read


class ReadOutcome(Protocol):
    """What one read pass did (counts only: no event content)."""

    @property
    def imported(self) -> int: ...

    @property
    def removed(self) -> int: ...

    @property
    def copies_to_restore(self) -> int: ...


class WriteOutcome(Protocol):
    """What one write pass did; `retryable` is the first transient failure, if any."""

    @property
    def inserted(self) -> int: ...

    @property
    def updated(self) -> int: ...

    @property
    def deleted(self) -> int: ...

    @property
    def writes(self) -> int: ...

    @property
    def retryable(self) -> SyncError | None: ...


class Provider(Protocol):
    """A provider adapter. Every method raises only `SyncError`s (server/sync/errors.py):
    `ReconnectError` and `PauseError` stop the connection, `RetryableError` backs off the side
    that failed; failures of one calendar or one item are recorded by the adapter's pass and
    never raised. Each method is idempotent: a process killed at any point, run again,
    converges without duplicates."""

    name: str  # "google"; the key of its registration and of its restore epoch
    label: str  # "Google", for messages
    connections: type[Any]  # the connection table: leases and health live on its rows

    @property
    def poll_interval(self) -> dt.timedelta:
        """How often each connection is read when no notification comes."""
        ...

    @property
    def backfill_per_minute(self) -> int:
        """Existing items sent per minute while a calendar backfills."""
        ...

    def connection(self, session: Session, connection_id: int) -> ConnectionView | None:
        """The connection as a pass needs it; None if gone or needing reconnection."""
        ...

    def workable(self, session: Session, now: dt.datetime) -> list[int]:
        """Connections that may be worked now (connected, or their pause over), in id order."""
        ...

    def wanted(self, session: Session, now: dt.datetime) -> set[int]:
        """Connections with work besides polling: changes to send now, or a notification."""
        ...

    def client(self, credentials: str) -> Any:
        """A client for one connection; the engine keeps it while the credentials stay."""
        ...

    def read(self, client: Any, connection_id: int, now: dt.datetime,
             attempts: int | None) -> ReadOutcome:
        """Read every remote calendar the connection reads into the mirror: changes since
        each calendar's cursor (paged; an expired cursor means a full read that reconciles),
        our copies recognised and never mirrored; the cursor saved after the last page."""
        ...

    def subscribe(self, client: Any, connection_id: int, now: dt.datetime) -> int:
        """Open or renew push subscriptions of the read calendars (best effort); how many."""
        ...

    def write(self, client: Any, connection_id: int, now: dt.datetime, budget: int,
              attempts: int | None) -> WriteOutcome:
        """Send the journal's changes since each calendar's position as copies (at most
        `budget` backfilled items), idempotently; positions advance after the writes."""
        ...

    def reconcile_epoch(self, session: Session) -> None:
        """After a restore: queue every copy to be written again and forget every cursor."""
        ...

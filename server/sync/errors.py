"""The engine's error taxonomy: every adapter turns its provider's failures into these, once.

What the engine does with each:
- `ReconnectError`: the provider refused the connection's credentials; the connection is marked
  "needs reconnecting" and no further call is made for it until an admin reconnects.
- `PauseError`: a quota is exhausted; the connection pauses (at least an hour, or Retry-After).
- `RetryableError`: transient (5xx, rate limit, timeout); the side that failed (reading or
  writing) backs off, exponentially with jitter, honouring Retry-After.
- any other `SyncError`: judged by its scope (`scope_of`): one remote calendar (recorded on it,
  the connection's other calendars go on), or one item (recorded on the item, which backs off
  alone).
"""

from __future__ import annotations

from server.errors import BookingCalError

CONNECTION = "connection"
CALENDAR = "calendar"
ITEM = "item"


class SyncError(BookingCalError):
    """A provider failure as an adapter classified it: the provider's status and reason, and
    the seconds it asked us to wait, if any. `scope` may be set by the adapter; else it is
    derived from the status (`scope_of`). `give_up_after`: for an item's error that retrying
    is unlikely to fix, how many failed attempts in a row end the retries (until the item
    changes; server/sync/item_errors.py)."""

    code = "sync"

    def __init__(self, message: str, status: int = 0, reason: str = "",
                 retry_after: float | None = None, scope: str | None = None,
                 give_up_after: int | None = None) -> None:
        super().__init__(message, status=status, reason=reason)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after
        self.scope = scope
        self.give_up_after = give_up_after


class RetryableError(SyncError):
    """Transient: try again later (backoff)."""

    code = "sync_retry"


class PauseError(SyncError):
    """A quota is exhausted: the connection pauses."""

    code = "sync_quota"


class ReconnectError(SyncError):
    """The credentials were refused: the connection needs reconnecting."""

    code = "sync_reconnect"


class CursorExpiredError(SyncError):
    """The saved cursor is no longer valid: the calendar must be read in full again."""

    code = "sync_cursor_expired"


def stops_connection(error: SyncError) -> bool:
    """Whether `error` must stop every call of the connection at once."""
    return isinstance(error, (PauseError, ReconnectError))


def scope_of(error: SyncError) -> str:
    """What `error` concerns: the whole connection, the one remote calendar a call named
    (403 forbidden, 404 not found), or the one item written (any other client error)."""
    if isinstance(error, (RetryableError, PauseError, ReconnectError)):
        return CONNECTION
    if error.scope is not None:
        return error.scope
    return CALENDAR if error.status in (403, 404) else ITEM

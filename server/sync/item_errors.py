"""Writes that fail for one booking or blocked time alone: a part of a batch answered with a
permanent error (400: the provider refuses the copy as sent, or another 4xx that retrying the
same request cannot fix). Each is kept as a row (the provider's write-error table) with the
error and when it is tried again, so:

- the item backs off on its own (1 min doubling up to 1 h), while the calendar's other changes
  go on and its journal position advances: the row, not the journal, remembers that the item
  still has to go;
- a later change of the item is tried at once (it may be what fixes it);
- an error the adapter marks as unlikely to pass (`SyncError.give_up_after`: a server refusing
  to delete our copy, which a person must delete by hand) stops being retried after that many
  failures in a row (`gave_up`); the row stays, saying so, until the item changes or its copy
  is found gone;
- `google status`, the JSON status and the admin page show it per booking and per calendar.

Errors that concern the whole connection (a refused token, an exhausted quota, the provider
failing: 5xx, rate limits, timeouts; see server/sync/engine.py) or one remote calendar
(server/sync/calendar_errors.py) are not recorded here. The rows are the provider's own table
(`Tables.write_error`: google_write_errors, microsoft_write_errors)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.db.scope import business_beside, of_connection
from server.sync.tables import GOOGLE, Tables
from server.sync.backoff import STORED_FIRST, STORED_MAX, stored_backoff
from server.sync.errors import ITEM, SyncError, scope_of

FIRST_BACKOFF = STORED_FIRST
MAX_BACKOFF = STORED_MAX
GIVE_UP_AFTER = 8  # attempts of an error marked give_up_after (about two hours of backoff)

Key = tuple[str, int]


def backoff(failures: int, retry_after: float | None = None) -> dt.timedelta:
    """How long an item waits after `failures` failed writes in a row (Retry-After, when the
    provider gave one, is honoured up to the cap)."""
    return stored_backoff(failures, retry_after)


def permanent(error: SyncError) -> bool:
    """Whether `error` concerns the one item written and retrying it as it is cannot help."""
    return scope_of(error) == ITEM


def load(session: Session, connection: Any, tables: Tables = GOOGLE) -> dict[Key, Any]:
    """The write errors of `connection` (its row: its business and id), by item."""
    table = tables.write_error
    return {(row.kind, row.item_id): row for row in session.execute(select(
        table).where(of_connection(table, connection))).scalars()}


def waiting(row: Any, seq: int, now: dt.datetime) -> bool:
    """Whether the item still backs off: not yet due (or given up), and not changed since it
    failed."""
    return (row.gave_up or row.retry_at > now) and seq <= row.seq


def failed(session: Session, business_id: int, connection_id: int, key: Key, calendar_id: int,
           seq: int, error: SyncError, now: dt.datetime, tables: Tables = GOOGLE) -> Any:
    """Record a failed write of the item (one more failure in a row)."""
    GoogleWriteError = tables.write_error
    row = session.execute(select(GoogleWriteError).where(
        business_beside(GoogleWriteError, business_id),
        GoogleWriteError.connection_id == connection_id, GoogleWriteError.kind == key[0],
        GoogleWriteError.item_id == key[1])).scalar_one_or_none()
    if row is None:
        row = GoogleWriteError(business_id=business_id, connection_id=connection_id,
                               kind=key[0], item_id=key[1],
                               failures=0, first_failed_at=now)
        session.add(row)
    row.calendar_id, row.seq, row.error, row.permanent = calendar_id, seq, error.message, True
    row.failures = (row.failures or 0) + 1
    row.last_failed_at = now
    row.retry_at = now + backoff(row.failures, error.retry_after)
    row.gave_up = error.give_up_after is not None and row.failures >= error.give_up_after
    return row


def retry_now(session: Session, connection: Any, key: Key, now: dt.datetime,
              tables: Tables = GOOGLE) -> None:
    """The item's copy was found gone from the provider: its failing write (if any, given up
    or not) is tried at the next pass (a delete refused before then finds nothing left).
    `connection`: its row (its business and id)."""
    GoogleWriteError = tables.write_error
    row = session.execute(select(GoogleWriteError).where(
        of_connection(GoogleWriteError, connection), GoogleWriteError.kind == key[0],
        GoogleWriteError.item_id == key[1])).scalar_one_or_none()
    if row is not None:
        row.retry_at, row.gave_up = now, False


def cleared(session: Session, connection: Any, keys: set[Key],
            tables: Tables = GOOGLE) -> None:
    """The items written (or no longer needing a write): their errors go. `connection`: its
    row (its business and id)."""
    GoogleWriteError = tables.write_error
    for kind in {kind for kind, _ in keys}:
        ids = sorted(item for k, item in keys if k == kind)
        for start in range(0, len(ids), 500):
            session.execute(delete(GoogleWriteError).where(
                of_connection(GoogleWriteError, connection), GoogleWriteError.kind == kind,
                GoogleWriteError.item_id.in_(ids[start:start + 500])))


@dataclass(frozen=True)
class ItemError:
    """One failing item as status pages show it."""

    kind: str
    item_id: int
    error: str
    failures: int
    last_failed_at: dt.datetime
    retry: str  # "retrying in N s" / "retrying in N min" / "not tried again ..."


def row_note(row: Any, now: dt.datetime) -> str:
    """When the item is tried again, in words."""
    if row.gave_up:
        return (f"not tried again after {row.failures} attempts, until the item changes or "
                "its copy is gone")
    return retry_note(row.retry_at, now)


def retry_note(retry_at: dt.datetime, now: dt.datetime) -> str:
    seconds = max(0, int((retry_at - now).total_seconds() + 0.999))
    if seconds < 60:
        return f"retrying in {seconds} s" if seconds else "retrying now"
    return f"retrying in {-(-seconds // 60)} min"


def by_calendar(session: Session, connection: Any, now: dt.datetime,
                tables: Tables = GOOGLE) -> dict[int, list[ItemError]]:
    """The failing items of a connection (its row: its business and id) per employee
    calendar, oldest failure first."""
    GoogleWriteError = tables.write_error
    found: dict[int, list[ItemError]] = {}
    for row in session.execute(select(GoogleWriteError).where(
            of_connection(GoogleWriteError, connection)).order_by(
            GoogleWriteError.first_failed_at, GoogleWriteError.id)).scalars():
        found.setdefault(row.calendar_id, []).append(ItemError(
            row.kind, row.item_id, row.error, row.failures, row.last_failed_at,
            row_note(row, now)))
    return found

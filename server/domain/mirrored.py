"""Mirrored events of the sync providers (Google today): the one place they change. The sync
engine's reading (server/sync/reading.py) hands a remote calendar's changes here as
`RemoteEvent`s and `Tombstone`s, which its adapter parsed; the blocking decision
(server/domain/blocking.py) is applied on every write; a full read reconciles (what the
provider no longer has goes, nothing else is touched); a change of
the business's blocking choices recomputes `blocks`; a disconnect forgets them all.
Availability (schedules.py) reads these rows and their `blocks` column."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session, load_only

from server.db.models import (
    CalDAVMirroredEvent, GoogleReadState, IcsMirroredEvent, MicrosoftMirroredEvent, MirroredEvent,
)
from server.db.scope import business_beside
from server.domain.blocking import BlockingPolicy, blocks

SUMMARY_LIMIT = 1000
# Each provider's mirror table: the same columns (server/db/models/).
MirrorTable = (type[MirroredEvent] | type[MicrosoftMirroredEvent] | type[IcsMirroredEvent]
               | type[CalDAVMirroredEvent])
CHUNK = 500  # ids per IN (...) query
WRITE_BATCH = 1000  # rows per executemany INSERT or UPDATE


@dataclass(frozen=True)
class RemoteEvent:
    """A provider's event (an instance, for repeating ones) as it is now, times in UTC, in the
    mirror's vocabulary (server/domain/blocking.py); all-day events also carry their dates
    (the end date exclusive)."""

    event_id: str
    start_utc: dt.datetime
    end_utc: dt.datetime
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    summary: str = ""
    recurring_event_id: str | None = None
    transparency: str = "opaque"
    status: str = "confirmed"
    event_type: str = "default"
    self_response: str | None = None  # the account's own answer, when it is an attendee

    @property
    def all_day(self) -> bool:
        return self.start_date is not None


@dataclass(frozen=True)
class Tombstone:
    """An event that was deleted or cancelled: providers send only its id."""

    event_id: str


@dataclass(frozen=True)
class Series:
    """A repeating event listed again whole (CalDAV sends a changed resource whole, not its
    changed occurrences): its occurrences mirrored before go, unless the changes that follow
    list them again; also the event of that id itself. Its `event_id` is the series' id."""

    event_id: str


GoogleEvent = RemoteEvent  # the name of the first provider's tests
Change = RemoteEvent | Tombstone | Series


@dataclass
class MirrorResult:
    imported: int = 0
    removed: int = 0
    longest_seconds: int = 0  # longest span among the events written
    # Tombstones of events never mirrored here (they may be copies of ours, deleted).
    unknown_tombstones: list[str] = field(default_factory=list)


def chunks(values: list[str]) -> list[list[str]]:
    """`values` in slices small enough for one `IN (...)` query."""
    return [values[start:start + CHUNK] for start in range(0, len(values), CHUNK)]


@dataclass
class _Row:
    """What the pass knows of one mirrored row: its id (None until inserted) and its series."""

    id: int | None
    recurring_event_id: str | None


def apply_changes(session: Session, *, business_id: int, connection_id: int,
                  google_calendar: str, changes: Sequence[Change], full: bool,
                  policy: BlockingPolicy, now: dt.datetime,
                  model: MirrorTable = MirroredEvent) -> MirrorResult:
    """Write one remote calendar's changes, in order. `full`: `changes` is everything the
    calendar has now, and mirrored events it does not contain are removed. An incremental
    pass loads only the rows its changes touch (an idle pass reads nothing). `model` is the
    provider's mirror table (Google's mirrored_events, microsoft_mirrored_events).

    The changes are first resolved in memory (the last one of each id wins), then written in
    batches: one DELETE per chunk of ids, one executemany UPDATE and one INSERT per batch of
    rows, instead of one ORM object and statement per event (a first read of 10,000 events
    spent more time in those than in parsing the feed)."""
    result = MirrorResult()
    MirroredEvent: Any = model
    loaded: dict[str, Any] = {}  # the ORM rows read (only their ids and series)
    rows = select(MirroredEvent).options(load_only(
        MirroredEvent.id, MirroredEvent.event_id, MirroredEvent.recurring_event_id)).where(
        business_beside(MirroredEvent, business_id), MirroredEvent.connection_id == connection_id,
        MirroredEvent.google_calendar == google_calendar)
    if full:
        loaded = {row.event_id: row for row in session.execute(rows).scalars()}
    else:
        ids = sorted({change.event_id for change in changes})
        loaded = {row.event_id: row for chunk in chunks(ids) for row in session.execute(
            rows.where(MirroredEvent.event_id.in_(chunk))).scalars()}
        series = sorted({c.event_id for c in changes if isinstance(c, Series)})
        loaded.update({row.event_id: row for chunk in chunks(series) for row in
                       session.execute(rows.where(
                           MirroredEvent.recurring_event_id.in_(chunk))).scalars()})
    existing = {event_id: _Row(row.id, row.recurring_event_id)
                for event_id, row in loaded.items()}
    seen: set[str] = set()
    doomed: dict[str, _Row] = {}  # deleted at the end, unless the id comes back
    relisted: set[str] = set()  # rows of a Series: counted as removed only if not listed again
    written: dict[str, tuple[_Row, RemoteEvent]] = {}  # the last change of each id
    for change in changes:
        if isinstance(change, Series):
            for event_id in [event_id for event_id, row in existing.items()
                             if event_id == change.event_id
                             or row.recurring_event_id == change.event_id]:
                doomed[event_id] = existing.pop(event_id)
                seen.discard(event_id)
                relisted.add(event_id)
            continue
        if isinstance(change, Tombstone):
            gone = existing.pop(change.event_id, None)
            seen.discard(change.event_id)
            if gone is not None:
                doomed[change.event_id] = gone
                result.removed += 1
            elif change.event_id not in doomed:
                result.unknown_tombstones.append(change.event_id)
            continue
        seen.add(change.event_id)
        row = existing.get(change.event_id) or doomed.pop(change.event_id, None) \
            or _Row(None, None)
        row.recurring_event_id = change.recurring_event_id
        existing[change.event_id] = row
        written[change.event_id] = (row, change)
        result.longest_seconds = max(result.longest_seconds, int(
            (max(change.end_utc, change.start_utc) - change.start_utc).total_seconds()))
        result.imported += 1
    if full:
        for event_id, row in existing.items():
            if event_id not in seen:
                doomed[event_id] = row
                result.removed += 1
    result.removed += len(relisted & set(doomed))
    _delete(session, MirroredEvent.__table__, business_id, loaded,
            [event_id for event_id, row in doomed.items() if row.id is not None])
    kept = [(event_id, row, change) for event_id, (row, change) in written.items()
            if event_id not in doomed]
    for event_id, row, _ in kept:
        if row.id is not None:
            session.expire(loaded[event_id])  # its columns are written past the ORM below
    _write(session, MirroredEvent.__table__, kept, {
        "business_id": business_id, "connection_id": connection_id,
        "google_calendar": google_calendar}, policy, now)
    return result


def _delete(session: Session, table: Any, business_id: int, loaded: dict[str, Any],
            event_ids: list[str]) -> None:
    """Delete the loaded rows of `event_ids`, a chunk of ids per statement, and forget them."""
    for chunk in chunks(event_ids):
        session.execute(delete(table).where(table.c.business_id == business_id, table.c.id.in_(
            [loaded[event_id].id for event_id in chunk])))
        for event_id in chunk:
            session.expunge(loaded[event_id])


def _write(session: Session, table: Any, kept: list[tuple[str, _Row, RemoteEvent]],
           owner: dict[str, Any], policy: BlockingPolicy, now: dt.datetime) -> None:
    """Write each change on its row: rows already there by one executemany UPDATE per batch
    (by id), new ones by one executemany INSERT per batch (`owner`: their connection's
    columns); batches of WRITE_BATCH rows keep the parameters' memory bounded."""
    changed = [(row.id, change) for _, row, change in kept if row.id is not None]
    for start in range(0, len(changed), WRITE_BATCH):
        session.execute(update(table).where(table.c.business_id == owner["business_id"],
                                            table.c.id == bindparam("row_id")), [
            {"row_id": row_id, **_values(change, policy, now)}
            for row_id, change in changed[start:start + WRITE_BATCH]])
    new = [(event_id, change) for event_id, row, change in kept if row.id is None]
    for start in range(0, len(new), WRITE_BATCH):
        session.execute(insert(table), [
            {**owner, "event_id": event_id, **_values(change, policy, now)}
            for event_id, change in new[start:start + WRITE_BATCH]])


def _values(event: RemoteEvent, policy: BlockingPolicy, now: dt.datetime) -> dict[str, Any]:
    """The columns a change writes on its mirrored row."""
    end = max(event.end_utc, event.start_utc)
    return {"recurring_event_id": event.recurring_event_id,
            "summary": event.summary[:SUMMARY_LIMIT], "all_day": event.all_day,
            "start_utc": event.start_utc, "end_utc": end,
            "start_date": event.start_date, "end_date": event.end_date,
            "transparency": event.transparency, "status": event.status,
            "event_type": event.event_type, "self_response": event.self_response,
            "blocks": blocks(status=event.status, transparency=event.transparency,
                             event_type=event.event_type, self_response=event.self_response,
                             all_day=event.all_day, policy=policy),
            "updated_at": now}


def blocks_row(row: Any, policy: BlockingPolicy) -> bool:
    """Whether a mirrored row (of any provider's mirror table) blocks under `policy`."""
    return _blocks(row, policy)


def _blocks(row: Any, policy: BlockingPolicy) -> bool:
    return blocks(status=row.status, transparency=row.transparency, event_type=row.event_type,
                  self_response=row.self_response, all_day=row.all_day, policy=policy)


def recompute_blocking(session: Session, connection_id: int, policy: BlockingPolicy) -> int:
    """Apply a changed blocking policy to the connection's mirrored events; returns how many
    changed."""
    changed = 0
    for row in session.execute(select(MirroredEvent).where(
            MirroredEvent.connection_id == connection_id)).scalars():
        now_blocks = _blocks(row, policy)
        if row.blocks != now_blocks:
            row.blocks = now_blocks
            changed += 1
    return changed


def forget(session: Session, connection_id: int) -> None:
    """Remove every mirrored event of a connection (on disconnect); the next read of its
    calendars starts with a full sync."""
    session.execute(delete(MirroredEvent).where(MirroredEvent.connection_id == connection_id))
    session.execute(update(GoogleReadState).where(
        GoogleReadState.connection_id == connection_id).values(sync_token=None))


def drop_ours(session: Session, connection_id: int, google_calendar: str,
              event_ids: Sequence[str], model: MirrorTable = MirroredEvent, *,
              business_id: int | None = None) -> int:
    """Remove mirrored rows of events that are our own copies (they must never block);
    returns how many there were. `business_id`: the connection's (named by the statements)."""
    MirroredEvent: Any = model
    dropped = 0
    scope = [] if business_id is None else [business_beside(MirroredEvent, business_id)]
    for chunk in chunks(sorted(set(event_ids))):
        for row in session.execute(select(MirroredEvent).where(
                *scope, MirroredEvent.connection_id == connection_id,
                MirroredEvent.google_calendar == google_calendar,
                MirroredEvent.event_id.in_(chunk))).scalars():
            session.delete(row)
            dropped += 1
    return dropped

"""The change journal: per-calendar sequence numbers from a counter on the calendar's row, bumped
in the writing transaction, so a sync position never skips a change (a database SEQUENCE could
commit out of order). The database epoch is part of every position handed out."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.orm import Session

from server.db.models import Calendar, JournalEntry, Meta
from server.db.scope import in_calendar
from server.errors import GoneError

KINDS = ("booking", "blocked", "calendar", "task")


@dataclass(frozen=True)
class Change:
    seq: int
    kind: str
    item_id: int
    item_uid: str
    action: str  # "put" or "delete" (a tombstone)
    actor: str | None = None  # "link:<id>" for a writable CalDAV account; None otherwise


@dataclass(frozen=True)
class Changes:
    epoch: str
    calendar_id: int
    since: int
    current: int
    changes: list[Change]

    @property
    def token(self) -> str:
        return make_token(self.epoch, self.current)


def record(session: Session, calendar: Calendar, kind: str, item_id: int, item_uid: str,
           action: str, now: dt.datetime, actor: str | None = None) -> int:
    """Append one change to `calendar`'s journal; the caller holds the calendar's lock.
    `actor` names who made it when that is not the API or the admin ("link:<id>")."""
    assert kind in KINDS and action in ("put", "delete")
    calendar.journal_seq += 1
    calendar.changed_at = now
    session.add(JournalEntry(business_id=calendar.business_id, calendar_id=calendar.id,
                             seq=calendar.journal_seq, kind=kind, item_id=item_id,
                             item_uid=item_uid, action=action, created_at=now,
                             actor=actor))
    return calendar.journal_seq


def epoch(session: Session) -> str:
    return session.execute(select(Meta.value).where(Meta.key == "epoch")).scalar_one()


def epoch_subquery() -> Any:
    """The epoch as a scalar subquery, to read it in the same round trip as another query."""
    return select(Meta.value).where(Meta.key == "epoch").scalar_subquery()


def new_epoch(session: Session) -> str:
    """Start a new epoch (after a restore): every token and ETag handed out before is void."""
    value = uuid.uuid4().hex[:12]
    session.execute(update(Meta).where(Meta.key == "epoch").values(value=value))
    return value


def make_token(epoch_value: str, seq: int) -> str:
    return f"{epoch_value}-{seq}"


def parse_token(token: str, epoch_value: str) -> int:
    """The sequence in `token`; GoneError if it is malformed or from another epoch."""
    head, _, tail = token.rpartition("-")
    if head != epoch_value or not tail.isdigit():
        raise GoneError("the sync token is unknown or from before a restore; sync again from "
                        "scratch")
    return int(tail)


def changes_since(session: Session, calendar: Calendar, since: int) -> Changes:
    """The latest change of every item changed after `since`, in sequence order.

    GoneError when `since` lies behind the pruning horizon or ahead of the counter."""
    if since < calendar.journal_floor or since > calendar.journal_seq:
        raise GoneError("the sync position is older than the journal keeps (or unknown); "
                        "sync again from scratch", floor=calendar.journal_floor)
    # One range read of the calendar's (calendar_id, seq) index, the latest entry of each item
    # kept here: a join back on a grouped subquery let SQLite's planner walk every entry of the
    # calendar (the cost of a sync after one change grew with the calendar's size).
    entries = session.execute(
        select(JournalEntry.seq, JournalEntry.kind, JournalEntry.item_id,
               JournalEntry.item_uid, JournalEntry.action, JournalEntry.actor)
        .where(in_calendar(JournalEntry, calendar), JournalEntry.seq > since)
        .order_by(JournalEntry.seq))
    latest: dict[tuple[str, int], Change] = {}
    for seq, kind, item_id, item_uid, action, actor in entries:
        latest.pop((kind, item_id), None)  # put back last: the order stays the sequence's
        latest[(kind, item_id)] = Change(seq, kind, item_id, item_uid, action, actor)
    changes = list(latest.values())
    return Changes(epoch(session), calendar.id, since, calendar.journal_seq, changes)


def prune(session: Session, now: dt.datetime, retention_days: int) -> int:
    """Delete entries (tombstones included) older than the horizon, raising each calendar's floor
    to the last pruned sequence so that older positions are answered with GoneError. Returns the
    number of entries removed."""
    cutoff = now - dt.timedelta(days=retention_days)
    floors = session.execute(
        select(JournalEntry.calendar_id, func.max(JournalEntry.seq))
        .where(JournalEntry.created_at < cutoff).group_by(JournalEntry.calendar_id)
        .order_by(JournalEntry.calendar_id)).all()
    removed = 0
    for calendar_id, floor in floors:
        session.execute(update(Calendar).where(Calendar.id == calendar_id,
                                               Calendar.journal_floor < floor)
                        .values(journal_floor=floor))
        result = session.execute(delete(JournalEntry).where(
            JournalEntry.calendar_id == calendar_id, JournalEntry.seq <= floor))
        removed += cast(CursorResult[Any], result).rowcount
    return removed

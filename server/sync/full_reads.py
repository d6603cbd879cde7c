"""The weekly full read of every remote calendar: change feeds miss events now and then (an
event that slides into the window, a change lost on the provider's side), so the bridge reads
each calendar in full once every FULL_READ_EVERY, which reconciles the mirror (events no longer
listed are removed, the others updated in place: no duplicates) and checks our copies
(server/sync/reading.py). A calendar first seen gets a start spread over the week by its id,
so an upgrade does not read every calendar in full at once. Kept in sync_full_reads, keyed by
the provider's read-state table, so every provider gets it without a column of its own."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from server.db import Database
from server.db.models import SyncFullRead
from server.errors import ConflictError

FULL_READ_EVERY = dt.timedelta(days=7)
_SPREAD = 7919  # a prime: consecutive ids land far apart in the week


def due(db: Database, read_table: str, business_id: int,
        last: dict[int, dt.datetime | None], now: dt.datetime) -> set[int]:
    """The read states whose full read is due, given when each was last read in full (None:
    first seen; read with the read states, server/sync/reading.py), all of one connection of
    business `business_id`. A write only for states first seen."""
    known = {state_id: when for state_id, when in last.items() if when is not None}
    new = [state_id for state_id, when in last.items() if when is None]
    if new:
        week = int(FULL_READ_EVERY.total_seconds())
        starts = {state_id: now - dt.timedelta(seconds=(state_id * _SPREAD) % week)
                  for state_id in new}
        try:
            with db.write() as session:
                for state_id, start in starts.items():
                    session.add(SyncFullRead(business_id=business_id, read_table=read_table,
                                             read_state_id=state_id, full_read_at=start))
            known.update(starts)
        except ConflictError:
            pass  # another bridge recorded them first; their turn comes by its rows
    return {state_id for state_id, when in known.items() if now - when >= FULL_READ_EVERY}


def done(db: Database, read_table: str, business_id: int, state_id: int,
         now: dt.datetime) -> None:
    """Record a full read of one calendar (any full read: the first one, after an expired
    cursor, or the weekly one)."""
    with db.write() as session:
        row = session.execute(select(SyncFullRead).where(
            SyncFullRead.read_table == read_table, SyncFullRead.read_state_id == state_id,
            SyncFullRead.business_id == business_id)).scalar_one_or_none()
        if row is None:
            session.add(SyncFullRead(business_id=business_id, read_table=read_table,
                                     read_state_id=state_id, full_read_at=now))
        else:
            row.full_read_at = now

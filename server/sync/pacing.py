"""Paced turns: a read over several turns (a first import of a huge calendar, a restore;
server/sync/reading.py) takes at most `share` of a bridge's time. After each turn of such a
read, its next turn waits as long again as the turn took, times (1 - share) / share: with the
default half, a turn of a second is followed by a second in which the bridge's threads, the
database and the CPU serve the other businesses. The pause is kept on the read state
(`turn_after`), so every bridge process keeps to it, and it holds back only the reading: the
business's own bookings are sent meanwhile as ever.

A one-off sync (`bookingcal sync --once`, the CLIs) is not paced: it is the admin asking for
that import now."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.db import Database
from server.db.scope import business_beside

IMPORT_SHARE = 0.5  # of a bridge's time that one read over turns may take
MAX_PAUSE = dt.timedelta(seconds=60)  # however slow the turn


def pause(turn_seconds: float, share: float = IMPORT_SHARE) -> dt.timedelta:
    """The wait before the next turn of a read whose last turn took `turn_seconds`."""
    if not 0 < share <= 1:
        raise ValueError(f"a read's share of the bridge's time must be in (0, 1], not {share}")
    seconds = max(0.0, turn_seconds) * (1 - share) / share
    return min(MAX_PAUSE, dt.timedelta(seconds=seconds))


def held(session: Session, read_state: Any, business_id: int, connection_id: int,
         now: dt.datetime) -> bool:
    """Whether a read of the connection is under way and pausing until after `now`: then a
    poll of it waits too (its next turn reads every calendar of the connection)."""
    return session.execute(select(read_state.id).where(
        business_beside(read_state, business_id), read_state.connection_id == connection_id,
        read_state.page_token.is_not(None), read_state.turn_after > now)).first() is not None


def hold(db: Database, read_state: Any, business_id: int, connection_id: int,
         until: dt.datetime) -> None:
    """The connection's reads in progress take their next turn at `until` at the earliest."""
    with db.write() as session:
        session.execute(update(read_state).where(
            business_beside(read_state, business_id),
            read_state.connection_id == connection_id,
            read_state.page_token.is_not(None)).values(turn_after=until)
            .execution_options(synchronize_session=False))

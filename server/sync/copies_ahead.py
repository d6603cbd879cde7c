"""Which of a connection's copies still matter when it is disconnected: those of bookings that
have not ended and of blocked time (one-off or repeating) that has not ended. Past copies stay
in the provider's calendar as history. Read in a bounded number of queries per 500 copies."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import BlockedTime, Booking

CHUNK = 500


def future_copies(session: Session, copy_model: Any, connection_id: int,
                  now: dt.datetime) -> list[tuple[str, str]]:
    """(remote calendar, remote id) of every live copy of the connection whose item has not
    ended (or no longer exists)."""
    rows = list(session.execute(select(copy_model.kind, copy_model.item_id,
                                       copy_model.google_calendar, copy_model.event_id).where(
        copy_model.connection_id == connection_id,
        copy_model.deleted.is_(False)).order_by(copy_model.id)))
    ends: dict[tuple[str, int], dt.datetime | None] = {}
    bookings = sorted({item_id for kind, item_id, _, _ in rows if kind == "booking"})
    blocked = sorted({item_id for kind, item_id, _, _ in rows if kind == "blocked"})
    for first in range(0, len(bookings), CHUNK):
        for item_id, booking_end in session.execute(select(Booking.id, Booking.end_utc).where(
                Booking.id.in_(bookings[first:first + CHUNK]))):
            ends[("booking", item_id)] = booking_end
    for first in range(0, len(blocked), CHUNK):
        for item_id, end, repeats, series_end in session.execute(select(
                BlockedTime.id, BlockedTime.end_utc, BlockedTime.repeats,
                BlockedTime.series_end_utc).where(
                BlockedTime.id.in_(blocked[first:first + CHUNK]))):
            # An endless series never ends: its copy always matters.
            ends[("blocked", item_id)] = (series_end or now + dt.timedelta(days=1)) \
                if repeats else end
    return [(calendar, remote) for kind, item_id, calendar, remote in rows
            if (last := ends.get((kind, item_id))) is None or last > now]

"""Re-publishing after a rename. A service's or a calendar's name shows in every one of its
bookings (and in their copies elsewhere), so a rename journals each booking again, in batches
of their own transactions: no single transaction rewrites a whole calendar. Progress is kept on
the renamed row (`republish_after`), so an interrupted pass is resumed by the next
`resume_all()` (serve's maintenance loop calls it)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from server.db import Database
from server.db.models import Booking, Calendar, Service
from server.domain import journal

BATCH = 500


def mark(owner: Service | Calendar) -> None:
    """Call in the renaming transaction: re-publishing starts from the first booking."""
    owner.republish_after = 0


def run(db: Database, kind: str, owner_id: int, now: dt.datetime, batch: int = BATCH) -> int:
    """Journal every booking of the service or calendar again; returns how many."""
    column = Booking.service_id if kind == "service" else Booking.calendar_id
    done = 0
    while True:
        with db.write() as session:
            owner: Service | Calendar | None = (session.get(Service, owner_id)
                                                if kind == "service"
                                                else session.get(Calendar, owner_id))
            if owner is None or owner.republish_after is None:
                return done
            rows = list(session.execute(
                select(Booking).where(column == owner_id, Booking.id > owner.republish_after)
                .order_by(Booking.id).limit(batch)).scalars())
            if not rows:
                owner.republish_after = None
                return done
            # Locked in id order like every writer; deleted calendars too (their journal is
            # harmless, and a service may have bookings in one).
            calendars = {c.id: c for c in session.execute(
                select(Calendar).where(Calendar.id.in_({b.calendar_id for b in rows}))
                .order_by(Calendar.id).with_for_update()).scalars()}
            for booking in rows:
                booking.seq = journal.record(
                    session, calendars[booking.calendar_id], "booking", booking.id, booking.uid,
                    "put" if booking.status == "confirmed" else "delete", now)
            owner.republish_after = rows[-1].id
            done += len(rows)


def resume_all(db: Database, now: dt.datetime) -> int:
    """Finish every interrupted re-publishing pass."""
    with db.read() as session:
        pending = [("service", i) for i in session.execute(
            select(Service.id).where(Service.republish_after.is_not(None))).scalars()] + [
            ("calendar", i) for i in session.execute(
                select(Calendar.id).where(Calendar.republish_after.is_not(None))).scalars()]
    return sum(run(db, kind, owner_id, now) for kind, owner_id in pending)

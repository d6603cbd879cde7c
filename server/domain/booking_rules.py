"""The online booking check: an online booking must fit everything availability offers
(opening hours, notice, horizon, no overlap with bookings, blocked time or blocking Google
events, buffers included). Called by the booking writers under the calendar's lock, in the
transaction that inserts, so a slot taken after it was listed is refused with the reason."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from server.config import AvailabilityConfig
from server.db.models import Calendar, Service
from server.domain import schedules
from server.domain.availability import BOOKING, describe, refusals, rules_for
from server.domain.timeutil import to_local
from server.errors import ConflictError


def refuse_unbookable(session: Session, calendar: Calendar, service: Service,
                      start: dt.datetime, end: dt.datetime, now: dt.datetime,
                      defaults: AvailabilityConfig, exclude_booking: int | None = None) -> None:
    """Raise ConflictError naming every reason [start, end) cannot be booked online."""
    rules = rules_for(service, defaults)
    first = to_local(start, calendar.timezone).date() - dt.timedelta(days=1)
    last = to_local(end, calendar.timezone).date() + dt.timedelta(days=2)
    schedule = schedules.load(session, calendar, first, last)
    own = str(exclude_booking) if exclude_booking is not None else None
    reasons = [r for r in refusals(schedule, rules, now, start, end)
               if not (own is not None and r.ref == own
                       and (r.kind == BOOKING or r.cause == BOOKING))]
    if reasons:
        raise ConflictError(
            "this time cannot be booked online: "
            + "; ".join(describe(r, calendar.timezone) for r in reasons[:5])
            + (f" and {len(reasons) - 5} more" if len(reasons) > 5 else ""),
            reasons=[{"type": r.kind, "id": r.ref, "cause": r.cause,
                      "google_calendar": r.google_calendar, "start": r.start.isoformat(),
                      "end": r.end.isoformat()} for r in reasons])

"""Edits made in a provider's calendar (Google, Outlook) to our copy of a booking, read by the
sync engine (server/sync/reading.py). A business chooses (`edits_from_calendars`):

- "rewrite" (the default): the booking system stays the truth; the copy is written again;
- "apply": a moved copy is a reschedule and a deleted copy a cancel, through the same domain
  path and rules as a phone's writes (server/domain/phone_writes.py): the staff rules for a
  move, `allow_cancel_from_calendar` for a cancel. Refused, the copy is written again and the
  refusal kept (the newest KEEP per business), shown in the provider's status and the admin
  page. Any other edit (title, notes, all-day) is rewritten, as before.

Each attempt runs in a savepoint of the reader's transaction: a refusal changes nothing."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.config import AvailabilityConfig
from server.db.models import Booking, Business, CalendarEditRefusal
from server.db.scope import get_of
from server.domain import phone_writes
from server.domain.mirrored import RemoteEvent
from server.errors import ConflictError, ForbiddenError, InvalidError, NotFoundError

KEEP = 20


def applies(session: Session, business_id: int) -> bool:
    business = session.get(Business, business_id)
    return business is not None and business.edits_from_calendars == "apply"


def apply_edit(session: Session, business_id: int, booking_id: int,
               change: RemoteEvent | None, *, provider: str, connection_id: int,
               now: dt.datetime, rules: AvailabilityConfig) -> bool:
    """Apply the provider's edit of our copy of a booking (`change` None: the copy was
    deleted). True when the booking now agrees with the copy (nothing to write back); False
    when the copy must be written again (the business rewrites, the edit is not one that can
    be applied, or the rules refused it: then the refusal is kept). A move is held to the
    rules of every reschedule: the business's (opening hours when it requires them), the
    booking's service (its buffers; an online booking's notice and horizon, else the
    configured `rules`), the calendar (its bookings, blocked and personal time, hours)."""
    if not applies(session, business_id):
        return False
    booking = get_of(session, Booking, business_id, booking_id)
    if booking is None or booking.status != "confirmed":
        return False
    actor = f"{provider.lower()}:{connection_id}"
    if change is not None:
        if (change.start_utc, change.end_utc) == (booking.start_utc, booking.end_utc):
            return False  # another edit (a title, notes): our copy is written again
        if change.start_date is not None or booking.all_day:
            return _refused(session, business_id, provider, booking_id, "move",
                            "all-day bookings, and bookings made all-day, are moved in the "
                            "booking system only", now)
    try:
        with session.begin_nested():
            if change is None:
                phone_writes.cancel_from_phone(session, business_id, booking_id, now, actor)
            else:
                phone_writes.move_booking(session, business_id, booking_id,
                                          start=change.start_utc, end=change.end_utc, now=now,
                                          actor=actor, rules=rules)
    except (ConflictError, ForbiddenError, InvalidError, NotFoundError) as exc:
        return _refused(session, business_id, provider, booking_id,
                        "cancel" if change is None else "move", exc.message, now)
    return True


def _refused(session: Session, business_id: int, provider: str, booking_id: int,
             action: str, reason: str, now: dt.datetime) -> bool:
    session.add(CalendarEditRefusal(business_id=business_id, provider=provider.lower(),
                                    booking_id=booking_id, action=action,
                                    reason=reason[:500], created_at=now))
    session.flush()
    newest = select(CalendarEditRefusal.id).where(
        CalendarEditRefusal.business_id == business_id).order_by(
        CalendarEditRefusal.id.desc()).limit(KEEP)
    session.execute(delete(CalendarEditRefusal).where(
        CalendarEditRefusal.business_id == business_id,
        CalendarEditRefusal.id.not_in(newest.scalar_subquery())))
    return False


def refusals(session: Session, business_id: int, provider: str) -> list[CalendarEditRefusal]:
    """The kept refusals of edits made in `provider`, newest first."""
    return list(session.execute(select(CalendarEditRefusal).where(
        CalendarEditRefusal.business_id == business_id,
        CalendarEditRefusal.provider == provider.lower())
        .order_by(CalendarEditRefusal.id.desc()).limit(KEEP)).scalars())

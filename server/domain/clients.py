"""Clients. Everything about a client is sensitive; erasing one (a data-protection request)
replaces their data everywhere with a neutral placeholder, through the journal, so that every copy
elsewhere (feeds, CalDAV, Google) is rewritten too."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.db.models import Booking, Client, RenderedItem
from server.db.scope import get_of
from server.domain import journal
from server.domain.businesses import get_business
from server.domain.calendars import lock_calendars
from server.errors import ConflictError, InvalidError, NotFoundError

ERASED_NAME = "Erased client"
SENSITIVE_FIELDS = ("name", "email", "phone", "address", "notes")
# Every free-text field of a booking that may hold personal data: the location (a home visit's
# location is the client's address) and the notes. Erasure clears them; the README lists them.
# A new free-text column on bookings belongs here.
BOOKING_FREE_TEXT = ("location", "notes")


def get_client(session: Session, business_id: int, client_id: int) -> Client:
    client = get_of(session, Client, business_id, client_id)
    if client is None:
        raise NotFoundError(f"client {client_id} does not exist in business {business_id}")
    return client


def list_clients(session: Session, business_id: int, *, limit: int, after_id: int = 0
                 ) -> list[Client]:
    return list(session.execute(select(Client).where(Client.business_id == business_id,
                                                     Client.id > after_id)
                                .order_by(Client.id).limit(limit)).scalars())


def create_client(session: Session, business_id: int, *, name: str, now: dt.datetime,
                  email: str | None = None, phone: str | None = None,
                  address: str | None = None, notes: str | None = None) -> Client:
    get_business(session, business_id)
    client = Client(business_id=business_id, name=name, email=email, phone=phone,
                    address=address, notes=notes, created_at=now, updated_at=now)
    session.add(client)
    session.flush()
    return client


def _touch_bookings(session: Session, client: Client, now: dt.datetime,
                    erase: bool) -> int:
    """Journal a change of every booking of `client`, so each copy is re-rendered; when
    erasing, clear their free text and drop their cached renderings too (the cache would be
    replaced on the next read only, and must not keep the client's data until then)."""
    bookings = list(session.execute(select(Booking).where(Booking.client_id == client.id)
                                    .order_by(Booking.id)).scalars())
    calendars = lock_calendars(session, client.business_id, [b.calendar_id for b in bookings]) \
        if bookings else {}
    if erase and bookings:
        session.execute(delete(RenderedItem).where(
            RenderedItem.kind == "booking",
            RenderedItem.item_id.in_([booking.id for booking in bookings])))
    for booking in bookings:
        if erase:
            for name in BOOKING_FREE_TEXT:
                setattr(booking, name, None)
        booking.revision += 1
        booking.updated_at = now
        booking.seq = journal.record(session, calendars[booking.calendar_id], "booking",
                                     booking.id, booking.uid,
                                     "put" if booking.status == "confirmed" else "delete", now)
    return len(bookings)


def update_client(session: Session, business_id: int, client_id: int, *, now: dt.datetime,
                  **changes: str | None) -> Client:
    client = get_client(session, business_id, client_id)
    if client.erased_at is not None:
        raise ConflictError(f"client {client_id} was erased and cannot be changed")
    unknown = set(changes) - set(SENSITIVE_FIELDS)
    if unknown:
        raise InvalidError(f"unknown client fields: {', '.join(sorted(unknown))}")
    if "name" in changes and not changes["name"]:
        raise InvalidError("a client needs a name", field="name")
    for field, value in changes.items():
        setattr(client, field, value)
    client.updated_at = now
    _touch_bookings(session, client, now, erase=False)
    return client


def erase_client(session: Session, business_id: int, client_id: int, now: dt.datetime) -> int:
    """Replace the client's data with a placeholder and clear the free text of each of their
    bookings (BOOKING_FREE_TEXT); journal every booking so each copy is rewritten. Returns the
    number of bookings touched."""
    client = get_client(session, business_id, client_id)
    client.name = ERASED_NAME
    client.email = client.phone = client.address = client.notes = None
    client.erased_at = client.erased_at or now
    client.updated_at = now
    return _touch_bookings(session, client, now, erase=True)


def delete_client(session: Session, business_id: int, client_id: int) -> None:
    client = get_client(session, business_id, client_id)
    used = session.execute(select(Booking.id).where(Booking.client_id == client_id).limit(1))
    if used.first():
        raise ConflictError(f"client {client_id} has bookings; erase the client instead "
                            f"(POST .../clients/{client_id}/erase)")
    session.delete(client)

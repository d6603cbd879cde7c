"""ORM rows to response models, and the paging cursor."""

from __future__ import annotations

import base64
import datetime as dt
import json

from server.api.schemas.bookings import BlockedOut, BookingOut
from server.api.schemas.calendars import CalendarOut, ExceptionOut, IntervalIn
from server.api.schemas.catalog import ClientOut
from server.db.models import BlockedTime, Booking, Calendar, Client, OpeningException
from server.domain.journal import make_token
from server.domain.timeutil import zone
from server.errors import BookingCalError


class BadCursorError(BookingCalError):
    code = "bad_request"


def calendar_out(calendar: Calendar, epoch: str) -> CalendarOut:
    return CalendarOut(
        id=calendar.id, uid=calendar.uid, name=calendar.name, slug=calendar.slug,
        timezone=calendar.timezone, colour=calendar.colour, active=calendar.active,
        sync_token=make_token(epoch, calendar.journal_seq), created_at=calendar.created_at,
        updated_at=calendar.updated_at)


def client_out(client: Client) -> ClientOut:
    return ClientOut(id=client.id, name=client.name, email=client.email,
                             phone=client.phone, address=client.address, notes=client.notes,
                             erased=client.erased_at is not None, created_at=client.created_at,
                             updated_at=client.updated_at)


def booking_out(booking: Booking) -> BookingOut:
    tz = zone(booking.tzid)
    return BookingOut(
        id=booking.id, uid=booking.uid, calendar_id=booking.calendar_id,
        service_id=booking.service_id, client_id=booking.client_id, status=booking.status,
        source=booking.source, all_day=booking.all_day, start=booking.start_utc.astimezone(tz),
        end=booking.end_utc.astimezone(tz), timezone=booking.tzid,
        start_local=booking.start_local, end_local=booking.end_local,
        occupied_start=booking.occupied_start_utc.astimezone(tz),
        occupied_end=booking.occupied_end_utc.astimezone(tz), location=booking.location,
        notes=booking.notes, revision=booking.revision, sequence=booking.seq,
        created_at=booking.created_at, updated_at=booking.updated_at)


def blocked_out(item: BlockedTime) -> BlockedOut:
    tz = zone(item.tzid)
    return BlockedOut(
        id=item.id, uid=item.uid, calendar_id=item.calendar_id, title=item.title,
        all_day=item.all_day, timezone=item.tzid, start_local=item.start_local,
        end_local=item.end_local, start=item.start_utc.astimezone(tz),
        end=item.end_utc.astimezone(tz), rrule=item.rrule, exdates=json.loads(item.exdates),
        revision=item.revision, sequence=item.seq)


def exceptions_out(rows: list[OpeningException]) -> list[ExceptionOut]:
    days: dict[dt.date, list[OpeningException]] = {}
    for row in rows:
        days.setdefault(row.day, []).append(row)
    return [ExceptionOut(
        day=day, closed=all(r.opens is None for r in items),
        intervals=[IntervalIn(opens=r.opens, closes=r.closes) for r in items
                   if r.opens is not None and r.closes is not None],
        note=items[0].note) for day, items in days.items()]


def encode_cursor(*parts: object) -> str:
    raw = json.dumps([p.isoformat() if isinstance(p, dt.datetime) else p for p in parts])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *types: type) -> tuple[object, ...]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if len(raw) != len(types):
            raise ValueError
        return tuple(dt.datetime.fromisoformat(v) if t is dt.datetime else t(v)
                     for v, t in zip(raw, types))
    except (ValueError, TypeError):
        raise BadCursorError("the cursor is not one this API handed out; start from the first "
                             "page") from None

"""Bookings and blocked time."""

from __future__ import annotations

import datetime as dt

from flask import Response
from flask_openapi3 import APIBlueprint

from server.api.auth import caller
from server.api.common import reply, responses, runtime, tag
from server.api.convert import blocked_out, booking_out, decode_cursor, encode_cursor
from server.api.schemas.bookings import (
    BlockedIn, BlockedList, BlockedOut, BlockedPatch, BookingIn, BookingList, BookingOut,
    BookingPatch,
)
from server.api.schemas.paths import (
    BlockedPath, BlockedQuery, BookingPath, BookingQuery, BusinessPath,
)
from server.domain import blocked, bookings
from server.errors import ConflictError
from server.api.stale_policy import before_online_booking

bp = APIBlueprint("bookings", __name__, url_prefix="/api/v1/businesses/<int:business_id>",
                  abp_tags=[tag("bookings", "Bookings and blocked time")],
                  abp_security=[{"bearer": []}])

NULLABLE = frozenset({"client_id", "location", "notes"})


@bp.post("/bookings", responses=responses(BookingOut, 201))
def create_booking(path: BusinessPath, body: BookingIn) -> Response:
    """Book a time. 409 names every booking or blocked time it would overlap (buffers
    included). An online booking (source "online") must also fit availability: opening hours,
    notice, horizon and blocking Google events; 409 gives the reasons."""
    rt = runtime()
    caller().require_business(path.business_id)
    notes = before_online_booking(rt, path.business_id, body.calendar_id, rt.clock.now()) \
        if body.source == "online" else []
    try:
        with rt.db.write() as session:
            booking = bookings.create_booking(session, path.business_id, now=rt.clock.now(),
                                              rules=rt.config.availability, **body.model_dump())
            answer = booking_out(booking)
    except ConflictError as exc:
        if notes:
            exc.details["warnings"] = notes
        raise
    answer.warnings.extend(notes)
    return reply(answer, 201)


@bp.get("/bookings", responses=responses(BookingList))
def list_bookings(path: BusinessPath, query: BookingQuery) -> Response:
    """Bookings overlapping [start, end), in start order, paged."""
    caller().require_business(path.business_id)
    after = decode_cursor(query.cursor, dt.datetime, int) if query.cursor else None
    with runtime().db.read() as session:
        page = bookings.list_bookings(
            session, path.business_id, start=query.start, end=query.end,
            calendar_id=query.calendar_id, client_id=query.client_id, status=query.status,
            limit=query.limit, after=after)  # type: ignore[arg-type]
        return reply(BookingList(items=[booking_out(b) for b in page.items],
                                 next_cursor=encode_cursor(*page.next_cursor)
                                 if page.next_cursor else None))


@bp.get("/bookings/<int:booking_id>", responses=responses(BookingOut))
def get_booking(path: BookingPath) -> Response:
    caller().require_business(path.business_id)
    with runtime().db.read() as session:
        return reply(booking_out(bookings.get_booking(session, path.business_id,
                                                      path.booking_id)))


@bp.patch("/bookings/<int:booking_id>", responses=responses(BookingOut))
def update_booking(path: BookingPath, body: BookingPatch) -> Response:
    """Move or change a booking; null clears client_id, location or notes."""
    rt = runtime()
    caller().require_business(path.business_id)
    given = body.model_dump(exclude_unset=True)
    clear = frozenset(k for k, v in given.items() if v is None and k in NULLABLE)
    changes = {k: v for k, v in given.items() if v is not None}
    with rt.db.write() as session:
        booking = bookings.update_booking(session, path.business_id, path.booking_id,
                                          now=rt.clock.now(), clear=clear,
                                          rules=rt.config.availability, **changes)
        return reply(booking_out(booking))


@bp.post("/bookings/<int:booking_id>/cancel", responses=responses(BookingOut))
def cancel_booking(path: BookingPath) -> Response:
    """Cancel: the booking stays on record and leaves every calendar view."""
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.write() as session:
        booking = bookings.cancel_booking(session, path.business_id, path.booking_id,
                                          rt.clock.now())
        return reply(booking_out(booking))


@bp.delete("/bookings/<int:booking_id>", responses=responses(None, 204))
def delete_booking(path: BookingPath) -> Response:
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.write() as session:
        bookings.delete_booking(session, path.business_id, path.booking_id, rt.clock.now())
    return reply(None)


@bp.post("/blocked-times", responses=responses(BlockedOut, 201))
def create_blocked(path: BusinessPath, body: BlockedIn) -> Response:
    """Block personal time, optionally repeating; 409 if it overlaps a booking."""
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.read() as session:
        blocked.check_rule_first(session, path.business_id, calendar_id=body.calendar_id,
                                 start=body.start, all_day=body.all_day, rrule=body.rrule)
    with rt.db.write() as session:
        item = blocked.create_blocked(session, path.business_id, now=rt.clock.now(),
                                      **body.model_dump())
        return reply(blocked_out(item), 201)


@bp.get("/blocked-times", responses=responses(BlockedList))
def list_blocked(path: BusinessPath, query: BlockedQuery) -> Response:
    caller().require_business(path.business_id)
    with runtime().db.read() as session:
        return reply(BlockedList(items=[blocked_out(i) for i in blocked.list_blocked(
            session, path.business_id, query.calendar_id)]))


@bp.get("/blocked-times/<int:blocked_id>", responses=responses(BlockedOut))
def get_blocked(path: BlockedPath) -> Response:
    caller().require_business(path.business_id)
    with runtime().db.read() as session:
        return reply(blocked_out(blocked.get_blocked(session, path.business_id,
                                                     path.blocked_id)))


@bp.patch("/blocked-times/<int:blocked_id>", responses=responses(BlockedOut))
def update_blocked(path: BlockedPath, body: BlockedPatch) -> Response:
    """Change blocked time; `rrule: null` makes it a one-off."""
    rt = runtime()
    caller().require_business(path.business_id)
    given = body.model_dump(exclude_unset=True)
    clear_rrule = "rrule" in given and given["rrule"] is None
    changes = {k: v for k, v in given.items() if v is not None}
    with rt.db.read() as session:
        blocked.check_rule_first(session, path.business_id, blocked_id=path.blocked_id,
                                 start=changes.get("start"), all_day=changes.get("all_day"),
                                 rrule=changes.get("rrule"), clear_rrule=clear_rrule)
    with rt.db.write() as session:
        item = blocked.update_blocked(session, path.business_id, path.blocked_id,
                                      now=rt.clock.now(), clear_rrule=clear_rrule, **changes)
        return reply(blocked_out(item))


@bp.delete("/blocked-times/<int:blocked_id>", responses=responses(None, 204))
def delete_blocked(path: BlockedPath) -> Response:
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.write() as session:
        blocked.delete_blocked(session, path.business_id, path.blocked_id, rt.clock.now())
    return reply(None)

"""What a booking may not overlap: confirmed bookings and blocked time (repeating too) on the same
calendar, each taken with its occupied interval (the service's buffers included). Queries are index
range scans bounded by the calendar's longest span, so their cost does not grow with history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from server.db.models import BlockedTime, Booking, Calendar
from server.db.scope import in_calendar
from server.domain.timeutil import occurrences, to_local
from server.errors import ConflictError

GROUP = dt.timedelta(days=31)


@dataclass(frozen=True)
class Hit:
    kind: str  # "booking" or "blocked_time"
    id: int
    start: dt.datetime
    end: dt.datetime

    def as_dict(self) -> dict[str, object]:
        return {"type": self.kind, "id": self.id, "start": self.start.isoformat(),
                "end": self.end.isoformat()}

    def describe(self, tzid: str) -> str:
        start, end = to_local(self.start, tzid), to_local(self.end, tzid)
        label = "booking" if self.kind == "booking" else "blocked time"
        until = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%Y-%m-%d %H:%M}"
        return f"{label} {self.id} ({start:%Y-%m-%d %H:%M}-{until} {tzid})"


def booking_hits(session: Session, calendar: Calendar, start: dt.datetime, end: dt.datetime,
                 exclude_id: int | None = None) -> list[Hit]:
    span = dt.timedelta(seconds=calendar.max_span_seconds)
    query = (select(Booking.id, Booking.occupied_start_utc, Booking.occupied_end_utc)
             .where(in_calendar(Booking, calendar), Booking.status == "confirmed",
                    Booking.occupied_start_utc >= start - span,
                    Booking.occupied_start_utc < end, Booking.occupied_end_utc > start)
             .order_by(Booking.occupied_start_utc))
    if exclude_id is not None:
        query = query.where(Booking.id != exclude_id)
    return [Hit("booking", r.id, r.occupied_start_utc, r.occupied_end_utc)
            for r in session.execute(query)]


def blocked_hits(session: Session, calendar: Calendar, start: dt.datetime, end: dt.datetime,
                 exclude_id: int | None = None) -> list[Hit]:
    span = dt.timedelta(seconds=calendar.max_span_seconds)
    # Only blocked time that blocks (a phone's transparent personal event does not).
    one_off = select(BlockedTime).where(
        in_calendar(BlockedTime, calendar), BlockedTime.blocks.is_(True),
        BlockedTime.repeats.is_(False),
        BlockedTime.start_utc >= start - span, BlockedTime.start_utc < end,
        BlockedTime.end_utc > start)
    series = select(BlockedTime).where(
        in_calendar(BlockedTime, calendar), BlockedTime.blocks.is_(True),
        BlockedTime.repeats.is_(True),
        BlockedTime.start_utc < end,
        or_(BlockedTime.series_end_utc.is_(None), BlockedTime.series_end_utc > start))
    hits = []
    for query in (one_off, series):
        if exclude_id is not None:
            query = query.where(BlockedTime.id != exclude_id)
        for item in session.execute(query).scalars():
            for occ_start, occ_end in occurrences(item.rrule, item.exdates, item.start_local,
                                                  item.end_local, item.tzid, start, end):
                hits.append(Hit("blocked_time", item.id, occ_start, occ_end))
    return sorted(hits, key=lambda hit: hit.start)


def refuse_overlaps(session: Session, calendar: Calendar, start: dt.datetime, end: dt.datetime,
                    *, exclude_booking: int | None = None) -> None:
    """Raise ConflictError naming everything the occupied interval [start, end) would hit."""
    hits = booking_hits(session, calendar, start, end, exclude_booking) + \
        blocked_hits(session, calendar, start, end)
    if hits:
        raise ConflictError(
            "the time is taken (buffers included): it overlaps "
            + ", ".join(hit.describe(calendar.timezone) for hit in hits[:5])
            + (f" and {len(hits) - 5} more" if len(hits) > 5 else ""),
            conflicts=[hit.as_dict() for hit in hits])


def bookings_hit_by_series(session: Session, calendar: Calendar, item: BlockedTime,
                           exclude_id: int | None = None) -> list[Hit]:
    """Confirmed bookings that any occurrence of a (repeating or one-off) blocked time overlaps.
    The bookings after the item's start are taken in runs; each run is compared with the
    occurrences in its own stretch of time."""
    query = (select(Booking.id, Booking.occupied_start_utc, Booking.occupied_end_utc)
             .where(in_calendar(Booking, calendar), Booking.status == "confirmed",
                    Booking.occupied_start_utc >= item.start_utc - dt.timedelta(
                        seconds=calendar.max_span_seconds))
             .order_by(Booking.occupied_start_utc))
    if item.series_end_utc is not None:
        query = query.where(Booking.occupied_start_utc < item.series_end_utc)
    bookings = [r for r in session.execute(query) if r.occupied_end_utc > item.start_utc]
    hits: dict[int, Hit] = {}
    # The occurrences are expanded around runs of bookings at most GROUP long, never across
    # the whole stretch from the item's start to the last booking (years of a daily rule).
    index = 0
    while index < len(bookings):
        group_end = index
        while group_end < len(bookings) and bookings[group_end].occupied_start_utc \
                - bookings[index].occupied_start_utc < GROUP:
            group_end += 1
        group = bookings[index:group_end]
        low = max(item.start_utc, group[0].occupied_start_utc)
        high = max(row.occupied_end_utc for row in group)
        first = 0
        for block_start, block_end in occurrences(item.rrule, item.exdates, item.start_local,
                                                  item.end_local, item.tzid, low, high):
            while first < len(group) and group[first].occupied_end_utc <= block_start:
                first += 1
            for row in group[first:]:
                if row.occupied_start_utc >= block_end:
                    break
                if row.occupied_end_utc > block_start:
                    hits[row.id] = Hit("booking", row.id, row.occupied_start_utc,
                                       row.occupied_end_utc)
        index = group_end
    return sorted(hits.values(), key=lambda hit: hit.start)

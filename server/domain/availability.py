"""Availability: which start times of a service a calendar can take, and why the others cannot.

Pure computation over a `Schedule` (one calendar's open intervals and busy items in a window, as
loaded by server/domain/schedules.py): no I/O, so the API, the CLI, the booking check and the
admin timeline all use the same answer.

The rule for a start time `s` of a service lasting `d` with buffers `bb`/`ba`, given `now`:
- notice: `s >= now + notice`; horizon: `s <= now + horizon`;
- hours: the appointment `[s, s + d)` lies inside one open interval (buffers may lie outside);
- nothing busy overlaps the occupied interval `[s - bb, s + d + ba)`: a booking (its own
  occupied interval, buffers included), blocked time, or a Google event that blocks.
Start times are offered every `step` from each opening, counted in elapsed time, so a day of
09:00-17:00 is eight hours of starts on a DST change day too and no start is a skipped time.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

from server.config import AvailabilityConfig
from server.db.models import Service
from server.domain.timeutil import ago, to_local

UTC = dt.timezone.utc
Span = tuple[dt.datetime, dt.datetime]

# Kinds of reasons, in the order explanations list them.
OUTSIDE_HOURS = "outside_hours"
NOTICE = "notice"
HORIZON = "horizon"
BOOKING = "booking"
BUFFER = "buffer"
BLOCKED = "blocked_time"
GOOGLE = "google_event"
MICROSOFT = "microsoft_event"  # busy time mirrored from Outlook (Microsoft Graph)
ICS = "ics_event"  # busy time of a subscribed ICS URL (server/ics/)
CALDAV = "caldav_event"  # busy time mirrored from a CalDAV calendar (iCloud, Fastmail, ...)
MIRRORED = (GOOGLE, MICROSOFT, ICS, CALDAV)  # busy time of another calendar: blocks online booking


@dataclass(frozen=True)
class Rules:
    """A service's timing as online booking applies it."""

    duration: dt.timedelta
    buffer_before: dt.timedelta
    buffer_after: dt.timedelta
    step: dt.timedelta
    notice: dt.timedelta
    horizon: dt.timedelta


def rules_for(service: Service, defaults: AvailabilityConfig) -> Rules:
    """The service's rules, its own values first, the configuration's defaults otherwise."""
    def pick(own: int | None, default: int) -> int:
        return default if own is None else own
    return Rules(
        duration=dt.timedelta(minutes=service.duration_minutes),
        buffer_before=dt.timedelta(minutes=service.buffer_before_minutes),
        buffer_after=dt.timedelta(minutes=service.buffer_after_minutes),
        step=dt.timedelta(minutes=pick(service.slot_step_minutes, defaults.slot_step_minutes)),
        notice=dt.timedelta(minutes=pick(service.min_notice_minutes,
                                         defaults.min_notice_minutes)),
        horizon=dt.timedelta(days=pick(service.max_horizon_days, defaults.max_horizon_days)))


@dataclass(frozen=True)
class Busy:
    """Something that blocks: `start`/`end` is the time it takes (a booking's occupied interval,
    buffers included); `core` is a booking's appointment itself, without its buffers."""

    kind: str  # BOOKING, BLOCKED, GOOGLE, MICROSOFT or ICS
    ref: str  # booking or blocked time id, or the Google event id
    start: dt.datetime
    end: dt.datetime
    core: Span | None = None
    google_calendar: str | None = None
    title: str | None = None  # a Google event's title, only when the caller may see it
    all_day: bool = False


@dataclass(frozen=True)
class Reason:
    """Why a time cannot be booked. As an interval of the timeline, [start, end) is the time
    itself; in a refused start's list, it names what the start would collide with."""

    kind: str
    start: dt.datetime
    end: dt.datetime
    ref: str | None = None
    cause: str | None = None  # for BUFFER: the kind of item the buffer is around
    google_calendar: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class Refused:
    """A run of consecutive offered start times (first..last) refused for the same reasons."""

    first: dt.datetime
    last: dt.datetime
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class FreeAllDay:
    """An all-day Google event marked free (transparent): it blocks nothing, though in Google
    Calendar it looks like a day off. `days`: the local days of the window it covers."""

    event_id: str
    summary: str | None  # to key holders only
    days: tuple[dt.date, ...]


@dataclass
class Schedule:
    """One calendar in a window [start, end): its open intervals and what is busy, in UTC."""

    calendar_id: int
    timezone: str
    start: dt.datetime
    end: dt.datetime
    open: list[Span]
    busy: list[Busy]
    warnings: list[str] = field(default_factory=list)
    synced_at: dt.datetime | None = None  # when the bridge last read the Google calendar
    google_calendar: str | None = None  # the Google calendar whose events block, if any
    free_all_day: list[FreeAllDay] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.open.sort()
        self.busy.sort(key=lambda item: (item.start, item.end))
        self._starts = [item.start for item in self.busy]
        self._opens = [low for low, _ in self.open]
        self._longest = max((item.end - item.start for item in self.busy),
                            default=dt.timedelta(0))

    def overlapping(self, start: dt.datetime, end: dt.datetime) -> list[Busy]:
        """Busy items overlapping [start, end), by a bisect bounded by the longest item."""
        first = bisect_left(self._starts, start - self._longest)
        found = []
        for item in self.busy[first:]:
            if item.start >= end:
                break
            if item.end > start:
                found.append(item)
        return found

    def open_span(self, start: dt.datetime, end: dt.datetime) -> bool:
        """Whether [start, end) lies inside one open interval (they do not overlap)."""
        index = bisect_right(self._opens, start) - 1
        return index >= 0 and end <= self.open[index][1]


def _item_reason(item: Busy, kind: str | None = None) -> Reason:
    """The item as a reason: a booking by its appointment, its buffer by the whole occupied
    interval."""
    start, end = item.core if item.core is not None and kind != BUFFER else (item.start,
                                                                               item.end)
    return Reason(kind or item.kind, start, end, item.ref,
                  cause=item.kind if kind == BUFFER else None,
                  google_calendar=item.google_calendar, title=item.title)


def refusals(schedule: Schedule, rules: Rules, now: dt.datetime, start: dt.datetime,
             end: dt.datetime | None = None, *, online: bool = True) -> list[Reason]:
    """Why the appointment [start, end) (end defaults to start + duration) cannot be booked;
    empty if it can. A staff booking (`online=False`) is held to overlaps with bookings and
    blocked time only: it may lie outside hours, in the past or far ahead."""
    end = end or start + rules.duration
    found: list[Reason] = []
    if online:
        if start < now + rules.notice:
            found.append(Reason(NOTICE, start, now + rules.notice))
        if start > now + rules.horizon:
            found.append(Reason(HORIZON, now + rules.horizon, start))
        if not schedule.open_span(start, end):
            found.append(Reason(OUTSIDE_HOURS, start, end))
    occupied_start, occupied_end = start - rules.buffer_before, end + rules.buffer_after
    for item in schedule.overlapping(occupied_start, occupied_end):
        if not online and item.kind in MIRRORED:
            continue
        core_start, core_end = item.core or (item.start, item.end)
        touches = core_start < end and core_end > start
        found.append(_item_reason(item, None if touches else BUFFER))
    return found


def candidates(schedule: Schedule, rules: Rules) -> list[dt.datetime]:
    """Every start time offered in the window: each opening, then every step while the
    appointment still ends by the closing."""
    found = []
    for opens, closes in schedule.open:
        moment = opens
        while moment + rules.duration <= closes:
            if schedule.start <= moment < schedule.end:
                found.append(moment)
            moment += rules.step
    return found


def slots(schedule: Schedule, rules: Rules, now: dt.datetime) -> list[dt.datetime]:
    """The bookable start times, in UTC, in time order."""
    return [moment for moment in candidates(schedule, rules)
            if not refusals(schedule, rules, now, moment)]


def _reason_key(reason: Reason) -> tuple[str, str | None]:
    return reason.kind, reason.ref


def refused(schedule: Schedule, rules: Rules, now: dt.datetime) -> list[Refused]:
    """The offered start times that cannot be booked, in runs sharing the same reasons."""
    runs: list[Refused] = []
    previous: dt.datetime | None = None
    for moment in candidates(schedule, rules):
        reasons = refusals(schedule, rules, now, moment)
        if not reasons:
            previous = None
            continue
        # Notice and horizon intervals depend on the start; compare by kind and item only.
        key = [_reason_key(r) for r in reasons]
        last = runs[-1] if runs else None
        if last is not None and previous == last.last and \
                [_reason_key(r) for r in last.reasons] == key:
            runs[-1] = Refused(last.first, moment, last.reasons)
        else:
            runs.append(Refused(moment, moment, tuple(reasons)))
        previous = moment
    return runs


def timeline(schedule: Schedule, rules: Rules, now: dt.datetime) -> list[Reason]:
    """Every interval of the window that cannot be booked, with why: closed time, notice and
    horizon, and each busy item (a booking's own buffers as BUFFER around it)."""
    found: list[Reason] = []
    cursor = schedule.start
    for opens, closes in schedule.open:
        if opens > cursor:
            found.append(Reason(OUTSIDE_HOURS, cursor, min(opens, schedule.end)))
        cursor = max(cursor, closes)
    if cursor < schedule.end:
        found.append(Reason(OUTSIDE_HOURS, cursor, schedule.end))
    if now + rules.notice > schedule.start:
        found.append(Reason(NOTICE, schedule.start, min(now + rules.notice, schedule.end)))
    if now + rules.horizon < schedule.end:
        found.append(Reason(HORIZON, max(now + rules.horizon, schedule.start), schedule.end))
    for item in schedule.busy:
        if item.end <= schedule.start or item.start >= schedule.end:
            continue
        if item.core is None:
            found.append(_item_reason(item))
            continue
        core_start, core_end = item.core
        found.append(Reason(item.kind, core_start, core_end, item.ref))
        for low, high in ((item.start, core_start), (core_end, item.end)):
            if high > low:
                found.append(Reason(BUFFER, low, high, item.ref, cause=item.kind))
    return sorted((r for r in found if r.end > r.start), key=lambda r: (r.start, r.end, r.kind))


def describe_age(synced_at: dt.datetime | None, now: dt.datetime) -> str:
    """'synced 12 s ago' (or min, h, days), or 'never synced'."""
    return "never synced" if synced_at is None else f"synced {ago(synced_at, now)}"


def describe(reason: Reason, tzid: str) -> str:
    """One line for a person: what stands in the way, in the calendar's local time."""
    start, end = to_local(reason.start, tzid), to_local(reason.end, tzid)
    until = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%Y-%m-%d %H:%M}"
    when = f"{start:%Y-%m-%d %H:%M}-{until}"
    if reason.kind == OUTSIDE_HOURS:
        return f"{when} is outside opening hours"
    if reason.kind == NOTICE:
        return f"bookings need notice until {end:%Y-%m-%d %H:%M}"
    if reason.kind == HORIZON:
        return f"bookings open only until {start:%Y-%m-%d %H:%M}"
    labels = {BOOKING: "booking", BLOCKED: "blocked time", GOOGLE: "Google event",
              MICROSOFT: "Outlook event", ICS: "calendar link event",
              CALDAV: "CalDAV event"}
    if reason.kind == BUFFER:
        return f"the buffer around {labels.get(reason.cause or '', 'an item')} {reason.ref} " \
               f"({when})"
    label = f"{labels[reason.kind]} {reason.ref}"
    if reason.kind in MIRRORED:
        where = {GOOGLE: "Google calendar", MICROSOFT: "Outlook calendar"}.get(
            reason.kind, "calendar link" if reason.kind == ICS else "CalDAV calendar")
        label += f" in {where} {reason.google_calendar}"
        if reason.title:
            label += f" ({reason.title!r})"
    return f"{label} ({when})"


def free_all_day_warnings(schedule: Schedule, found: list[dt.datetime]) -> list[str]:
    """A warning for each all-day Google event marked free on a day that still offers start
    times (`found`, the schedule's slots): it looks like a day off in Google Calendar but
    leaves the day bookable. A day that is closed or fully taken anyway gets none: there the
    event changes nothing."""
    bookable = {to_local(moment, schedule.timezone).date() for moment in found}
    warnings = []
    for event in schedule.free_all_day:
        days = [day for day in event.days if day in bookable]
        if days:
            warnings.append(
                f"the all-day Google event {event.event_id}"
                + (f" ({event.summary!r})" if event.summary else "")
                + f" on {', '.join(str(day) for day in days)} is marked free, so it does not "
                "block booking and the day stays bookable; mark it busy in Google Calendar to "
                "block the day")
    return warnings

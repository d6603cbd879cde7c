"""Clock, RFC 3339 values, event start/end values and recurrence expansion for the fake."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rruleset, rrulestr

UTC = dt.timezone.utc

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class FakeClock:
    """The fake's notion of now: real time plus an offset, or frozen at a given instant."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._frozen = start.astimezone(UTC) if start is not None else None
        self._offset = dt.timedelta(0)

    def now(self) -> dt.datetime:
        with self._lock:
            base = self._frozen if self._frozen is not None else dt.datetime.now(UTC)
            return base + self._offset

    def advance(self, delta: dt.timedelta | float) -> None:
        """Move time forward (tokens and codes expire, channels lapse)."""
        step = delta if isinstance(delta, dt.timedelta) else dt.timedelta(seconds=delta)
        with self._lock:
            self._offset += step


# ----------------------------------------------------------------------- RFC 3339


def parse_rfc3339(value: str, *, require_offset: bool = True) -> dt.datetime:
    """Parse an RFC 3339 timestamp; without an offset it is naive (only if allowed)."""
    match = _RFC3339.match(value)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction, offset = match.group(7), match.group(8)
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    if offset is None:
        if require_offset:
            raise ValueError(f"time zone offset missing: {value!r}")
        tz: dt.tzinfo | None = None
    elif offset in ("Z", "z"):
        tz = UTC
    else:
        sign = 1 if offset[0] == "+" else -1
        tz = dt.timezone(sign * dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
    return dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)


def format_utc_ms(value: dt.datetime) -> str:
    """``2024-01-01T10:00:00.123Z``: how Google writes ``updated`` and ``created``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def format_in_zone(value: dt.datetime, zone: str) -> str:
    """``2024-01-01T11:00:00+01:00`` (``Z`` for UTC), as Google renders ``dateTime``."""
    local = value.astimezone(zone_info(zone))
    offset = local.utcoffset() or dt.timedelta(0)
    if offset == dt.timedelta(0) and zone in ("UTC", "Etc/UTC", "GMT", "Etc/GMT"):
        return local.strftime("%Y-%m-%dT%H:%M:%SZ")
    total = int(offset.total_seconds())
    sign = "+" if total >= 0 else "-"
    hours, minutes = divmod(abs(total) // 60, 60)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{hours:02d}:{minutes:02d}"


def zone_info(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def is_zone(name: str) -> bool:
    try:
        zone_info(name)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------- start / end


@dataclass(frozen=True)
class When:
    """One validated ``EventDateTime``: an all-day date, or an instant with an optional zone."""

    day: dt.date | None = None
    instant: dt.datetime | None = None  # aware, UTC
    zone: str | None = None

    @property
    def all_day(self) -> bool:
        return self.day is not None

    def utc(self, calendar_zone: str) -> dt.datetime:
        """The instant it starts (all-day dates: midnight in the calendar's zone)."""
        if self.day is not None:
            return dt.datetime.combine(self.day, dt.time(), zone_info(calendar_zone)).astimezone(UTC)
        assert self.instant is not None
        return self.instant

    def render(self, display_zone: str) -> dict[str, Any]:
        if self.day is not None:
            return {"date": self.day.isoformat()}
        assert self.instant is not None
        if self.zone is not None:
            return {"dateTime": format_in_zone(self.instant, self.zone), "timeZone": self.zone}
        return {"dateTime": format_in_zone(self.instant, display_zone)}

    def shifted(self, delta: dt.timedelta) -> When:
        if self.day is not None:
            return When(day=self.day + dt.timedelta(days=delta.days))
        assert self.instant is not None
        return When(instant=self.instant + delta, zone=self.zone)


def parse_when(value: Any, what: str) -> When:
    """Validate a ``start``/``end``/``originalStartTime`` object; ``ValueError`` names the problem."""
    if not isinstance(value, dict):
        raise ValueError(f"Invalid {what} time.")
    unknown = set(value) - {"date", "dateTime", "timeZone"}
    if unknown:
        raise ValueError(f"Invalid {what} time.")
    date, date_time, zone = value.get("date"), value.get("dateTime"), value.get("timeZone")
    if zone is not None and (not isinstance(zone, str) or not is_zone(zone)):
        raise ValueError(f"Invalid time zone definition for {what} time.")
    if date is not None and date_time is not None:
        raise ValueError(f"Invalid {what} time.")
    if date is not None:
        if not isinstance(date, str) or not _DATE.match(date):
            raise ValueError(f"Invalid {what} time.")
        try:
            return When(day=dt.date.fromisoformat(date))
        except ValueError:
            raise ValueError(f"Invalid {what} time.") from None
    if date_time is None:
        raise ValueError(f"Missing {what} time.")
    if not isinstance(date_time, str):
        raise ValueError(f"Invalid {what} time.")
    try:
        parsed = parse_rfc3339(date_time, require_offset=False)
    except ValueError:
        raise ValueError(f"Invalid {what} time.") from None
    if parsed.tzinfo is None:
        if zone is None:
            raise ValueError(f"Missing time zone definition for {what} time.")
        parsed = parsed.replace(tzinfo=zone_info(zone))
    return When(instant=parsed.astimezone(UTC), zone=zone)


# ------------------------------------------------------------------- recurrence


@dataclass(frozen=True)
class Occurrence:
    key: str  # ``20240101T090000Z`` (timed, UTC) or ``20240101`` (all-day)
    original: When
    start: When
    end: When


_MAX_STEPS = 200_000


class Recurrence:
    """The RRULE/EXRULE/RDATE/EXDATE lines of one recurring event, expanded in its zone."""

    def __init__(self, lines: list[str], start: When, end: When, calendar_zone: str) -> None:
        self.start = start
        self.duration = end.utc(calendar_zone) - start.utc(calendar_zone)
        self.end = end
        self.zone = start.zone or calendar_zone
        self._tz = zone_info(self.zone)
        self._set = rruleset()
        self._dtstart = self._local_start()
        if not lines:
            raise ValueError("Invalid recurrence rule.")
        for line in lines:
            self._add_line(line)

    def _local_start(self) -> dt.datetime:
        if self.start.day is not None:
            return dt.datetime.combine(self.start.day, dt.time())
        assert self.start.instant is not None
        return self.start.instant.astimezone(self._tz).replace(tzinfo=None)

    def _add_line(self, line: str) -> None:
        if not isinstance(line, str) or ":" not in line:
            raise ValueError("Invalid recurrence rule.")
        head, _, value = line.partition(":")
        name, *raw_params = head.split(";")
        params = dict(p.split("=", 1) for p in raw_params if "=" in p)
        name = name.upper()
        try:
            if name in ("RRULE", "EXRULE"):
                rule = self._rule(value)
                (self._set.rrule if name == "RRULE" else self._set.exrule)(rule)
            elif name in ("RDATE", "EXDATE"):
                for item in value.split(","):
                    when = self._local_value(item.strip(), params.get("TZID"))
                    (self._set.rdate if name == "RDATE" else self._set.exdate)(when)
            else:
                raise ValueError(name)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError("Invalid recurrence rule.") from exc

    def _rule(self, value: str) -> rrule:
        parts = []
        for part in value.split(";"):
            key, _, val = part.partition("=")
            if key.upper() == "UNTIL":
                until = self._local_value(val, None, end_of_day=True)
                val = until.strftime("%Y%m%dT%H%M%S")
            parts.append(f"{key}={val}")
        rule = rrulestr(";".join(parts), dtstart=self._dtstart)
        if not isinstance(rule, rrule):
            raise ValueError(value)
        return rule

    def _local_value(self, text: str, tzid: str | None, *, end_of_day: bool = False) -> dt.datetime:
        """An iCalendar DATE or DATE-TIME as naive wall-clock time in the event's zone."""
        if re.fullmatch(r"\d{8}", text):
            day = dt.datetime.strptime(text, "%Y%m%d")
            if end_of_day and self.start.day is None:
                return day.replace(hour=23, minute=59, second=59)
            return day
        match = re.fullmatch(r"(\d{8}T\d{6})(Z?)", text)
        if match is None:
            raise ValueError(text)
        naive = dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S")
        if match.group(2):
            aware = naive.replace(tzinfo=UTC)
        elif tzid is not None:
            aware = naive.replace(tzinfo=zone_info(tzid))
        else:
            return naive  # floating: the event's own zone
        local = aware.astimezone(self._tz).replace(tzinfo=None)
        if self.start.day is not None:
            return local.replace(hour=0, minute=0, second=0) if not end_of_day else local
        return local

    def _occurrence(self, local: dt.datetime) -> Occurrence:
        if self.start.day is not None:
            original = When(day=local.date())
            key = local.strftime("%Y%m%d")
            return Occurrence(key, original, original, original.shifted(self.duration))
        instant = local.replace(tzinfo=self._tz).astimezone(UTC)
        original = When(instant=instant, zone=self.start.zone)
        key = instant.strftime("%Y%m%dT%H%M%SZ")
        return Occurrence(key, original, original, When(instant=instant + self.duration, zone=self.end.zone))

    def occurrences(self, before: dt.datetime, after: dt.datetime | None = None) -> Iterator[Occurrence]:
        """Occurrences starting before ``before`` and (if given) ending after ``after``."""
        for steps, local in enumerate(self._set):
            if steps > _MAX_STEPS:
                return
            occurrence = self._occurrence(local)
            start = occurrence.start.utc(self.zone)
            if start >= before:
                return
            if after is not None and start + self.duration <= after:
                continue
            yield occurrence

    def find(self, key: str) -> Occurrence | None:
        """The occurrence an instance id suffix names, if the rule produces it."""
        try:
            if re.fullmatch(r"\d{8}", key):
                local = dt.datetime.strptime(key, "%Y%m%d")
                if self.start.day is None:
                    return None
            elif re.fullmatch(r"\d{8}T\d{6}Z", key):
                if self.start.day is not None:
                    return None
                instant = dt.datetime.strptime(key, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
                local = instant.astimezone(self._tz).replace(tzinfo=None)
            else:
                return None
        except ValueError:
            return None
        hits = self._set.between(local, local, inc=True)
        return self._occurrence(hits[0]) if hits else None

"""The picture of a day on the availability page: one lane per kind of stretch, bars placed by
their local start and end, hour lines, and a mark at every start time that can be booked. Pure
layout (numbers in the SVG's own units, colours by CSS class), because the pages' Content
Security Policy allows no inline style; the ordered list beside it stays the text version."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Protocol

WIDTH = 1000  # viewBox units
LABEL_WIDTH = 150  # the lane names on the left
RIGHT_MARGIN = 20
HEADER = 28  # the hour numbers on top
LANE = 30
GAP = 8
# The lanes, top to bottom, and which kinds of stretch each shows.
LANES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Open", ("open",)),
    ("Closed", ("outside_hours", "notice", "horizon")),
    ("Bookings", ("booking",)),
    ("Buffers", ("buffer",)),
    ("Blocked time", ("blocked_time",)),
    ("Google events", ("google_event",)),
    ("Outlook events", ("microsoft_event",)),
    ("Calendar link events", ("ics_event",)),
    ("CalDAV events", ("caldav_event",)),
)
SLOTS_LANE = "Can start"
QUIET = {"outside_hours", "notice", "horizon"}  # do not decide which hours are shown


class Piece(Protocol):
    @property
    def start(self) -> dt.datetime: ...  # local
    @property
    def end(self) -> dt.datetime: ...
    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def why(self) -> str: ...


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class LaneLabel:
    y: float  # baseline
    text: str


@dataclass(frozen=True)
class Chart:
    height: float
    top: float  # where the lanes start (hour lines run from here to the bottom)
    lanes: list[LaneLabel]
    bars: list[Bar]
    hours: list[Tick]


def minute_of_day(moment: dt.datetime, day: dt.date) -> int:
    """Minutes since the day's local midnight by the wall clock; 1440 for the next midnight."""
    if moment.date() > day:
        return 1440
    if moment.date() < day:
        return 0
    return moment.hour * 60 + moment.minute


def _shown_hours(pieces: list[Piece], slots: list[dt.datetime], day: dt.date) -> tuple[int, int]:
    """The hours worth showing: those of everything but closed time, an hour either side."""
    marks = [minute_of_day(p.start, day) for p in pieces if p.kind not in QUIET] + \
        [minute_of_day(p.end, day) for p in pieces if p.kind not in QUIET] + \
        [minute_of_day(s, day) for s in slots]
    if not marks:
        return 0, 24
    return max(0, min(marks) // 60 - 1), min(24, -(-max(marks) // 60) + 1)


def lay_out(pieces: Iterable[Piece], slots: Iterable[dt.datetime], day: dt.date) -> Chart:
    pieces, slots = list(pieces), list(slots)
    first, last = _shown_hours(pieces, slots, day)
    low, high = first * 60, last * 60
    scale = (WIDTH - LABEL_WIDTH - RIGHT_MARGIN) / (high - low)

    def x_of(minute: int) -> float:
        return round(LABEL_WIDTH + (min(max(minute, low), high) - low) * scale, 2)

    lanes: list[LaneLabel] = []
    bars: list[Bar] = []
    y = float(HEADER)
    for name, kinds in LANES:
        found = [p for p in pieces if p.kind in kinds]
        if not found:
            continue
        lanes.append(LaneLabel(y + LANE * 0.68, name))
        for piece in found:
            start, end = minute_of_day(piece.start, day), minute_of_day(piece.end, day)
            left, right = x_of(start), x_of(end)
            if right <= left:
                continue
            until = "24:00" if end == 1440 else piece.end.strftime("%H:%M")
            bars.append(Bar(left, y, round(right - left, 2), LANE, f"kind-{piece.kind}",
                            f"{piece.start:%H:%M}–{until} {piece.name}: {piece.why}"))
        y += LANE + GAP
    if slots:
        lanes.append(LaneLabel(y + LANE * 0.68, SLOTS_LANE))
        for slot in slots:
            bars.append(Bar(round(x_of(minute_of_day(slot, day)) - 2, 2), y, 4, LANE,
                            "slot", f"{slot:%H:%M} can be booked"))
        y += LANE + GAP
    step = 1 if last - first <= 12 else 2 if last - first <= 18 else 3
    hours = [Tick(x_of(hour * 60), f"{hour:02d}") for hour in range(first, last + 1)
             if (hour - first) % step == 0]
    return Chart(height=y, top=float(HEADER), lanes=lanes, bars=bars, hours=hours)

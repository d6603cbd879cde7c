"""The availability page's day picture (server/admin/timeline.py): which hours it shows, where
bars go, which lanes appear."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from server.admin import timeline

DAY = dt.date(2026, 12, 1)


@dataclass(frozen=True)
class Piece:
    start: dt.datetime
    end: dt.datetime
    kind: str
    name: str = "x"
    why: str = "because"


def at(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute))


def test_bars_are_placed_by_minute_between_the_shown_hours() -> None:
    chart = timeline.lay_out([Piece(at(0), at(9), "outside_hours"), Piece(at(9), at(17), "open"),
                              Piece(at(10, 30), at(11, 15), "booking", "Booking", "booking 1")],
                             [at(9), at(12)], DAY)
    # Closed time does not widen the picture: 08 to 18, an hour either side of the rest.
    assert [t.label for t in chart.hours] == [f"{h:02d}" for h in range(8, 19)]
    x = {t.label: t.x for t in chart.hours}
    hour = x["09"] - x["08"]
    assert x["08"] == timeline.LABEL_WIDTH
    assert x["18"] == timeline.WIDTH - timeline.RIGHT_MARGIN
    booking = next(b for b in chart.bars if b.css == "kind-booking")
    assert abs(booking.x - (x["10"] + hour / 2)) < 0.01
    assert abs(booking.width - hour * 0.75) < 0.01
    assert booking.title == "10:30–11:15 Booking: booking 1"
    closed = next(b for b in chart.bars if b.css == "kind-outside_hours")
    assert closed.x == x["08"] and abs(closed.width - hour) < 0.01  # clipped to the picture
    assert [lane.text for lane in chart.lanes] == ["Open", "Closed", "Bookings", "Can start"]
    marks = [b for b in chart.bars if b.css == "slot"]
    assert [round(b.x + b.width / 2, 2) for b in marks] == [x["09"], x["12"]]
    assert len({lane.y for lane in chart.lanes}) == 4  # one row each


def test_a_closed_day_shows_all_of_it_and_ends_at_24() -> None:
    chart = timeline.lay_out([Piece(at(0), at(0, day=DAY + dt.timedelta(days=1)),
                                    "outside_hours", "Closed", "closed")], [], DAY)
    assert chart.hours[0].label == "00" and chart.hours[-1].label == "24"
    assert len(chart.hours) == 9  # every third hour on a day this long
    [bar] = chart.bars
    assert bar.x == timeline.LABEL_WIDTH
    assert bar.x + bar.width == timeline.WIDTH - timeline.RIGHT_MARGIN
    assert bar.title.startswith("00:00–24:00 Closed")
    assert [lane.text for lane in chart.lanes] == ["Closed"]

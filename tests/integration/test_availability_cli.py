"""`bookingcal availability CALENDAR SERVICE DATE` prints a day as a table: every start time,
bookable or refused with its reason, the unavailable intervals; user errors are one line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from server.domain import blocked, bookings, businesses, calendars, hours, services
from test_cli import Cli


def test_a_day_as_a_table(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    cli.ok("db", "upgrade")
    # The command reads the system clock: a day well inside notice and horizon.
    now = dt.datetime.now(dt.timezone.utc)
    day = now.date() + dt.timedelta(days=10)
    db = cli.database()
    with db.write() as session:
        business = businesses.create_business(session, name="Salon",
                                              timezone="Europe/Copenhagen", now=now).id
        anna = calendars.create_calendar(session, business, name="Anna", now=now).id
        service = services.create_service(session, business, name="Haircut",
                                          duration_minutes=60, buffer_after_minutes=30,
                                          slot_step_minutes=60, now=now).id
        hours.set_weekly(session, business, anna, [
            hours.Interval(weekday, dt.time(9), dt.time(13)) for weekday in range(7)])
        booking = bookings.create_booking(session, business, calendar_id=anna,
                                          service_id=service, now=now,
                                          start=dt.datetime.combine(day, dt.time(10))).id
        item = blocked.create_blocked(session, business, calendar_id=anna, now=now,
                                      start=dt.datetime.combine(day, dt.time(12)),
                                      end=dt.datetime.combine(day, dt.time(13))).id
    db.dispose()
    output = cli.ok("availability", str(anna), str(service), day.isoformat()).stdout
    lines = output.splitlines()
    assert lines[0].startswith(f"Anna (calendar {anna}), Haircut (60 min, buffers 0/30 min), "
                               f"{day}, Europe/Copenhagen")
    assert lines[2].split() == ["START", "STATUS", "WHY"]
    rows = {line[:5]: line[14:].split(maxsplit=1) for line in lines[3:7]}
    # The booking takes 10:00-11:00 and its buffer until 11:30; 09:00 would reach into it with
    # the new appointment's own buffer, 11:00 starts inside the booking's buffer.
    assert rows == {
        "09:00": ["refused", f"the buffer around booking {booking} ({day} 10:00-11:30)"],
        "10:00": ["refused", f"booking {booking} ({day} 10:00-11:00)"],
        "11:00": ["refused", f"the buffer around booking {booking} ({day} 10:00-11:30); "
                  f"the buffer around blocked time {item} ({day} 12:00-13:00)"],
        "12:00": ["refused", f"blocked time {item} ({day} 12:00-13:00)"]}
    assert lines[8] == "UNAVAILABLE"
    assert lines[9] == f"{day} 00:00-09:00 is outside opening hours"
    assert f"the buffer around booking {booking} ({day} 11:00-11:30)" in lines
    assert "Google" not in output
    assert cli.fails("availability", "999", str(service), day.isoformat()) == [
        "error: calendar 999 does not exist; see GET /api/v1/businesses/<id>/calendars"]
    assert "Invalid value" in cli("availability", str(anna), str(service), "tomorrow").output
    assert cli.fails("availability", str(anna), str(service), "9999-12-31") == [
        "error: ask for days between 1900-01-01 and 9000-01-01"]

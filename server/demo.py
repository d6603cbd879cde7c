"""The demo business: three employees, a few services, clients with realistic names and about 500
bookings around today, spanning DST changes. Written through the domain layer like any data."""

from __future__ import annotations

import datetime as dt
import random
from typing import Callable

from sqlalchemy import select

from server.db import Database
from server.db.models import Business
from server.domain import blocked, bookings, businesses, calendars, clients, hours, services
from server.domain.timeutil import zone
from server.errors import ConflictError

DEMO_NAME = "Studio Nord (demo)"
EMPLOYEES = (("Anna Berg", "#d06b64"), ("Mikkel Holm", "#4986e7"), ("Sofie Lund", "#16a765"))
SERVICES = (("Haircut", 45, 0, 15), ("Colour", 90, 10, 15), ("Beard trim", 20, 0, 5),
            ("Consultation", 30, 0, 0), ("Wash & blow-dry", 40, 0, 10))
FIRST = ("Emma", "Lukas", "Ida", "William", "Freja", "Noah", "Clara", "Oscar", "Alma", "Victor",
         "Astrid", "Magnus", "Karla", "Elias", "Agnes", "Johan", "Laura", "Frederik", "Maja",
         "Anton", "Ella", "Carl", "Olivia", "August", "Mathilde", "Sebastian", "Nora", "Malthe")
LAST = ("Jensen", "Nielsen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen",
        "Sørensen", "Rasmussen", "Jørgensen", "Petersen", "Madsen", "Kristensen", "Olsen",
        "Thomsen", "Poulsen", "Johansen", "Møller", "Mortensen", "Østergaard")
STREETS = ("Nørregade", "Vestergade", "Algade", "Strandvejen", "Kongensgade", "Åboulevarden")


def demo_exists(db: Database) -> bool:
    with db.read() as session:
        return session.execute(select(Business.id).where(Business.name == DEMO_NAME)).first() \
            is not None


def load_demo(db: Database, now: dt.datetime, *, seed: int = 7, days_back: int = 60,
              days_ahead: int = 150, target_bookings: int = 500,
              progress: Callable[[int], None] | None = None) -> int:
    """Create the demo business; return its id. The window around `now` crosses the October
    and March DST changes of Europe/Copenhagen."""
    rng = random.Random(seed)
    tzid = "Europe/Copenhagen"
    with db.write() as session:
        business = businesses.create_business(session, name=DEMO_NAME, timezone=tzid, now=now)
        business_id = business.id
        calendar_ids = []
        for name, colour in EMPLOYEES:
            calendar = calendars.create_calendar(session, business_id, name=name, colour=colour,
                                                 now=now)
            calendar_ids.append(calendar.id)
            hours.set_weekly(session, business_id, calendar.id, [
                hours.Interval(day, dt.time(9), dt.time(17)) for day in range(5)] + [
                hours.Interval(5, dt.time(10), dt.time(14))])
        service_rows = [services.create_service(
            session, business_id, name=name, duration_minutes=minutes,
            buffer_before_minutes=before, buffer_after_minutes=after, now=now)
            for name, minutes, before, after in SERVICES]
        client_ids = []
        for _ in range(80):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            client = clients.create_client(
                session, business_id, name=f"{first} {last}", now=now,
                email=f"{first}.{last}{rng.randint(1, 99)}@example.com".lower()
                .replace("ø", "oe").replace("å", "aa").replace("æ", "ae"),
                phone=f"+45 {rng.randint(20, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} "
                      f"{rng.randint(10, 99)}",
                address=f"{rng.choice(STREETS)} {rng.randint(1, 120)}, Aarhus",
                notes=rng.choice([None, "Prefers mornings", "Allergic to ammonia",
                                  "Sensitive scalp", None]))
            client_ids.append(client.id)
        today = now.astimezone(zone(tzid)).date()
        for calendar_id in calendar_ids:
            blocked.create_blocked(session, business_id, calendar_id=calendar_id,
                                   title="Lunch", start=dt.datetime.combine(
                                       today - dt.timedelta(days=days_back), dt.time(12)),
                                   end=dt.datetime.combine(
                                       today - dt.timedelta(days=days_back), dt.time(12, 30)),
                                   rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", now=now)
        blocked.create_blocked(session, business_id, calendar_id=calendar_ids[0],
                               title="Holiday", all_day=True,
                               start=today + dt.timedelta(days=30),
                               end=today + dt.timedelta(days=33), now=now)

    made = 0
    days = [today + dt.timedelta(days=offset) for offset in range(-days_back, days_ahead)]
    per_day = max(1, target_bookings // max(1, sum(d.weekday() < 6 for d in days)))
    for day in days:
        if day.weekday() == 6 or made >= target_bookings:
            continue
        with db.write() as session:
            for _ in range(per_day + 2):
                if made >= target_bookings:
                    break
                service = rng.choice(service_rows)
                opening = 10 if day.weekday() == 5 else 9
                closing = 14 if day.weekday() == 5 else 17
                hour = rng.randint(opening, closing - 2)
                start = dt.datetime.combine(day, dt.time(hour, rng.choice((0, 15, 30, 45))))
                try:
                    with session.begin_nested():
                        bookings.create_booking(
                            session, business_id, calendar_id=rng.choice(calendar_ids),
                            service_id=service.id, client_id=rng.choice(client_ids),
                            start=start, now=now, source=rng.choice(("staff", "online")),
                            notes=rng.choice([None, "Bring reference photo", "First visit"]))
                    made += 1
                except ConflictError:
                    continue
        if progress is not None:
            progress(1)
    return business_id

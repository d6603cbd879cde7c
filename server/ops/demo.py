"""The demo business: three employees, a few services, clients with realistic names and about 500
bookings around today, spanning DST changes. Written through the domain layer like any data."""

from __future__ import annotations

import datetime as dt
import random
import secrets
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.config import AvailabilityConfig
from server.db import Database
from server.db.models import Business, Service
from server.domain import (
    blocked, bookings, businesses, calendars, clients, hours, links, services,
)
from server.domain.timeutil import zone
from server.errors import ConflictError
from server.keys import Keyring

DEMO_NAME = "Studio Nord (demo)"
# 240 days around today: longer than the 7 months between DST changes, so at least one change
# (usually two) of Europe/Copenhagen lies among the bookings whatever the date.
DAYS_BACK, DAYS_AHEAD = 120, 120
DEMO_DAYS = DAYS_BACK + DAYS_AHEAD
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


def demo_links(db: Database, keyring: Keyring) -> list[tuple[str, int, str]]:
    """(label, link id, token) of the demo business's live links, to print them."""
    with db.read() as session:
        business_id = session.execute(select(Business.id).where(Business.name == DEMO_NAME)
                                      ).scalar_one_or_none()
        if business_id is None:
            return []
        return [(link.label, link.id, links.reveal_token(keyring, link))
                for link in links.list_links(session, business_id)]


DEMO_ADMIN = "admin@demo.example"


def demo_admin(db: Database, now: dt.datetime) -> tuple[str, str] | None:
    """The demo business's admin account with a fresh random password (only its hash is
    stored, so a new one is made at every start of `serve --demo`): (e-mail, password)."""
    from server.admin.accounts import create_user, list_users, reset_password

    password = secrets.token_urlsafe(12)
    with db.write() as session:
        business_id = session.execute(select(Business.id).where(Business.name == DEMO_NAME)
                                      ).scalar_one_or_none()
        if business_id is None:
            return None
        if any(user.email == DEMO_ADMIN for user in list_users(session, business_id)):
            reset_password(session, business_id, DEMO_ADMIN, password)
        else:
            create_user(session, business_id, DEMO_ADMIN, password, now)
    return DEMO_ADMIN, password


def load_demo(db: Database, keyring: Keyring, now: dt.datetime, *, seed: int = 7, days_back: int = DAYS_BACK,
              days_ahead: int = DAYS_AHEAD, target_bookings: int = 500,
              progress: Callable[[int], None] | None = None,
              rules: AvailabilityConfig) -> int:
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
        first_name = EMPLOYEES[0][0].split()[0]
        for label, scope, ids, profile in (
                (f"{first_name} (demo, full)", "calendar", [calendar_ids[0]], "full"),
                (f"{first_name} (demo, without client information)", "calendar",
                 [calendar_ids[0]], "limited"),
                ("All calendars (demo, busy only)", "all", [], "busy")):
            links.create_link(session, keyring, business_id, scope=scope, profile=profile,
                              calendar_ids=ids, label=label, now=now)

    made = 0
    days = [today + dt.timedelta(days=offset) for offset in range(-days_back, days_ahead)]
    open_days = sum(day.weekday() != 6 for day in days)
    opened = 0
    for day in days:
        if day.weekday() != 6:
            opened += 1
            # Spread the bookings evenly: by the end of this day, reach this share of the target.
            goal = target_bookings * opened // open_days
            with db.write() as session:
                for _ in range(20):
                    if made >= goal:
                        break
                    if _try_booking(session, rng, business_id, day, calendar_ids, service_rows,
                                    client_ids, now, rules):
                        made += 1
        if progress is not None:
            progress(1)
    return business_id


def _try_booking(session: Session, rng: random.Random, business_id: int, day: dt.date,
                 calendar_ids: list[int], service_rows: list[Service], client_ids: list[int],
                 now: dt.datetime, rules: AvailabilityConfig) -> bool:
    """One booking at a random time within the day's opening hours; False if it collides (an
    online one is held to the configured [availability] `rules`)."""
    service = rng.choice(service_rows)
    opening, closing = (10, 14) if day.weekday() == 5 else (9, 17)
    start = dt.datetime.combine(day, dt.time(rng.randint(opening, closing - 2),
                                             rng.choice((0, 15, 30, 45))))
    source = rng.choice(("staff", "online"))
    if not now.date() + dt.timedelta(days=1) < day < now.date() + dt.timedelta(days=60):
        source = "staff"  # online bookings keep to notice and horizon ([availability])
    try:
        with session.begin_nested():
            bookings.create_booking(
                session, business_id, calendar_id=rng.choice(calendar_ids),
                service_id=service.id, client_id=rng.choice(client_ids), start=start, now=now,
                source=source, rules=rules,
                notes=rng.choice([None, "Bring reference photo", "First visit"]))
    except ConflictError:
        return False
    return True

"""A business connected to the fake Microsoft Graph (tests/fakes/microsoft_fake.py): one
employee calendar (Anna) writing to and reading from the mailbox's default calendar, a service
and a client; the same shape as google_world.World."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fakes.microsoft_fake import FakeMicrosoft
from server.domain import bookings, businesses, calendars, clients, services
from server.microsoft import connections
from server.microsoft.graph import GraphClient
from server.microsoft.provider import MicrosoftProvider
from server.runtime import Runtime
from support import NOW, make_runtime, microsoft_toml

__all__ = ["MicrosoftWorld", "make_microsoft_world", "microsoft_toml"]

TZ = "Europe/Copenhagen"
CALENDAR = "AAMkCalendar"


@dataclass
class MicrosoftWorld:
    runtime: Runtime
    fake: FakeMicrosoft
    business: int
    anna: int
    service: int
    client: int
    connection: int
    now: dt.datetime
    sleeps: list[float]

    @property
    def first_day(self) -> dt.date:
        return self.now.astimezone(ZoneInfo(TZ)).date() + dt.timedelta(days=7)

    def book(self, day: int, hour: int = 10, **extra: Any) -> int:
        start = dt.datetime.combine(self.first_day + dt.timedelta(days=day - 1), dt.time(hour))
        with self.runtime.db.write() as session:
            return bookings.create_booking(
                session, self.business, calendar_id=self.anna, service_id=self.service,
                start=start, now=self.now, **extra).id

    def client_factory(self, runtime: Runtime, token: str) -> GraphClient:
        """The bridge's Graph client for tests: its waits are recorded, never slept."""
        return GraphClient(runtime.config.microsoft, token, sleep=self.sleeps.append)

    def provider(self) -> MicrosoftProvider:
        return MicrosoftProvider(self.runtime, client_factory=self.client_factory)


@contextmanager
def make_microsoft_world(folder: Path, database_url: str, fake: FakeMicrosoft,
                         extra: str = "", now: dt.datetime = NOW) -> Iterator[MicrosoftWorld]:
    secret = folder / "microsoft-secret"
    secret.write_text(fake.client_secret, encoding="utf-8")
    runtime = make_runtime(folder, database_url, now=now,
                           extra=microsoft_toml(fake, secret) + extra)
    refresh = fake.identity.issue_refresh_token()
    with runtime.db.write() as session:
        business = businesses.create_business(session, name="Salon", timezone=TZ, now=now).id
        anna = calendars.create_calendar(session, business, name="Anna", now=now).id
        service = services.create_service(session, business, name="Haircut",
                                          duration_minutes=45, now=now).id
        client = clients.create_client(session, business, name="Ida Jensen", now=now,
                                       email="ida@example.com", phone="+45 1234 5678").id
        connection = connections.connect(session, runtime.keyring, business, refresh, now,
                                         account_email=fake.user).id
        connections.update_settings(session, business, now=now, calendars=[
            connections.CalendarChoice(anna, CALENDAR)])
    try:
        yield MicrosoftWorld(runtime, fake, business, anna, service, client, connection, now,
                             [])
    finally:
        runtime.db.dispose()

"""A business whose employee calendar (Anna) is connected to a real CalDAV server
(tests/caldav_servers.py: Radicale or Xandikos, maybe behind a quirk proxy), found by
discovery, writing to and reading from its calendar; the same shape as google_world.World."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from caldav_servers import Server
from server.caldav import connections, discovery
from server.caldav.client import CalDAVClient
from server.caldav.provider import CalDAVProvider, make_client
from server.domain import bookings, businesses, calendars, clients, services
from server.runtime import Runtime
from support import NOW, make_runtime

TZ = "Europe/Copenhagen"
CALDAV_TOML = "[caldav]\nallow_http = true\nallow_private_hosts = true\n"


@dataclass
class CalDAVWorld:
    runtime: Runtime
    server: Server
    business: int
    anna: int
    service: int
    client: int
    connection: int
    now: dt.datetime
    sleeps: list[float] = field(default_factory=list)

    @property
    def first_day(self) -> dt.date:
        return self.now.astimezone(ZoneInfo(TZ)).date() + dt.timedelta(days=7)

    def book(self, day: int, hour: int = 10, **extra: Any) -> int:
        start = dt.datetime.combine(self.first_day + dt.timedelta(days=day - 1), dt.time(hour))
        with self.runtime.db.write() as session:
            return bookings.create_booking(
                session, self.business, calendar_id=self.anna, service_id=self.service,
                start=start, now=self.now, **extra).id

    def client_factory(self, runtime: Runtime, credentials: str) -> CalDAVClient:
        """The bridge's client for tests: its waits are recorded, never slept."""
        client = make_client(runtime, credentials)
        client.sleep = self.sleeps.append
        return client

    def provider(self) -> CalDAVProvider:
        return CalDAVProvider(self.runtime, client_factory=self.client_factory)


@contextmanager
def make_caldav_world(folder: Path, database_url: str, server: Server, extra: str = "",
                      now: dt.datetime = NOW, caldav: str = "") -> Iterator[CalDAVWorld]:
    """`caldav`: more lines of the [caldav] section; `extra`: more sections."""
    runtime = make_runtime(folder, database_url, now=now, extra=CALDAV_TOML + caldav + extra)
    account = discovery.discover(server.url, server.user, server.password, allow_http=True,
                                 allow_private=True, timeout=10)
    assert server.calendar_url in [c.url for c in account.calendars], account
    with runtime.db.write() as session:
        business = businesses.create_business(session, name="Salon", timezone=TZ, now=now).id
        anna = calendars.create_calendar(session, business, name="Anna", now=now).id
        service = services.create_service(session, business, name="Haircut",
                                          duration_minutes=45, now=now).id
        client = clients.create_client(session, business, name="Ida Jensen", now=now,
                                       email="ida@example.com", phone="+45 1234 5678").id
        connection = connections.connect(
            session, runtime.keyring, business, server_url=server.url, username=server.user,
            password=server.password, account=account, now=now).id
        connections.update_settings(session, business, connection, now=now, calendars=[
            connections.CalendarChoice(anna, server.calendar_url)])
    try:
        yield CalDAVWorld(runtime, server, business, anna, service, client, connection, now)
    finally:
        runtime.db.dispose()

"""A business connected to the fake Google: one employee calendar (Anna) writing to and reading
from the account's primary calendar, a service and a client. Used by the `world` fixture of
tests/integration/conftest.py and by bench/bridge_bench.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from fakes import FakeGoogle
from server.cli import main
from server.domain import bookings, businesses, calendars, clients, services
from server.gcal_bridge import Bridge
from server.google import oauth, settings
from server.google.api import GoogleCalendarApi
from server.google.push import PushReport, push
from server.runtime import Runtime
from support import HOST_KEY, NOW, google_toml, make_runtime

TZ = "Europe/Copenhagen"


@dataclass
class World:
    runtime: Runtime
    fake: FakeGoogle
    api: GoogleCalendarApi
    business: int
    anna: int
    service: int
    client: int
    connection: int

    def book(self, day: int, hour: int = 10, **extra: Any) -> int:
        with self.runtime.db.write() as session:
            return bookings.create_booking(
                session, self.business, calendar_id=self.anna, service_id=self.service,
                start=dt.datetime(2026, 12, day, hour), now=NOW, **extra).id

    def push(self) -> PushReport:
        return push(self.runtime.db, self.runtime.keyring, self.api, self.connection, NOW)

    def google(self) -> list[dict[str, Any]]:
        return self.fake.events("primary")


def run_cli(folder: Path, database_url: str, *args: str) -> Result:
    """`bookingcal --config <folder>/bookingcal.toml ARGS` on the world's configuration."""
    runner = CliRunner(env={"BOOKINGCAL_CONFIG": None, "BOOKINGCAL_DATABASE_URL": database_url,
                            "BOOKINGCAL_HOST_KEY": HOST_KEY})
    return runner.invoke(main, ["--config", str(folder / "bookingcal.toml"), *args],
                         prog_name="bookingcal")


def no_sleep_api(runtime: Runtime, token: str) -> GoogleCalendarApi:
    """The bridge's API factory for tests: retries never really wait."""
    return GoogleCalendarApi(runtime.config.google, token, sleep=lambda seconds: None)


def bridge(world: World, name: str = "worker-a", **options: Any) -> Bridge:
    return Bridge(world.runtime, worker=name, api_factory=no_sleep_api, **options)


@contextmanager
def make_world(folder: Path, database_url: str, fake: FakeGoogle,
               extra: str = "") -> Iterator[World]:
    secret = folder / "google-secret"
    secret.write_text(fake.client_secret, encoding="utf-8")
    runtime = make_runtime(folder, database_url, extra=google_toml(fake, secret) + extra)
    tokens = fake.issue_tokens()
    with runtime.db.write() as session:
        business = businesses.create_business(session, name="Salon", timezone=TZ, now=NOW).id
        anna = calendars.create_calendar(session, business, name="Anna", now=NOW).id
        service = services.create_service(session, business, name="Haircut",
                                          duration_minutes=45, now=NOW).id
        client = clients.create_client(session, business, name="Ida Jensen", now=NOW,
                                       email="ida@example.com").id
        connection = oauth.connect(session, runtime.keyring, business, tokens, NOW).id
        settings.update_settings(session, business, now=NOW, calendars=[
            settings.CalendarChoice(anna, "primary")])
    api = GoogleCalendarApi(runtime.config.google, tokens["refresh_token"],
                            sleep=lambda seconds: None)
    try:
        yield World(runtime, fake, api, business, anna, service, client, connection)
    finally:
        runtime.db.dispose()

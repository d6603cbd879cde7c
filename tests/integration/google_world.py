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
from zoneinfo import ZoneInfo

from click.testing import CliRunner, Result

from fakes import FakeGoogle
from server.cli import main
from server.clock import Clock
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
    now: dt.datetime  # when the world was made (its runtime's clock started there)

    @property
    def first_day(self) -> dt.date:
        """Day 1 of `book`: a week after the world was made (1 December 2026 for NOW)."""
        return self.now.astimezone(ZoneInfo(TZ)).date() + dt.timedelta(days=7)

    def book(self, day: int, hour: int = 10, **extra: Any) -> int:
        """A booking on local day `day` (1 = first_day) at `hour`."""
        start = dt.datetime.combine(self.first_day + dt.timedelta(days=day - 1), dt.time(hour))
        with self.runtime.db.write() as session:
            return bookings.create_booking(
                session, self.business, calendar_id=self.anna, service_id=self.service,
                start=start, now=self.now, **extra).id

    def push(self) -> PushReport:
        return push(self.runtime.db, self.runtime.keyring, self.api, self.connection, self.now)

    def google(self) -> list[dict[str, Any]]:
        return self.fake.events("primary")


def run_cli(folder: Path, database_url: str, *args: str, clock: Clock) -> Result:
    """`bookingcal --config <folder>/bookingcal.toml ARGS` on the world's configuration and its
    clock (the world's bookings are dated by that clock, not the real one)."""
    runner = CliRunner(env={"BOOKINGCAL_CONFIG": None, "BOOKINGCAL_DATABASE_URL": database_url,
                            "BOOKINGCAL_HOST_KEY": HOST_KEY})
    return runner.invoke(main, ["--config", str(folder / "bookingcal.toml"), *args],
                         prog_name="bookingcal", obj={"clock": clock})


def no_sleep_api(runtime: Runtime, token: str) -> GoogleCalendarApi:
    """The bridge's API factory for tests: retries never really wait."""
    return GoogleCalendarApi(runtime.config.google, token, sleep=lambda seconds: None)


def bridge(world: World, name: str = "worker-a", **options: Any) -> Bridge:
    return Bridge(world.runtime, worker=name, api_factory=no_sleep_api, **options)


@contextmanager
def make_world(folder: Path, database_url: str, fake: FakeGoogle,
               extra: str = "", now: dt.datetime = NOW) -> Iterator[World]:
    """The world on a FixedClock at `now`: NOW, or for a test that also drives a real
    `bookingcal` process (on the real clock), the real now (support.real_now())."""
    secret = folder / "google-secret"
    secret.write_text(fake.client_secret, encoding="utf-8")
    runtime = make_runtime(folder, database_url, now=now,
                           extra=google_toml(fake, secret) + extra)
    tokens = fake.issue_tokens()
    with runtime.db.write() as session:
        business = businesses.create_business(session, name="Salon", timezone=TZ, now=now).id
        anna = calendars.create_calendar(session, business, name="Anna", now=now).id
        service = services.create_service(session, business, name="Haircut",
                                          duration_minutes=45, now=now).id
        client = clients.create_client(session, business, name="Ida Jensen", now=now,
                                       email="ida@example.com").id
        connection = oauth.connect(session, runtime.keyring, business, tokens, now).id
        settings.update_settings(session, business, now=now, calendars=[
            settings.CalendarChoice(anna, "primary")])
    api = GoogleCalendarApi(runtime.config.google, tokens["refresh_token"],
                            sleep=lambda seconds: None)
    try:
        yield World(runtime, fake, api, business, anna, service, client, connection, now)
    finally:
        runtime.db.dispose()

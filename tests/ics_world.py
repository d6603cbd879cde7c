"""A business whose employee calendar (Anna, open 8-17 every day) subscribes to an ICS URL
served by a real HTTP server on loopback (tests/fakes/ics_server.py), on an injected clock;
feeds are written with dates derived from that clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from fakes.ics_server import IcsServer
from server.domain import businesses, calendars, hours, services
from server.ics import sources
from server.ics.provider import IcsProvider
from server.runtime import Runtime
from server.sync.engine import Engine, PassReport
from support import NOW, make_runtime

TZ = "Europe/Copenhagen"
UTC = dt.timezone.utc
ICS_TOML = ('[ics]\nallowed_networks = ["127.0.0.1/32"]\nallow_http = true\n'
            'min_interval_seconds = 60\ntimeout_seconds = 1\ntotal_seconds = 3\n'
            'max_megabytes = 1\n')


def vevent(uid: str, start: dt.datetime, end: dt.datetime, *lines: str) -> str:
    stamp = "%Y%m%dT%H%M%SZ"
    return "\r\n".join(["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z",
                        f"DTSTART:{start.astimezone(UTC):{stamp}}",
                        f"DTEND:{end.astimezone(UTC):{stamp}}", *lines, "END:VEVENT"])


def calendar_text(*events: str, head: str = "") -> str:
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//ics//EN",
                        *([head] if head else []), *events, "END:VCALENDAR"]) + "\r\n"


@dataclass
class IcsWorld:
    runtime: Runtime
    server: IcsServer
    business: int
    anna: int
    service: int
    source: int
    path: str

    @property
    def now(self) -> dt.datetime:
        return self.runtime.clock.now()

    @property
    def first_day(self) -> dt.date:
        return self.now.astimezone(ZoneInfo(TZ)).date() + dt.timedelta(days=7)

    def at(self, hour: int, day: int = 0) -> dt.datetime:
        return dt.datetime.combine(self.first_day + dt.timedelta(days=day), dt.time(hour),
                                   tzinfo=ZoneInfo(TZ))

    def publish(self, *events: str, head: str = "") -> None:
        self.server.put(self.path, calendar_text(*events, head=head))

    def engine(self) -> Engine:
        return Engine(self.runtime, worker="t", providers=[IcsProvider(self.runtime)])

    def read(self, engine: Engine | None = None) -> PassReport:
        [report] = (engine or self.engine()).run_once(force_pull=True)
        return report

    def status(self) -> sources.SourceStatus:
        with self.runtime.db.read() as session:
            [found] = sources.statuses(session, self.runtime.config.ics, self.business,
                                       self.now)
        return found


@contextmanager
def make_ics_world(folder: Path, database_url: str, extra: str = "",
                   now: dt.datetime = NOW, path: str = "/cal.ics?token=s3cr3t-T0KEN",
                   megabytes: int = 1) -> Iterator[IcsWorld]:
    toml = ICS_TOML.replace("max_megabytes = 1\n", f"max_megabytes = {megabytes}\n")
    runtime = make_runtime(folder, database_url, now=now, extra=toml + extra)
    with IcsServer() as server:
        with runtime.db.write() as session:
            business = businesses.create_business(session, name="Salon", timezone=TZ,
                                                  now=now).id
            anna = calendars.create_calendar(session, business, name="Anna", now=now).id
            service = services.create_service(session, business, name="Haircut",
                                              duration_minutes=60, now=now).id
            hours.set_weekly(session, business, anna, [
                hours.Interval(day, dt.time(8), dt.time(17)) for day in range(7)])
            source = sources.add(session, runtime.keyring, runtime.config.ics, business, anna,
                                 server.url(path), now).id
        try:
            yield IcsWorld(runtime, server, business, anna, service, source,
                           path.split("?")[0])
        finally:
            runtime.db.dispose()

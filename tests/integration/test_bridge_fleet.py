"""Several bridge processes, many businesses: a read by one process counts for all, a killed
process's lease is free at once, and one connection stuck in a long read does not hold up the
others' bookings (the bridge's threads on PostgreSQL). On the injected clock NOW; the
provider is the fake Google."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import update

from fakes import FakeGoogle
from google_world import no_sleep_api
from server.db.models import GoogleReadState
from server.domain import bookings, businesses, calendars, services
from server.gcal_bridge import Bridge
from server.google import oauth, settings
from server.runtime import Runtime
from server.sync import leases
from support import NOW, google_toml, make_runtime


@dataclass
class Shop:
    business: int
    calendar: int
    service: int
    remote: str


@dataclass
class Fleet:
    runtime: Runtime
    fake: FakeGoogle
    shops: list[Shop]

    def book(self, shop: Shop, day: int) -> str:
        with self.runtime.db.write() as session:
            booking = bookings.create_booking(
                session, shop.business, calendar_id=shop.calendar, service_id=shop.service,
                start=dt.datetime.combine(NOW.date() + dt.timedelta(days=day), dt.time(10)),
                now=NOW)
        return f"booking:{booking.id}"

    def arrived(self, mark: str) -> bool:
        return any(isinstance(r.body, dict) and r.status == 200 and r.body.get(
            "extendedProperties", {}).get("private", {}).get("bookingcal") == mark
            for r in self.fake.requests("calendar.events.insert"))


@pytest.fixture
def fleet(tmp_path: Path, pg_url: str) -> Iterator[Fleet]:
    with FakeGoogle() as fake:
        secret = tmp_path / "google-secret"
        secret.write_text(fake.client_secret, encoding="utf-8")
        runtime = make_runtime(tmp_path, pg_url,
                               extra=google_toml(fake, secret) + "push_notifications = false\n")
        shops = []
        with runtime.db.write() as session:
            for n in range(3):
                user = fake.add_user(f"owner{n}@example.com")
                business = businesses.create_business(session, name=f"Shop {n}",
                                                      timezone="Europe/Copenhagen", now=NOW).id
                calendar = calendars.create_calendar(session, business, name="Anna", now=NOW).id
                service = services.create_service(session, business, name="Cut",
                                                  duration_minutes=30, now=NOW).id
                oauth.connect(session, runtime.keyring, business, fake.issue_tokens(user=user),
                              NOW)
                settings.update_settings(session, business, now=NOW, calendars=[
                    settings.CalendarChoice(calendar, user)])
                shops.append(Shop(business, calendar, service, user))
        try:
            yield Fleet(runtime, fake, shops)
        finally:
            runtime.db.dispose()


def _bridge(fleet: Fleet, name: str) -> Bridge:
    return Bridge(fleet.runtime, worker=name, api_factory=no_sleep_api)


def test_a_read_by_one_process_counts_for_the_others(fleet: Fleet) -> None:
    first, second = _bridge(fleet, "worker-a"), _bridge(fleet, "worker-b")
    assert len(first.run_once()) == 3  # nothing read yet: every connection is due
    assert fleet.fake.count("calendar.events.list") == 3
    fleet.fake.clear_log()
    # The second process has read nothing itself, but the first one just read everything.
    second.run_once()
    assert fleet.fake.count("calendar.events.list") == 0
    # Once the poll interval has passed, one of them reads again, once per calendar.
    fleet.runtime.clock.advance(first.providers[0].poll_interval)  # type: ignore[attr-defined]
    second.run_once()
    first.run_once()
    assert fleet.fake.count("calendar.events.list") == 3


def test_a_killed_process_not_yet_reaped_holds_no_lease() -> None:
    child = subprocess.Popen(["sleep", "60"])
    owner = leases.worker_name().rsplit(":", 2)[0] + f":{child.pid}:abcdef"
    try:
        assert not leases.lease_owner_dead(owner)  # running
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not leases.lease_owner_dead(owner) and time.monotonic() < deadline:
            time.sleep(0.01)  # until the kernel has made it a zombie; it is not reaped yet
        assert leases.lease_owner_dead(owner)
    finally:
        child.kill()
        child.wait()
    assert leases.lease_owner_dead(owner)  # reaped: gone


def test_a_connection_stuck_in_a_read_does_not_hold_up_the_others(fleet: Fleet) -> None:
    worker = _bridge(fleet, "worker-a")
    worker.run_once()  # every connection read once: no read due for a poll interval
    # The first shop's calendar is asked for a read, and its list request hangs at Google.
    hold = fleet.fake.hold("calendar.events.list", after=0)
    with fleet.runtime.db.write() as session:
        session.execute(update(GoogleReadState).where(
            GoogleReadState.google_calendar == fleet.shops[0].remote).values(
            pull_requested=True))
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert hold.reached.wait(30), "the first shop's read never started"
        marks = [fleet.book(shop, day=3) for shop in fleet.shops[1:]]
        deadline = time.monotonic() + 30
        while not all(fleet.arrived(mark) for mark in marks) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert all(fleet.arrived(mark) for mark in marks), \
            "the other shops' bookings waited for the stuck read"
        assert hold.held == 1  # still stuck meanwhile
    finally:
        fleet.fake.release_holds()
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()

"""The stale-data policy's live check for CalDAV sources (server/caldav/freshness.py, registered
in server/api/stale_policy.py), against real servers (stock Radicale and Xandikos on loopback,
tests/caldav_servers.py) through the JSON API: under `recheck`, an event a phone made on the
server after the bridge's last read refuses the online booking at once, with no bridge pass; a
server that is down, that holds its answers past the check's timeout, or that refuses the
password refuses the booking on doubt under `recheck` and books it with a warning under
`offer`. The injected clock moves; nothing here measures wall-clock time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import requests

from caldav_servers import SERVERS, Quirks, Server, proxy
from caldav_world import TZ, CalDAVWorld, make_caldav_world
from server.db.models import CalDAVConnection
from server.domain import businesses, hours
from server.domain.timeutil import zone
from server.sync.engine import Engine
from support import Api, LiveServer, assert_error, start_server

# The live check's bound (health.recheck_timeout_seconds, and under `offer`
# availability.google_sync_timeout_seconds): the defaults, which the proxy's hold outlasts.
BOUND = "did not answer within 5 s"
# A CalDAV request may wait longer than the proxy's hold (60 s, then it hangs up): a check that
# were not bounded by its own timeout would end with "could not be reached" instead.
PATIENT = "timeout_seconds = 120\n"
PAST_MAX_AGE = dt.timedelta(seconds=301)  # availability.google_max_age_seconds: 300


def _world(request: pytest.FixtureRequest, tmp_path: Path, database_url: str,
           quirks: Quirks | None) -> Iterator[tuple[CalDAVWorld, LiveServer]]:
    with ExitStack() as stack:
        server: Server = stack.enter_context(SERVERS[request.param](tmp_path / "server"))
        if quirks is not None:
            server = stack.enter_context(proxy(server, quirks))
        world = stack.enter_context(make_caldav_world(tmp_path, database_url, server,
                                                      caldav=PATIENT))
        with world.runtime.db.write() as session:
            hours.set_weekly(session, world.business, world.anna, [
                hours.Interval(day, dt.time(8), dt.time(17)) for day in range(7)])
        live = start_server(world.runtime)
        stack.callback(live.stop)
        yield world, live


@pytest.fixture(params=["radicale", "xandikos"])
def served(request: pytest.FixtureRequest, tmp_path: Path,
           database_url: str) -> Iterator[tuple[CalDAVWorld, LiveServer]]:
    yield from _world(request, tmp_path, database_url, None)


@pytest.fixture(params=["radicale", "xandikos"])
def held(request: pytest.FixtureRequest, tmp_path: Path,
         database_url: str) -> Iterator[tuple[CalDAVWorld, LiveServer, Quirks]]:
    quirks = Quirks()
    try:
        for world, live in _world(request, tmp_path, database_url, quirks):
            yield world, live, quirks
    finally:
        quirks.release_holds()


def bridge_pass(world: CalDAVWorld) -> None:
    [report] = Engine(world.runtime, worker="t", providers=[world.provider()]).run_once(
        force_pull=True)
    assert report.error is None, report.error


def policy(world: CalDAVWorld, name: str) -> None:
    with world.runtime.db.write() as session:
        businesses.update_business(session, world.business, stale_policy=name)


def at(world: CalDAVWorld, hour: int) -> dt.datetime:
    return dt.datetime.combine(world.first_day, dt.time(hour), tzinfo=zone(TZ))


def online(live: LiveServer, world: CalDAVWorld, hour: int) -> requests.Response:
    start = dt.datetime.combine(world.first_day, dt.time(hour)).isoformat()
    return Api(live.url).post(f"/businesses/{world.business}/bookings", json={
        "calendar_id": world.anna, "service_id": world.service, "start": start,
        "source": "online"})


def slots(live: LiveServer, world: CalDAVWorld) -> list[str]:
    answer: dict[str, Any] = Api(live.url).ok("GET", "/availability", params={
        "business_id": world.business, "service_id": world.service,
        "calendar_id": world.anna, "start": str(world.first_day)})
    return [slot[11:16] for slot in answer["calendars"][0]["slots"]
            if slot.startswith(str(world.first_day))]


def phone_event(world: CalDAVWorld, hour: int) -> None:
    """An event made on the server with python-caldav, as a phone would."""
    world.server.dav().calendar(url=world.server.calendar_url).save_event(
        dtstart=at(world, hour), dtend=at(world, hour + 1), summary="Dentist")


def test_recheck_reads_the_server_live_before_an_online_booking(
        served: tuple[CalDAVWorld, LiveServer]) -> None:
    world, live = served
    policy(world, "recheck")
    bridge_pass(world)
    live.clock.advance(PAST_MAX_AGE)
    phone_event(world, 10)
    assert "10:00" in slots(live, world)  # the mirror does not know it yet
    # No bridge pass: the live check reads the server and the booking is refused for the
    # event itself, not for doubt.
    refused = assert_error(online(live, world, 10), 409, code="conflict",
                           contains="CalDAV event")
    assert "in CalDAV calendar" in refused["message"]
    assert "10:00" not in slots(live, world)
    made = online(live, world, 14)
    assert made.status_code == 201, made.text
    assert made.json()["warnings"] == []


def test_a_server_that_is_down_refuses_under_recheck_and_warns_under_offer(
        served: tuple[CalDAVWorld, LiveServer]) -> None:
    world, live = served
    # Never read by the bridge: the check does not make a full read, it doubts.
    policy(world, "recheck")
    refused = assert_error(online(live, world, 9), 409, code="stale_source")
    assert "not refreshed" in refused["message"] and "CalDAV" in refused["message"]
    bridge_pass(world)
    live.clock.advance(PAST_MAX_AGE)
    assert world.server.process is not None
    world.server.process.terminate()
    world.server.process.wait(timeout=10)
    refused = assert_error(online(live, world, 10), 409, code="stale_source")
    assert "CalDAV server could not be reached" in refused["message"]
    assert "policy is 'recheck'" in refused["message"]
    policy(world, "offer")
    made = online(live, world, 10)
    assert made.status_code == 201, made.text
    [warning] = made.json()["warnings"]
    assert warning.startswith("the CalDAV server could not be reached")


def test_the_check_gives_up_after_its_timeout(
        held: tuple[CalDAVWorld, LiveServer, Quirks]) -> None:
    world, live, quirks = held
    policy(world, "recheck")
    bridge_pass(world)
    live.clock.advance(PAST_MAX_AGE)
    quirks.hold_everything()  # the server stops answering (its requests stay open)
    refused = assert_error(online(live, world, 10), 409, code="stale_source")
    assert BOUND in refused["message"]
    assert quirks.reached.is_set()
    policy(world, "offer")
    made = online(live, world, 11)
    assert made.status_code == 201, made.text
    [warning] = made.json()["warnings"]
    assert BOUND in warning
    # Answering again: the check reads it and books without a doubt.
    quirks.release_holds()
    policy(world, "recheck")
    made = online(live, world, 13)
    assert made.status_code == 201 and made.json()["warnings"] == []


# Radicale only: Xandikos as it comes checks no password, so there is nothing to refuse.
@pytest.mark.parametrize("served", ["radicale"], indirect=True)
def test_a_refused_password_refuses_and_marks_the_connection(
        served: tuple[CalDAVWorld, LiveServer]) -> None:
    world, live = served
    policy(world, "recheck")
    bridge_pass(world)
    live.clock.advance(PAST_MAX_AGE)
    with world.runtime.db.write() as session:
        row = session.get(CalDAVConnection, world.connection)
        assert row is not None
        row.password_encrypted = world.runtime.keyring.encrypt("changed-since")
    refused = assert_error(online(live, world, 10), 409, code="stale_source")
    assert "refused the password" in refused["message"]
    assert "changed-since" not in refused["message"]
    with world.runtime.db.read() as session:
        row = session.get(CalDAVConnection, world.connection)
        assert row is not None and row.status == "needs_reconnect"
    # From now on the availability answer says so, and the booking is refused without a read.
    answer = Api(live.url).ok("GET", "/availability", params={
        "business_id": world.business, "service_id": world.service,
        "calendar_id": world.anna, "start": str(world.first_day)})
    [source] = answer["calendars"][0]["sources"]
    assert source["provider"] == "caldav" and source["state"] == "needs_reconnecting"
    refused = assert_error(online(live, world, 11), 409, code="stale_source")
    assert "needs reconnecting" in refused["message"]

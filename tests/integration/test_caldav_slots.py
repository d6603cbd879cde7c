"""A `slots` link (open times for partners) over a calendar whose busy time comes from a CalDAV
server (stock Radicale): the cached slots (server/publishing/slotcache.py) follow a phone event the bridge
mirrored, and the business's stale-data policy "hide" applies to the feed as to the booking
page: no open time of a calendar whose CalDAV source is stale, back once it is read again. On
the injected clock (support.NOW), SQLite and PostgreSQL, over real HTTP."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from caldav_servers import radicale
from caldav_world import CalDAVWorld, make_caldav_world
from server.clock import FixedClock
from server.sync.engine import Engine
from support import Api, LiveServer, make_link, start_server

UTC = dt.timezone.utc


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[CalDAVWorld]:
    with radicale(tmp_path / "radicale") as server, \
            make_caldav_world(tmp_path, database_url, server) as made:
        yield made


@pytest.fixture
def live(world: CalDAVWorld) -> Iterator[LiveServer]:
    server = start_server(world.runtime)
    yield server
    server.stop()


def sync(world: CalDAVWorld) -> None:
    [report] = Engine(world.runtime, worker="t", providers=[world.provider()]).run_once(
        force_pull=True)
    assert report.error is None, report.error


def slots(link: dict[str, Any]) -> list[str]:
    answer = requests.get(link["feed_url"][:-len(".ics")] + ".json", timeout=30)
    assert answer.status_code == 200, answer.text
    [calendar] = answer.json()["calendars"]
    return [slot["start"] for slot in calendar["slots"]]


def stamp(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def phone_event(world: CalDAVWorld, start: dt.datetime) -> None:
    """An event the employee makes on her phone, straight on the CalDAV server."""
    text = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//phone//EN", "BEGIN:VEVENT",
        "UID:phone-1", "DTSTAMP:20200101T000000Z", f"DTSTART:{stamp(start)}",
        f"DTEND:{stamp(start + dt.timedelta(hours=1))}", "SUMMARY:Dentist", "END:VEVENT",
        "END:VCALENDAR"]) + "\r\n"
    world.server.dav().calendar(url=world.server.calendar_url).save_event(text)


def test_cached_slots_follow_the_caldav_busy_time_and_hide_a_stale_source(
        world: CalDAVWorld, live: LiveServer) -> None:
    api = Api(live.url)
    api.ok("PUT", f"/businesses/{world.business}/calendars/{world.anna}/opening-hours",
           json={"intervals": [{"weekday": d, "opens": "08:00", "closes": "18:00"}
                               for d in range(7)]})
    link = make_link(api, world.business, scope="calendar", calendar_ids=[world.anna],
                     profile="slots", service_id=world.service)
    clock = world.runtime.clock
    assert isinstance(clock, FixedClock)
    clock.advance(dt.timedelta(minutes=7))  # between two quarter hours: no slot leaves soon
    sync(world)
    before = slots(link)
    hits = live.runtime.slot_cache.hits
    assert before and slots(link) == before  # the second poll from the cache
    assert live.runtime.slot_cache.hits == hits + 1
    # A phone event over an open time, mirrored by the bridge: the next poll leaves it out.
    target = dt.datetime.fromisoformat(before[len(before) // 2])
    phone_event(world, target)
    clock.advance(dt.timedelta(seconds=1))  # the bridge reads later than it read before
    sync(world)
    after = slots(link)
    assert before[len(before) // 2] not in after and len(after) < len(before)

    # "hide": while the CalDAV source is current, its times are offered ...
    api.ok("PATCH", f"/businesses/{world.business}", json={"stale_policy": "hide"})
    assert slots(link) == after
    # ... and none once it went stale (no read for longer than its target: time alone).
    clock.advance(dt.timedelta(hours=2))
    assert slots(link) == []
    fresh = api.ok("GET", "/availability", params={
        "business_id": world.business, "service_id": world.service,
        "calendar_id": [world.anna], "start": world.first_day.isoformat(),
        "end": (world.first_day + dt.timedelta(days=1)).isoformat()})
    assert fresh["calendars"][0]["slots"] == []  # the booking page agrees
    sync(world)  # read again: offered again
    assert slots(link)

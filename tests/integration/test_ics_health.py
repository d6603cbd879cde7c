"""Calendar links (ICS URLs) in the sync health views, against a real HTTP server on loopback
(tests/ics_world.py): each link's freshness in availability answers (its own interval plus
health.poll_slack_minutes as the target; a failing feed `stale` with its reason, its last good
copy still blocking), the stale-data policy applied to it (under `recheck` the link is fetched
live before an online booking: a changing feed read on the spot, a failing or hanging one
refused), `bookingcal sync status` and the admin overview's lines, the metrics and the health
notifier's problems. SQLite and PostgreSQL, on the injected clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from google_world import run_cli
from ics_world import IcsWorld, make_ics_world, vevent
from server.db.models import IcsSource
from server.domain import businesses
from server.sync import alerts
from server.sync.sources import KINDS
from server.sync.status import overview
from support import Api, LiveServer, assert_error, start_server


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[IcsWorld]:
    with make_ics_world(tmp_path, database_url) as made:
        yield made


@pytest.fixture
def live(world: IcsWorld) -> Iterator[LiveServer]:
    server = start_server(world.runtime)
    yield server
    server.stop()


def advance(world: IcsWorld, delta: dt.timedelta) -> None:
    world.runtime.clock.advance(delta)  # type: ignore[attr-defined]


def answer(live: LiveServer, world: IcsWorld, key: bool = True) -> dict[str, Any]:
    api = Api(live.url) if key else Api(live.url, key=None)
    found: dict[str, Any] = api.ok("GET", "/availability", params={
        "business_id": world.business, "service_id": world.service,
        "calendar_id": world.anna, "start": str(world.first_day),
        **({"explain": "true"} if key else {})})
    return found["calendars"][0]


def online(live: LiveServer, world: IcsWorld, hour: int) -> requests.Response:
    return Api(live.url).post(f"/businesses/{world.business}/bookings", json={
        "calendar_id": world.anna, "service_id": world.service,
        "start": dt.datetime.combine(world.first_day, dt.time(hour)).isoformat(),
        "source": "online"})


def test_a_links_freshness_is_in_every_availability_answer(world: IcsWorld,
                                                           live: LiveServer) -> None:
    [pending] = answer(live, world)["sources"]
    assert pending["provider"] == "ics" and pending["state"] == "stale"
    assert "has not been read yet" in pending["reason"]
    world.publish(vevent("dentist", world.at(10), world.at(11)))
    assert world.read().error is None
    fresh = answer(live, world)
    [source] = fresh["sources"]
    assert source["state"] == "ok" and source["age_seconds"] == 0
    assert source["calendar"] == "127.0.0.1"  # the link's host (or label), never its URL
    assert "token" not in str(fresh)
    # The feed fails: stale with the reason, its last good copy still blocking.
    world.server.set_mode(world.path, "error")
    advance(world, dt.timedelta(minutes=1))
    assert world.read().error is not None
    failing = answer(live, world)
    [source] = failing["sources"]
    assert source["state"] == "stale"
    assert "reading the calendar link fails" in source["reason"]
    assert "its last good copy keeps blocking" in source["reason"]
    assert "500" in source["error"]
    assert not any(slot[11:16] == "10:00" for slot in failing["slots"])
    assert any("ICS busy time may be out of date" in warning
               for warning in failing["explain"]["warnings"])
    [public] = answer(live, world, key=False)["sources"]
    assert public["state"] == "stale" and public["error"] is None
    assert public["calendar"] is None and "500" not in public["reason"]
    # Working again, then not read for longer than its interval plus the slack.
    world.server.set_mode(world.path, "ok")
    advance(world, dt.timedelta(minutes=5))
    assert world.read().error is None
    assert answer(live, world)["sources"][0]["state"] == "ok"
    advance(world, dt.timedelta(minutes=71))  # ics.default_interval_seconds 3600 + 10 min
    [late] = answer(live, world)["sources"]
    assert late["state"] == "stale" and "more than the 70 min expected" in late["reason"]


def test_the_target_follows_the_links_own_interval(world: IcsWorld, live: LiveServer) -> None:
    kind = KINDS["ics"]
    config = world.runtime.config
    assert kind.stale_after(config) == dt.timedelta(minutes=70)
    with world.runtime.db.write() as session:
        row = session.get(IcsSource, world.source)
        assert row is not None
        row.interval_seconds = 7200
    world.publish(vevent("dentist", world.at(10), world.at(11)))
    assert world.read().error is None
    advance(world, dt.timedelta(minutes=71))
    assert answer(live, world)["sources"][0]["state"] == "ok"  # 2 h + 10 min for this one
    advance(world, dt.timedelta(minutes=60))
    assert answer(live, world)["sources"][0]["state"] == "stale"


def test_the_policy_applies_to_a_failing_link(world: IcsWorld, live: LiveServer) -> None:
    world.publish(vevent("dentist", world.at(10), world.at(11)))
    assert world.read().error is None
    assert online(live, world, 8).status_code == 201  # ok: nothing to doubt
    world.server.set_mode(world.path, "error")
    advance(world, dt.timedelta(minutes=1))
    world.read()
    # offer: booked, with the warning.
    made = online(live, world, 12)  # the failing link read live once more (best effort)
    assert made.status_code == 201, made.text
    assert any("could not be read" in w and "500" in w for w in made.json()["warnings"])
    # recheck: the link is fetched live once more; still failing: refused, saying why.
    with world.runtime.db.write() as session:
        businesses.update_business(session, world.business, stale_policy="recheck")
    before = len(world.server.hits(world.path))
    refused = assert_error(online(live, world, 14), 409, code="stale_source")
    assert "could not be read" in refused["message"] and "500" in refused["message"]
    assert "token" not in refused["message"]
    assert len(world.server.hits(world.path)) == before + 1  # one attempt, one request
    # hide: no time offered, online booking refused.
    with world.runtime.db.write() as session:
        businesses.update_business(session, world.business, stale_policy="hide")
    hidden = answer(live, world)
    assert hidden["hidden"] is True and hidden["slots"] == []
    assert_error(online(live, world, 15), 409, code="stale_source")


def test_links_are_in_sync_status_metrics_and_alerts(world: IcsWorld, live: LiveServer,
                                                     tmp_path: Path, database_url: str) -> None:
    world.publish(vevent("dentist", world.at(10), world.at(11)))
    assert world.read().error is None
    shown = run_cli(tmp_path, database_url, "sync", "status", clock=world.runtime.clock)
    assert shown.exit_code == 0, shown.output
    [reading] = [line for line in shown.output.splitlines() if "reading" in line]
    assert reading.startswith("ok") and "ics" in reading and "127.0.0.1" in reading
    world.server.set_mode(world.path, "error")
    advance(world, dt.timedelta(minutes=1))
    world.read()
    with world.runtime.db.read() as session:
        lines = [line for line in overview(session, world.runtime.config, world.now)
                 if line.provider == "ics"]
        found = [p for p in alerts.problems(session) if p.provider == "ics"]
    by_role = {line.role: line for line in lines}
    assert set(by_role) == {"connection", "reading"}
    assert by_role["reading"].state == "stale" and "500" in (by_role["reading"].last_error or "")
    assert by_role["reading"].last_success == world.now - dt.timedelta(minutes=1)
    assert by_role["reading"].next_try is not None and by_role["reading"].next_try > world.now
    assert by_role["reading"].fix_path == "/admin/apps/calendar-links"
    assert found and found[0].business_id == world.business
    failing = run_cli(tmp_path, database_url, "sync", "status", "--problems",
                      clock=world.runtime.clock)
    assert "stale" in failing.output and "127.0.0.1" in failing.output
    assert "token" not in failing.output
    text = requests.get(live.url + "/metrics", timeout=20).text
    assert 'bookingcal_sync_items{kind="reading",provider="ics",state="stale"} 1.0' in text
    assert 'bookingcal_sync_items{kind="writing",provider="ics",state="ok"} 0.0' in text
    assert "127.0.0.1" not in text.split("bookingcal_sync_items")[-1]


def test_recheck_fetches_a_stale_link_live(world: IcsWorld, live: LiveServer) -> None:
    world.publish(vevent("dentist", world.at(10), world.at(11)))
    assert world.read().error is None
    with world.runtime.db.write() as session:
        businesses.update_business(session, world.business, stale_policy="recheck")
    # The bridge's last fetch failed a minute ago (stale, though younger than the 300 s age
    # limit); meanwhile the feed moved the dentist from 10:00 to 14:00.
    world.server.set_mode(world.path, "error")
    advance(world, dt.timedelta(minutes=1))
    assert world.read().error is not None
    world.publish(vevent("dentist", world.at(14), world.at(15)))
    before = len(world.server.hits(world.path))
    assert_error(online(live, world, 14), 409, code="conflict")  # read live: busy now
    [fetch] = world.server.hits(world.path)[before:]
    assert fetch["if_none_match"] is not None  # conditional, through the bridge's fetch path
    made = online(live, world, 10)  # the old copy no longer blocks
    assert made.status_code == 201, made.text
    [source] = answer(live, world)["sources"]
    assert source["state"] == "ok" and source["age_seconds"] == 0
    # A fresh mirror is not fetched again before the business's age limit...
    advance(world, dt.timedelta(minutes=2))
    world.publish(vevent("dentist", world.at(14), world.at(15)),
                  vevent("lunch", world.at(12), world.at(13)))
    before = len(world.server.hits(world.path))
    assert online(live, world, 12).status_code == 201  # within 300 s: the mirror is trusted
    assert len(world.server.hits(world.path)) == before
    # ...which a business may lower: then the lunch is seen before booking.
    with world.runtime.db.write() as session:
        businesses.update_business(session, world.business, live_check_max_age_seconds=60)
        world.publish(vevent("lunch", world.at(12), world.at(13)),
                      vevent("walk", world.at(9), world.at(10)))
    assert_error(online(live, world, 9), 409, code="conflict")
    assert len(world.server.hits(world.path)) == before + 1


def test_recheck_refuses_when_the_link_does_not_answer_in_time(tmp_path: Path,
                                                               database_url: str) -> None:
    with make_ics_world(tmp_path, database_url,
                        extra="[health]\nrecheck_timeout_seconds = 1\n") as world:
        server = start_server(world.runtime)
        try:
            world.publish(vevent("dentist", world.at(10), world.at(11)))
            assert world.read().error is None
            with world.runtime.db.write() as session:
                businesses.update_business(session, world.business, stale_policy="recheck")
            advance(world, dt.timedelta(minutes=6))  # ok still, older than the age limit
            world.server.set_mode(world.path, "hang")
            refused = assert_error(online(server, world, 14), 409, code="stale_source")
            assert "did not answer within 1 s" in refused["message"]
            assert "token" not in refused["message"]
        finally:
            server.stop()

"""A CalDAV account's own poll interval (server/caldav/intervals.py), against a real Radicale
on loopback, on SQLite and PostgreSQL, on the injected clock: set through the JSON API, the
CLI and the admin page (bounded by caldav.min/max_poll_seconds, a clear 4xx outside them), the
engine reads the account no sooner than its interval (a phone's event stays unread until then)
and then with the cheap sync-token check first, and the freshness view judges the account's
calendars by its own interval plus the slack."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from caldav_servers import Server, radicale
from caldav_world import TZ, CalDAVWorld, make_caldav_world
from server.admin.accounts import create_user
from server.caldav import connections
from server.caldav.client import CalDAVClient
from server.db.models import CalDAVConnection, CalDAVMirroredEvent
from server.domain.timeutil import zone
from server.errors import InvalidError
from server.sync import freshness, status
from server.sync.engine import Engine
from server.sync.state_counts import counts
from support import Api, LiveServer, assert_error, start_server
from test_cli import Cli

BOUNDS = "min_poll_seconds = 120\nmax_poll_seconds = 7200\n"  # default poll_seconds: 300
EMAIL, PASSWORD = "owner@salon.example", "correct horse battery"
SLACK = dt.timedelta(minutes=10)  # health.poll_slack_minutes


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[tuple[CalDAVWorld, LiveServer]]:
    with radicale(tmp_path / "server") as server, make_caldav_world(
            tmp_path, database_url, server, caldav=BOUNDS) as made:
        live = start_server(made.runtime)
        try:
            yield made, live
        finally:
            live.stop()


def patch(world: CalDAVWorld, live: LiveServer, **body: object) -> requests.Response:
    return Api(live.url).patch(
        f"/businesses/{world.business}/caldav/accounts/{world.connection}", json=body)


def phone_event(server: Server, world: CalDAVWorld, hour: int, summary: str) -> None:
    day = world.first_day
    start = dt.datetime.combine(day, dt.time(hour), tzinfo=zone(TZ))
    server.dav().calendar(url=server.calendar_url).save_event(
        dtstart=start, dtend=start + dt.timedelta(hours=1), summary=summary)


def mirrored(world: CalDAVWorld) -> set[str]:
    with world.runtime.db.read() as session:
        return set(session.execute(select(CalDAVMirroredEvent.summary)).scalars())


def client_of(engine: Engine, world: CalDAVWorld) -> CalDAVClient:
    client = engine.states["caldav"].clients[world.connection][1]
    assert isinstance(client, CalDAVClient)
    return client


def test_the_engine_reads_an_account_at_its_own_interval(
        world: tuple[CalDAVWorld, LiveServer]) -> None:
    made, live = world
    clock = made.runtime.clock
    engine = Engine(made.runtime, worker="t", providers=[made.provider()])
    answer = patch(made, live, poll_seconds=3600)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["poll_seconds"], answer.json()["own_poll_seconds"]) == (3600, 3600)

    [first] = engine.run_once()  # never read: read now
    assert first.pulled is not None and first.error is None
    phone_event(made.server, made, 10, "Dentist")
    sent = client_of(engine, made).requests
    clock.advance(dt.timedelta(seconds=301))  # the default interval has passed, not its own
    assert engine.run_once() == []
    clock.advance(dt.timedelta(seconds=3600 - 301 - 1))
    assert engine.run_once() == []
    assert client_of(engine, made).requests == sent  # not a single request
    assert "Dentist" not in mirrored(made)
    clock.advance(dt.timedelta(seconds=1))  # its interval, to the second
    [due] = engine.run_once()
    assert due.pulled is not None and due.error is None
    assert "Dentist" in mirrored(made)

    # Nothing changed: a read is the sync-token check alone (one REPORT).
    sent = client_of(engine, made).requests
    clock.advance(dt.timedelta(seconds=3600))
    [idle] = engine.run_once()
    assert idle.pulled is not None
    assert client_of(engine, made).requests == sent + 1

    # A shorter interval of its own (below the default) is honoured too; another process,
    # starting fresh, counts the first one's read (last_sync_at) against that interval.
    assert patch(made, live, poll_seconds=120).status_code == 200
    phone_event(made.server, made, 13, "Lunch")
    clock.advance(dt.timedelta(seconds=119))
    assert engine.run_once() == []
    clock.advance(dt.timedelta(seconds=1))
    [again] = engine.run_once()
    assert again.pulled is not None and "Lunch" in mirrored(made)
    other = Engine(made.runtime, worker="u", providers=[made.provider()])
    clock.advance(dt.timedelta(seconds=60))
    assert other.run_once() == []  # read by the first process 60 s ago (last_sync_at)

    # Back to the default (0): the next read comes caldav.poll_seconds after the last one.
    answer = patch(made, live, poll_seconds=0)
    assert (answer.json()["poll_seconds"], answer.json()["own_poll_seconds"]) == (300, None)
    clock.advance(dt.timedelta(seconds=239))
    assert engine.run_once() == []
    clock.advance(dt.timedelta(seconds=1))
    assert len(engine.run_once()) == 1


def test_freshness_follows_the_accounts_own_interval(
        world: tuple[CalDAVWorld, LiveServer]) -> None:
    made, live = world
    clock = made.runtime.clock
    assert patch(made, live, poll_seconds=3600).status_code == 200
    [read] = Engine(made.runtime, worker="t", providers=[made.provider()]).run_once()
    assert read.pulled is not None

    def state() -> tuple[str, str]:
        with made.runtime.db.read() as session:
            [source] = freshness.blocking_sources(
                session, made.business, [made.anna], clock.now(),
                made.runtime.config)[made.anna]
        return source.state, source.reason

    def reading_states() -> tuple[dict[str, int], dict[str, int]]:
        """The metrics' reading counts (in SQL) and the overview's (in Python)."""
        now = clock.now()
        with made.runtime.db.read() as session:
            by_sql = counts(session, made.runtime.config, now)
            by_python = status.counts(status.overview(session, made.runtime.config, now))
        pick = lambda found: {state: n for (provider, kind, state), n in found.items()  # noqa: E731
                              if provider == "caldav" and kind == "reading" and n}
        return pick(by_sql), pick(by_python)

    # The default's target (300 s + 10 min) has passed long ago: still ok.
    clock.advance(dt.timedelta(seconds=3600) + SLACK)
    assert state()[0] == freshness.OK
    # The metrics judge by the account's own interval too (server/sync/state_counts.py).
    by_sql, by_python = reading_states()
    assert by_sql == by_python and set(by_sql) == {"ok"}, (by_sql, by_python)
    clock.advance(dt.timedelta(seconds=1))
    verdict, reason = state()
    assert verdict == freshness.STALE and "more than the 70 min expected" in reason
    by_sql, by_python = reading_states()
    assert by_sql == by_python and set(by_sql) == {"stale"}, (by_sql, by_python)
    # Back to the default: judged by it.
    assert patch(made, live, poll_seconds=0).status_code == 200
    assert "more than the 15 min expected" in state()[1]


def test_intervals_outside_the_bounds_are_refused_everywhere(
        world: tuple[CalDAVWorld, LiveServer], tmp_path: Path) -> None:
    made, live = world
    for wrong in (119, 7201, 1):
        refused = assert_error(patch(made, live, poll_seconds=wrong), 422, code="invalid",
                               contains="from 120 to 7200 seconds")
        assert "caldav.min_poll_seconds" in refused["message"]
    assert_error(patch(made, live, poll_seconds=-5), 422)
    assert_error(patch(made, live, poll_seconds="often"), 422)
    with made.runtime.db.write() as session:
        with pytest.raises(InvalidError, match="or 0 for the default"):
            connections.update_settings(session, made.business, made.connection,
                                        now=made.runtime.clock.now(), poll_seconds=60,
                                        settings=made.runtime.config.caldav)
    with made.runtime.db.read() as session:
        row = session.get(CalDAVConnection, made.connection)
        assert row is not None and row.poll_seconds is None  # nothing written

    # The CLI, on the same database and bounds.
    (tmp_path / "cli").mkdir()
    cli = Cli(tmp_path / "cli", made.runtime.config.database_url,
              toml="[caldav]\nallow_http = true\nallow_private_hosts = true\n" + BOUNDS)
    [line] = cli.fails("caldav", "settings", str(made.business), str(made.connection),
                       "--poll-seconds", "100000")
    assert "from 120 to 7200 seconds" in line
    out = cli.ok("caldav", "settings", str(made.business), str(made.connection),
                 "--poll-seconds", "900").stdout
    assert "read every 900 s" in out
    assert "read every 300 s (the default)" in cli.ok(
        "caldav", "settings", str(made.business), str(made.connection), "--poll-seconds",
        "0").stdout

    # The admin page: the form shows the bounds, saves a value, refuses one outside them.
    with made.runtime.db.write() as session:
        create_user(session, made.business, EMAIL, PASSWORD, made.runtime.clock.now())
    browser = requests.Session()
    form = browser.get(live.url + "/admin/sign-in", timeout=20)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    signed = browser.post(live.url + "/admin/sign-in", timeout=20, allow_redirects=False,
                          data={"csrf_token": token.group(1), "email": EMAIL,
                                "password": PASSWORD})
    assert signed.status_code == 303, signed.text
    address = f"{live.url}/admin/apps/caldav/{made.connection}/settings"
    page = browser.get(address, timeout=20)
    assert page.status_code == 200 and 'min="120" max="7200"' in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    fields = {"csrf_token": csrf.group(1), "direction": "both",
              f"remote_{made.anna}": made.server.calendar_url, "block_online_booking": "on"}
    bad = browser.post(address, timeout=20, data={**fields, "poll_seconds": "30"})
    assert bad.status_code == 422 and "from 120 to 7200 seconds" in bad.text
    bad = browser.post(address, timeout=20, data={**fields, "poll_seconds": "soon"})
    assert bad.status_code == 422 and "whole number of seconds" in bad.text
    saved = browser.post(address, timeout=20, allow_redirects=False,
                         data={**fields, "poll_seconds": "1800"})
    assert saved.status_code == 303, saved.text
    with made.runtime.db.read() as session:
        row = session.get(CalDAVConnection, made.connection)
        assert row is not None and row.poll_seconds == 1800
    page = browser.get(address, timeout=20)
    assert 'value="1800"' in page.text and "read every 1800 s" in page.text

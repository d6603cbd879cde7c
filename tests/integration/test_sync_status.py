"""`bookingcal sync status` and the Prometheus metrics of sync health: every connection and
synced calendar with its state, last success, next try and last error, newest problems first;
the metrics count per provider, kind and state, never a tenant. SQLite and PostgreSQL, on the
injected clock (the CLI is handed the world's clock)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import requests
from sqlalchemy import update

from google_world import World, bridge, run_cli
from server.db.models import GoogleReadState
from server.domain import businesses, calendars
from server.google import settings
from server.sync.status import overview
from support import NOW, start_server


def test_status_lists_problems_first_and_exits_2(world: World, tmp_path: Path,
                                                 database_url: str) -> None:
    with world.runtime.db.write() as session:
        bo = calendars.create_calendar(session, world.business, name="Bo", now=NOW).id
        settings.update_settings(session, world.business, now=NOW, calendars=[
            settings.CalendarChoice(world.anna, "primary"),
            settings.CalendarChoice(bo, "team@group.calendar.google.com")])
        other = businesses.create_business(session, name="Barber", timezone="UTC", now=NOW).id
    world.fake.add_calendar("Team", calendar_id="team@group.calendar.google.com")
    bridge(world).work(world.connection, NOW, force_pull=True)
    ok = run_cli(tmp_path, database_url, "sync", "status", clock=world.runtime.clock)
    assert ok.exit_code == 0, ok.output
    assert all(line.startswith("ok") for line in ok.output.splitlines()[1:]), ok.output
    with world.runtime.db.write() as session:
        session.execute(update(GoogleReadState).where(
            GoogleReadState.google_calendar == "primary").values(
            last_error="the Google calendar primary was not found", last_error_at=NOW))
    world.runtime.clock.advance(dt.timedelta(minutes=20))  # type: ignore[attr-defined]
    result = run_cli(tmp_path, database_url, "sync", "status", clock=world.runtime.clock)
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("STATE") and "NEXT TRY" in lines[0]
    assert lines[1].startswith("error") and "reading primary" in lines[1]
    assert "the Google calendar primary was not found (20 min ago)" in lines[1]
    assert any(line.startswith("stale") for line in lines[2:])  # read 20 min ago
    assert f"{world.business} Salon" in result.output
    # One business only, problems only.
    quiet = run_cli(tmp_path, database_url, "sync", "status", "--business", str(other),
                    clock=world.runtime.clock)
    assert quiet.exit_code == 0 and "(no connections)" in quiet.output
    only = run_cli(tmp_path, database_url, "sync", "status", "--problems",
                   clock=world.runtime.clock)
    assert all(not line.startswith("ok") for line in only.output.splitlines())


def test_metrics_count_per_provider_and_state_without_tenants(world: World) -> None:
    bridge(world).work(world.connection, NOW, force_pull=True)
    world.fake.revoke_all_tokens()
    bridge(world).work(world.connection, NOW, force_pull=True)
    with world.runtime.db.read() as session:
        [connection] = [line for line in overview(session, world.runtime.config, NOW)
                        if line.role == "connection"]
    assert connection.state == "needs_reconnecting" and connection.next_try is None
    server = start_server(world.runtime)
    try:
        text = requests.get(server.url + "/metrics", timeout=20).text
    finally:
        server.stop()
    assert ('bookingcal_sync_items{kind="connection",provider="google",'
            'state="needs_reconnecting"} 1.0') in text
    assert ('bookingcal_sync_items{kind="reading",provider="google",'
            'state="needs_reconnecting"} 1.0') in text
    assert 'bookingcal_sync_items{kind="connection",provider="microsoft",state="ok"} 0.0' \
        in text
    assert "Salon" not in text and "primary" not in text and "example.com" not in text


def test_the_stale_policy_from_the_command_line(world: World, tmp_path: Path,
                                                database_url: str) -> None:
    shown = run_cli(tmp_path, database_url, "business", "stale-policy", str(world.business),
                    clock=world.runtime.clock)
    assert shown.exit_code == 0 and "stale-data policy offer, live check of a mirror older " \
        "than 300 s (the server's default)" in shown.output
    made = run_cli(tmp_path, database_url, "business", "stale-policy", str(world.business),
                   "hide", "--max-age", "120", clock=world.runtime.clock)
    assert made.exit_code == 0 and "stale-data policy hide" in made.output
    assert "older than 120 s" in made.output
    back = run_cli(tmp_path, database_url, "business", "stale-policy", str(world.business),
                   "--default-max-age", clock=world.runtime.clock)
    assert back.exit_code == 0 and "policy hide" in back.output and "300 s" in back.output
    wrong = run_cli(tmp_path, database_url, "business", "stale-policy", str(world.business),
                    "ignore", clock=world.runtime.clock)
    assert wrong.exit_code == 2 and "'ignore' is not one of" in wrong.output
    with world.runtime.db.read() as session:
        assert businesses.get_business(session, world.business).stale_policy == "hide"

"""The per-business blocking policy: which mirrored Google events block online booking, set
through the JSON API and the CLI, stored on the connection, applied at import and to the
events already mirrored when it changes; the defaults keep the rules of
server/domain/blocking.py. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import Result
from sqlalchemy import select

from google_world import World, run_cli
from server.db.models import MirroredEvent
from server.google.pull import pull
from support import NOW, Api, assert_error, start_server

ME = {"email": "user@example.com", "self": True}


def timed(day: int, hour: int, summary: str, **extra: Any) -> dict[str, Any]:
    return {"summary": summary,
            "start": {"dateTime": f"2026-12-{day:02d}T{hour:02d}:00:00+01:00"},
            "end": {"dateTime": f"2026-12-{day:02d}T{hour + 1:02d}:00:00+01:00"}, **extra}


def all_day(day: int, summary: str, **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "start": {"date": f"2026-12-{day:02d}"},
            "end": {"date": f"2026-12-{day + 1:02d}"}, **extra}


def kinds(world: World) -> None:
    fake = world.fake
    fake.user_insert_event("primary", timed(1, 9, "Busy"))
    fake.user_insert_event("primary", timed(1, 11, "Free", transparency="transparent"))
    fake.user_insert_event("primary", timed(1, 13, "Maybe", attendees=[
        {**ME, "responseStatus": "tentative"}]))
    fake.user_insert_event("primary", timed(1, 15, "Declined", attendees=[
        {**ME, "responseStatus": "declined"}]))
    fake.user_insert_event("primary", timed(2, 9, "Away", eventType="outOfOffice"))
    fake.user_insert_event("primary", all_day(3, "Conference"))
    fake.user_insert_event("primary", all_day(4, "Holiday (free)", transparency="transparent"))


def blocking(world: World) -> dict[str, bool]:
    with world.runtime.db.read() as session:
        return {row.summary: row.blocks
                for row in session.execute(select(MirroredEvent)).scalars()}


DEFAULTS = {"Busy": True, "Free": False, "Maybe": True, "Declined": False, "Away": True,
            "Conference": True, "Holiday (free)": False}


def test_policy_through_the_api_recomputes_what_blocks(world: World) -> None:
    kinds(world)
    pull(world.runtime.db, world.api, world.connection, NOW,
         rules=world.runtime.config.availability)
    assert blocking(world) == DEFAULTS
    live = start_server(world.runtime)
    try:
        api = Api(live.url)
        base = f"/businesses/{world.business}/google"
        status = api.ok("GET", base)
        assert (status["block_out_of_office"], status["block_tentative"],
                status["block_all_day"]) == (True, True, True)
        changed = api.ok("PATCH", f"{base}/settings", json={
            "block_out_of_office": False, "block_tentative": False, "block_all_day": False})
        assert (changed["block_out_of_office"], changed["block_tentative"],
                changed["block_all_day"]) == (False, False, False)
        assert blocking(world) == {**DEFAULTS, "Maybe": False, "Away": False,
                                   "Conference": False}
        # Bad input: a clear 422 and nothing changed.
        assert_error(api.patch(f"{base}/settings", json={"block_all_day": "sometimes"}), 422)
        assert api.ok("GET", base)["block_all_day"] is False
        # New imports follow the stored policy.
        world.fake.user_insert_event("primary", all_day(5, "Trade fair"))
        pull(world.runtime.db, world.api, world.connection, NOW,
             rules=world.runtime.config.availability)
        assert blocking(world)["Trade fair"] is False
        api.ok("PATCH", f"{base}/settings", json={"block_all_day": True})
        assert blocking(world) == {**DEFAULTS, "Maybe": False, "Away": False,
                                   "Trade fair": True}
    finally:
        live.stop()


def test_policy_through_the_cli(world: World, tmp_path: Path, database_url: str) -> None:
    kinds(world)
    pull(world.runtime.db, world.api, world.connection, NOW,
         rules=world.runtime.config.availability)

    def cli(*args: str) -> Result:
        return run_cli(tmp_path, database_url, *args, clock=world.runtime.clock)

    result = cli("google", "settings", str(world.business), "--out-of-office-free",
                 "--tentative-free")
    assert result.exit_code == 0, result.output
    assert "out-of-office free" in result.output and "tentative free" in result.output
    assert blocking(world) == {**DEFAULTS, "Maybe": False, "Away": False}
    result = cli("google", "settings", str(world.business), "--calendar", "x:primary")
    assert result.exit_code == 1 and "ID[:WRITE[:READ]]" in result.output
    assert "Traceback" not in result.output
    result = cli("google", "settings", "999", "--all-day-free")
    assert result.exit_code == 1 and "no Google account connected" in result.output
    assert blocking(world) == {**DEFAULTS, "Maybe": False, "Away": False}

"""`bookingcal microsoft …` (status, calendars, settings, disconnect) and disconnecting through
the JSON API, against the strict fake Graph: disconnecting deletes our future copies from
Outlook (or keeps them when asked), deletes the change-notification subscriptions, forgets the
token and the mirrored Outlook events; bookings stay; a copy Outlook will not delete stops the
disconnection with nothing changed; a refused token still disconnects and says what is left."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from fakes.microsoft_fake import FakeMicrosoft
from fakes.microsoft_subscriptions import Subscription
from google_world import run_cli
from microsoft_world import CALENDAR, MicrosoftWorld, make_microsoft_world
from server.db.models import (
    Booking, MicrosoftConnection, MicrosoftCopy, MicrosoftMirroredEvent, MicrosoftReadState,
)
from server.clock import FixedClock
from server.microsoft import connections
from server.sync.engine import Engine
from support import Api, start_server


@pytest.fixture
def ms(tmp_path: Path, database_url: str) -> Iterator[MicrosoftWorld]:
    with FakeMicrosoft() as fake, make_microsoft_world(tmp_path, database_url, fake) as world:
        fake.now = world.runtime.clock.now
        yield world
        assert fake.internal_errors == []


def sync(world: MicrosoftWorld) -> None:
    [report] = Engine(world.runtime, worker="cli-test", providers=[world.provider()]).run_once(
        force_pull=True)
    assert report.error is None, report.error


def cli(world: MicrosoftWorld, tmp_path: Path, database_url: str, *args: str) -> Any:
    return run_cli(tmp_path, database_url, "microsoft", *args, clock=world.runtime.clock)


def own_event(world: MicrosoftWorld) -> str:
    start = world.now + dt.timedelta(days=3)
    return world.fake.user_add(CALENDAR, {
        "subject": "Dentist", "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"),
                                        "timeZone": "UTC"},
        "end": {"dateTime": (start + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": "UTC"}})


def count(world: MicrosoftWorld, model: Any) -> int:
    with world.runtime.db.read() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def test_status_calendars_and_settings(ms: MicrosoftWorld, tmp_path: Path,
                                       database_url: str) -> None:
    ms.fake.mailbox.calendars["AAMkTeam"] = "Team"
    ms.book(1, 9)
    shown = cli(ms, tmp_path, database_url, "status", str(ms.business))
    assert shown.exit_code == 0, shown.output
    assert f"account {ms.fake.user}" in shown.output
    assert f"Anna: writes to {CALENDAR}, reads {CALENDAR}, 1 pending" in shown.output
    listed = cli(ms, tmp_path, database_url, "calendars", str(ms.business))
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines() == [f"{CALENDAR}\tCalendar (default)", "AAMkTeam\tTeam"]
    changed = cli(ms, tmp_path, database_url, "settings", str(ms.business), "--calendar",
                  f"{ms.anna}:AAMkTeam:{CALENDAR}", "--direction", "to_microsoft",
                  "--tentative-free")
    assert changed.exit_code == 0, changed.output
    assert f"Anna: writes to AAMkTeam, reads {CALENDAR}" in changed.output
    assert "direction to_microsoft" in changed.output and "tentative free" in changed.output
    wrong = cli(ms, tmp_path, database_url, "settings", str(ms.business), "--calendar", "x")
    assert wrong.exit_code != 0 and "ID:WRITE[:READ]" in wrong.output
    twice = cli(ms, tmp_path, database_url, "connect", str(ms.business))
    assert twice.exit_code != 0 and "disconnect it first" in twice.output


def test_disconnect_deletes_copies_and_subscriptions_and_forgets(
        ms: MicrosoftWorld, tmp_path: Path, database_url: str) -> None:
    past = ms.book(1, 9)
    future = ms.book(2, 9)
    own_event(ms)
    sync(ms)
    clock = ms.runtime.clock
    assert isinstance(clock, FixedClock)
    with ms.runtime.db.read() as session:  # the first booking has ended since
        clock.advance(session.get_one(Booking, past).end_utc + dt.timedelta(hours=1)
                      - clock.now())
    with ms.runtime.db.write() as session:
        state = session.execute(select(MicrosoftReadState)).scalar_one()
        state.channel_id = "sub-1"  # as subscriptions.renew leaves it
    ms.fake.subscriptions.items["sub-1"] = Subscription(
        "sub-1", f"me/calendars/{CALENDAR}/events", CALENDAR, "https://example.invalid/n",
        None, "state", ms.now + dt.timedelta(days=2))
    assert count(ms, MicrosoftMirroredEvent) == 1 and count(ms, MicrosoftCopy) == 2
    done = cli(ms, tmp_path, database_url, "disconnect", str(ms.business))
    assert done.exit_code == 0, done.output
    assert "1 copies deleted from Outlook, 0 kept" in done.output
    assert "account.live.com/consent/Manage" in done.output
    subjects = sorted(e.data["subject"] for e in ms.fake.mailbox.live(CALENDAR))
    assert subjects == ["Dentist", "Haircut"]  # the past copy stays as history
    assert [(r.path, r.status) for r in ms.fake.requests("DELETE /v1.0/subscriptions/*")] == [
        ("/v1.0/subscriptions/sub-1", 204)]
    assert ms.fake.subscriptions.items == {}
    for model in (MicrosoftConnection, MicrosoftCopy, MicrosoftMirroredEvent,
                  MicrosoftReadState):
        assert count(ms, model) == 0, model
    assert count(ms, Booking) == 2
    again = cli(ms, tmp_path, database_url, "status", str(ms.business))
    assert "not connected" in again.output
    assert future
    # Connecting again: the consent URL of the identity platform, with PKCE.
    url = cli(ms, tmp_path, database_url, "connect", str(ms.business))
    assert url.exit_code == 0, url.output
    assert f"{ms.fake.authority}/oauth2/v2.0/authorize?" in url.output
    assert "code_challenge_method=S256" in url.output


def test_disconnect_through_the_api_keeps_copies_when_asked(ms: MicrosoftWorld) -> None:
    ms.book(1, 9)
    sync(ms)
    live = start_server(ms.runtime)
    try:
        api = Api(live.url)
        report = api.ok("POST", f"/businesses/{ms.business}/microsoft/disconnect",
                        json={"keep_copies": True})
        assert report["copies_kept"] == 1 and report["copies_deleted"] == 0
        assert report["revoked"] is False and "consent" in report["note"]
        assert len(ms.fake.mailbox.live(CALENDAR)) == 1
        assert api.ok("GET", f"/businesses/{ms.business}/microsoft")["connected"] is False
        gone = api.post(f"/businesses/{ms.business}/microsoft/disconnect", json={})
        assert gone.status_code == 404 and "no Microsoft account" in gone.text
    finally:
        live.stop()


def test_a_copy_outlook_will_not_delete_stops_the_disconnection(
        ms: MicrosoftWorld, tmp_path: Path, database_url: str) -> None:
    ms.book(1, 9)
    sync(ms)
    ms.fake.fail(403, "DELETE /v1.0/me/events/*", times=5)
    refused = cli(ms, tmp_path, database_url, "disconnect", str(ms.business))
    assert refused.exit_code != 0 and "could not be deleted" in refused.output
    assert count(ms, MicrosoftConnection) == 1 and count(ms, MicrosoftCopy) == 1


def test_a_refused_token_still_disconnects_and_says_what_is_left(
        ms: MicrosoftWorld, tmp_path: Path, database_url: str) -> None:
    ms.book(1, 9)
    sync(ms)
    ms.fake.identity.revoke_all()
    done = cli(ms, tmp_path, database_url, "disconnect", str(ms.business))
    assert done.exit_code == 0, done.output
    assert "remove them there by hand" in done.output
    assert count(ms, MicrosoftConnection) == 0
    assert len(ms.fake.mailbox.live(CALENDAR)) == 1
    with ms.runtime.db.write() as session:  # connecting again starts from nothing
        connections.connect(session, ms.runtime.keyring, ms.business,
                            ms.fake.identity.issue_refresh_token(), ms.now)

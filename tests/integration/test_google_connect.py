"""Connecting Google through the consent flow of the fake (PKCE, a state bound to the business),
the settings API, and refusing a second account until the first is disconnected."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from fakes import FakeGoogle
from support import (
    Api, LiveServer, assert_error, google_toml, make_runtime, make_salon, start_server,
)


@pytest.fixture
def setup(tmp_path: Path, database_url: str) -> Iterator[tuple[FakeGoogle, LiveServer, Api]]:
    with FakeGoogle() as fake:
        secret = tmp_path / "google-secret"
        secret.write_text(fake.client_secret, encoding="utf-8")
        live = start_server(make_runtime(tmp_path, database_url,
                                         extra=google_toml(fake, secret)))
        try:
            yield fake, live, Api(live.url)
        finally:
            live.stop()


def test_consent_connects_the_account_and_settings_follow(
        setup: tuple[FakeGoogle, LiveServer, Api]) -> None:
    fake, live, api = setup
    salon = make_salon(api)
    base = f"/businesses/{salon.business}/google"
    assert api.ok("GET", base) == {"connected": False, "account_email": None, "status": None,
                                    "direction": None, "hide_client_details": None,
                                    "block_online_booking": None, "reminders": None,
                                    "last_sync_at": None, "last_error": None,
                                    "last_error_at": None, "copies_restored": 0,
                                    "calendars": [], "block_out_of_office": None,
                                    "block_tentative": None, "block_all_day": None,
                                    "edit_refusals": []}
    url = api.ok("POST", f"{base}/connect")["consent_url"]
    query = parse_qs(urlsplit(url).query)
    assert query["redirect_uri"] == [live.url + "/google/oauth/callback"]
    assert query["code_challenge_method"] == ["S256"] and query["access_type"] == ["offline"]
    answer = requests.get(url, timeout=20)  # the fake consents and sends us to the callback
    assert answer.status_code == 200, answer.text
    assert "connected" in answer.text
    status = api.ok("GET", base)
    assert status["connected"] and status["status"] == "connected"
    assert status["direction"] == "both"
    # The state was used up: replaying the callback does not connect anything again.
    replay = requests.get(answer.url, timeout=20)
    assert replay.status_code == 400 and "expired or was already used" in replay.text
    changed = api.ok("PATCH", f"{base}/settings", json={
        "direction": "to_google", "hide_client_details": True, "block_online_booking": True,
        "calendars": [{"calendar_id": salon.calendar, "write_calendar": "primary"}]})
    assert changed["direction"] == "to_google" and changed["hide_client_details"]
    assert [c["calendar_id"] for c in changed["calendars"]] == [salon.calendar]
    assert_error(api.post(f"{base}/connect"), 409, "conflict", "disconnect it first")
    assert_error(api.patch(f"{base}/settings", json={"direction": "sideways"}), 422)


def test_a_denied_consent_or_a_forged_state_connects_nothing(
        setup: tuple[FakeGoogle, LiveServer, Api]) -> None:
    fake, live, api = setup
    salon = make_salon(api)
    base = f"/businesses/{salon.business}/google"
    fake.deny_next_consent()
    url = api.ok("POST", f"{base}/connect")["consent_url"]
    answer = requests.get(url, timeout=20)
    assert answer.status_code == 400 and "not granted" in answer.text
    forged = requests.get(live.url + "/google/oauth/callback",
                          params={"state": "made-up", "code": "x"}, timeout=20)
    assert forged.status_code == 400
    assert api.ok("GET", base)["connected"] is False


def test_without_a_configured_client_connecting_is_refused(tmp_path: Path) -> None:
    live = start_server(make_runtime(tmp_path, f"sqlite:///{tmp_path}/db.sqlite3"))
    try:
        api = Api(live.url)
        salon = make_salon(api)
        assert_error(api.post(f"/businesses/{salon.business}/google/connect"), 409,
                     "not_configured", "google.client_id")
    finally:
        live.stop()

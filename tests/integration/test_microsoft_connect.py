"""Connecting Microsoft 365 / Outlook through the JSON API and the OAuth callback, with MSAL's
authorization-code flow and PKCE against the fake identity platform (HTTPS on loopback): the
refresh token is stored encrypted, the state is single-use, a refusal says what to do, and a
connection that needs reconnecting keeps its settings when reconnected."""

from __future__ import annotations

import html
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import select, text

from fakes.microsoft_fake import FakeMicrosoft
from microsoft_world import MicrosoftWorld, make_microsoft_world
from server.db import key_directory
from server.db.models import MicrosoftConnection
from server.microsoft import connections
from support import Api, LiveServer, assert_error, start_server


@pytest.fixture
def connecting(tmp_path: Path, database_url: str
               ) -> Iterator[tuple[MicrosoftWorld, LiveServer]]:
    with FakeMicrosoft() as fake, make_microsoft_world(tmp_path, database_url, fake) as world:
        with world.runtime.db.write() as session:  # a business not yet connected
            session.execute(text("DELETE FROM microsoft_connections"))
        server = start_server(world.runtime)
        try:
            yield world, server
        finally:
            server.stop()
        assert fake.internal_errors == []


def consent(world: MicrosoftWorld, live: LiveServer) -> str:
    answer = Api(live.url).ok("POST", f"/businesses/{world.business}/microsoft/connect")
    url = str(answer["consent_url"])
    assert url.startswith(world.fake.authority + "/oauth2/v2.0/authorize?")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    assert set(query["scope"][0].split()) == {"Calendars.ReadWrite", "User.Read",
                                               "offline_access", "openid", "profile"}
    assert query["redirect_uri"] == [f"{live.url}/microsoft/oauth/callback"]
    assert query["response_mode"] == ["form_post"]
    return url


def consented(world: MicrosoftWorld, url: str) -> requests.Response:
    """The user consents: the identity platform's page posts the code back (form_post), as
    the browser would."""
    page = requests.get(url, allow_redirects=False, verify=world.fake.ca_file, timeout=10)
    assert page.status_code == 200
    action = re.search(r'action="([^"]+)"', page.text)
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    assert action is not None and set(fields) == {"code", "state"}
    return requests.post(html.unescape(action.group(1)), data=fields, timeout=10)


def connection(world: MicrosoftWorld) -> MicrosoftConnection | None:
    with world.runtime.db.read() as session:
        found = session.execute(select(MicrosoftConnection)).scalar_one_or_none()
        if found is not None:
            session.expunge(found)
        return found


def test_consent_connects_with_the_refresh_token_encrypted(
        connecting: tuple[MicrosoftWorld, LiveServer]) -> None:
    world, live = connecting
    url = consent(world, live)
    # The state names its business in the key directory until it is used up.
    digest = world.runtime.keyring.hash_token(
        urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["state"][0])
    with world.runtime.db.read() as session:
        assert key_directory.business_of(session, "microsoft_oauth", digest) == world.business
    page = consented(world, url)
    assert page.status_code == 200 and "is connected" in page.text
    with world.runtime.db.read() as session:
        assert key_directory.business_of(session, "microsoft_oauth", digest) is None
    row = connection(world)
    assert row is not None and row.status == "connected"
    assert row.account_email == world.fake.user
    stored = world.runtime.keyring.decrypt(row.refresh_token_encrypted)
    assert stored in world.fake.identity.refresh_tokens
    assert stored not in row.refresh_token_encrypted
    # The same answer again: the state is used up.
    again = requests.post(page.url, data=dict(urllib.parse.parse_qsl(page.request.body or "")),
                          timeout=10)
    assert again.status_code == 400 and "expired or was already used" in again.text
    status = Api(live.url).ok("GET", f"/businesses/{world.business}/microsoft")
    assert status["connected"] and status["account_email"] == world.fake.user
    assert_error(Api(live.url).post(f"/businesses/{world.business}/microsoft/connect"), 409,
                 contains="disconnect it first")


def test_refused_consent_and_forged_answers_say_what_to_do(
        connecting: tuple[MicrosoftWorld, LiveServer]) -> None:
    world, live = connecting
    url = consent(world, live)
    state = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["state"][0]
    denied = requests.get(f"{live.url}/microsoft/oauth/callback", timeout=10, params={
        "state": state, "error": "access_denied", "error_description": "AADSTS65004"})
    assert denied.status_code == 400 and "administrator's consent" in denied.text
    forged = requests.get(f"{live.url}/microsoft/oauth/callback", timeout=10,
                          params={"state": "made-up", "code": "x"})
    assert forged.status_code == 400 and "start again" in forged.text
    assert connection(world) is None


def test_a_connection_needing_reconnection_is_reconnected_with_its_settings(
        connecting: tuple[MicrosoftWorld, LiveServer]) -> None:
    world, live = connecting
    consented(world, consent(world, live))
    with world.runtime.db.write() as session:
        connections.update_settings(session, world.business, now=world.now,
                                    calendars=[connections.CalendarChoice(world.anna, "AAMk")],
                                    hide_client_details=True)
        row = session.execute(select(MicrosoftConnection)).scalar_one()
        row.status = "needs_reconnect"
    page = consented(world, consent(world, live))
    assert page.status_code == 200
    row2 = connection(world)
    assert row2 is not None and row2.status == "connected" and row2.hide_client_details
    status = Api(live.url).ok("GET", f"/businesses/{world.business}/microsoft")
    assert [c["write_calendar"] for c in status["calendars"]] == ["AAMk"]


def test_settings_are_checked(connecting: tuple[MicrosoftWorld, LiveServer]) -> None:
    world, live = connecting
    api = Api(live.url)
    assert_error(api.patch(f"/businesses/{world.business}/microsoft/settings",
                           json={"direction": "sideways"}), 422)
    assert_error(api.patch(f"/businesses/{world.business}/microsoft/settings",
                           json={"direction": "both"}), 404, contains="connect one first")

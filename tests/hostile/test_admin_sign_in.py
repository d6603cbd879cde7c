"""Hostile `next` targets of the admin sign-in over real HTTP (issue 12, item 6): a CR/LF, NUL,
DEL, tab or other control character or space in `next` sends the admin home instead of bending
the Location header, both when signing in (the session row and its cookie go together) and when
already signed in; nothing answers 500."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Iterator

import pytest
import requests
from sqlalchemy import func, select

from server.admin import sessions
from server.admin.accounts import create_user
from server.db.models import AdminSession
from support import NOW, Api, LiveServer, make_runtime, make_salon, start_server

EMAIL = "owner@salon.example"
PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
HOSTILE_NEXT = ["/admin/\r\nX:y", "/admin/\rSet-Cookie: a=b", "/admin/\nX:y", "/admin/\x00",
                "/admin/\x7f", "/admin/\tx", "/admin/ x", "/admin/\u2028x", "/admin/\x85x"]


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    server = start_server(make_runtime(tmp_path, database_url))
    salon = make_salon(Api(server.url))
    with server.runtime.db.write() as session:
        create_user(session, salon.business, EMAIL, PASSWORD, NOW)
    yield server
    server.stop()


def sessions_stored(live: LiveServer) -> int:
    with live.runtime.db.read() as session:
        return session.execute(select(func.count()).select_from(AdminSession)).scalar_one()


def sign_in(live: LiveServer, target: str) -> tuple[requests.Session, requests.Response]:
    browser = requests.Session()
    form = browser.get(live.url + "/admin/sign-in", params={"next": target}, timeout=20)
    assert form.status_code == 200, form.text
    token = TOKEN.search(form.text)
    assert token
    answer = browser.post(live.url + "/admin/sign-in", timeout=20, allow_redirects=False, data={
        "csrf_token": token.group(1), "email": EMAIL, "password": PASSWORD, "next": target})
    return browser, answer


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_a_hostile_next_sends_the_admin_home(live: LiveServer, target: str,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    before = sessions_stored(live)
    browser, answer = sign_in(live, target)
    assert answer.status_code == 303, (answer.status_code, answer.text)
    assert answer.headers["Location"].endswith("/admin/")
    assert "X" not in answer.headers and "a=b" not in answer.headers.get("Set-Cookie", "")
    # The session that was stored is the one whose cookie was sent.
    assert sessions.COOKIE in browser.cookies and sessions_stored(live) == before + 1
    again = browser.get(live.url + "/admin/sign-in", params={"next": target}, timeout=20,
                        allow_redirects=False)
    assert again.status_code == 303 and again.headers["Location"].endswith("/admin/")
    # Neither the password, the session token nor the address reached a log line.
    for secret in (PASSWORD, browser.cookies[sessions.COOKIE], EMAIL):
        assert secret not in caplog.text
    assert "incident" not in caplog.text


def test_a_plain_next_is_still_followed(live: LiveServer) -> None:
    browser, answer = sign_in(live, "/admin/calendar/links")
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith("/admin/calendar/links")

"""Helpers of the admin-page tests: a served business with an admin account, and signing in
over plain HTTP (requests) the way a browser does: fetch the form, send it back with its token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from server.admin.accounts import create_user
from support import (
    NOW, Api, LiveServer, Salon, google_toml, make_runtime, make_salon, microsoft_toml,
    start_server,
)

EMAIL = "owner@salon.example"
PASSWORD = "correct horse battery"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class AdminSite:
    live: LiveServer
    api: Api
    salon: Salon

    @property
    def admin(self) -> str:
        return self.live.url + "/admin"

    def stop(self) -> None:
        self.live.stop()


def serve_admin(folder: Path, database_url: str, extra: str = "") -> AdminSite:
    live = start_server(make_runtime(folder, database_url, extra=extra))
    api = Api(live.url)
    salon = make_salon(api)
    with live.runtime.db.write() as session:
        create_user(session, salon.business, EMAIL, PASSWORD, NOW)
    return AdminSite(live, api, salon)


@contextmanager
def google_site(folder: Path, fake: Any) -> Iterator[AdminSite]:
    """An admin site (SQLite) whose [google] section points at `fake` (a tests/fakes
    FakeGoogle); stopped afterwards."""
    secret = folder / "google-secret"
    secret.write_text(fake.client_secret, encoding="utf-8")
    found = serve_admin(folder, f"sqlite:///{folder}/admin.sqlite3",
                        extra=google_toml(fake, secret))
    try:
        yield found
    finally:
        found.stop()


@contextmanager
def microsoft_site(folder: Path, fake: Any) -> Iterator[AdminSite]:
    """An admin site (SQLite) whose [microsoft] section points at `fake` (a tests/fakes
    FakeMicrosoft); stopped afterwards."""
    secret = folder / "microsoft-secret"
    secret.write_text(fake.client_secret, encoding="utf-8")
    found = serve_admin(folder, f"sqlite:///{folder}/admin.sqlite3",
                        extra=microsoft_toml(fake, secret))
    try:
        yield found
    finally:
        found.stop()


def form_token(html: str) -> str:
    found = _TOKEN.search(html)
    assert found, html
    return found.group(1)


def sign_in(site: AdminSite, password: str = PASSWORD,
            browser: requests.Session | None = None) -> tuple[requests.Session, requests.Response]:
    """A requests session that went through the sign-in form; returns it and the answer."""
    browser = browser or requests.Session()
    form = browser.get(site.admin + "/sign-in", timeout=20)
    assert form.status_code == 200, form.text
    answer = browser.post(site.admin + "/sign-in", timeout=20, allow_redirects=False, data={
        "csrf_token": form_token(form.text), "email": EMAIL, "password": password})
    return browser, answer

"""The admin pages over plain HTTP: sessions (cookie flags, stored hashed, sign-out, expiry),
CSRF on every form, the sign-in rate limit, refusals of bad input, the create-user command."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Iterator

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import func, select

from admin_site import EMAIL, PASSWORD, AdminSite, form_token, serve_admin, sign_in
from server.admin import sessions
from server.cli import main
from server.db.models import AdminSession, AdminUser, Link
from server.admin.accounts import create_user
from support import HOST_KEY, NOW, Api, make_runtime, make_salon, start_server


@pytest.fixture
def site(tmp_path: Path, database_url: str) -> Iterator[AdminSite]:
    found = serve_admin(tmp_path, database_url, extra="[admin]\nfailed_sign_ins_per_hour = 3\n")
    try:
        yield found
    finally:
        found.stop()


def links_in_db(site: AdminSite) -> int:
    with site.live.runtime.db.read() as session:
        return session.execute(select(func.count()).select_from(Link)).scalar_one()


def test_signing_in_gives_a_hashed_http_only_session_that_signing_out_ends(
        site: AdminSite) -> None:
    browser, answer = sign_in(site)
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/admin/")
    cookie = answer.headers["Set-Cookie"]
    assert f"{sessions.COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # public_url is http here
    token = browser.cookies[sessions.COOKIE]
    assert token
    with site.live.runtime.db.read() as session:
        stored = list(session.execute(select(AdminSession.token_hash)).scalars())
        user = session.execute(select(AdminUser)).scalar_one()
    assert len(stored) == 1 and token not in stored[0] and stored[0] != token
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    page = browser.get(site.admin + "/calendar/links", timeout=20)
    assert page.status_code == 200 and "All calendars" in page.text and "Anna Berg" in page.text
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["Cache-Control"] == "no-store"
    out = browser.post(site.admin + "/sign-out", data={"csrf_token": form_token(page.text)},
                       timeout=20, allow_redirects=False)
    assert out.status_code == 303
    with site.live.runtime.db.read() as session:
        assert session.execute(select(func.count()).select_from(AdminSession)).scalar_one() == 0
    # The old cookie, replayed, opens nothing.
    replay = requests.get(site.admin + "/calendar/links", cookies={sessions.COOKIE: token},
                          timeout=20, allow_redirects=False)
    assert replay.status_code == 303 and "/admin/sign-in" in replay.headers["Location"]


def test_signed_out_requests_are_sent_to_sign_in_or_refused(site: AdminSite) -> None:
    page = requests.get(site.admin + "/apps/google", timeout=20, allow_redirects=False)
    assert page.status_code == 303
    assert page.headers["Location"].endswith("/admin/sign-in?next=/admin/apps/google")
    refused = requests.post(site.admin + "/calendar/links", timeout=20, allow_redirects=False,
                            data={"calendar": "all", "profile": "full", "csrf_token": "x"})
    assert refused.status_code == 403 and "signed out" in refused.text
    assert links_in_db(site) == 0


def test_every_form_needs_the_sessions_csrf_token(site: AdminSite) -> None:
    browser, _ = sign_in(site)
    page = browser.get(site.admin + "/calendar/links", timeout=20)
    good = form_token(page.text)
    form = {"calendar": str(site.salon.calendar), "profile": "limited", "label": "iPhone"}
    for wrong in ({}, {"csrf_token": ""}, {"csrf_token": good[:-1] + "x"}):
        refused = browser.post(site.admin + "/calendar/links", data={**form, **wrong},
                               timeout=20, allow_redirects=False)
        assert refused.status_code == 403 and "Reload the page" in refused.text
    assert links_in_db(site) == 0
    # Another signed-in browser's token does not fit this session either.
    other, _ = sign_in(site)
    other_token = form_token(other.get(site.admin + "/calendar/links", timeout=20).text)
    assert other_token != good
    refused = browser.post(site.admin + "/calendar/links", data={**form, "csrf_token":
                           other_token}, timeout=20, allow_redirects=False)
    assert refused.status_code == 403
    made = browser.post(site.admin + "/calendar/links", data={**form, "csrf_token": good},
                        timeout=20, allow_redirects=False)
    assert made.status_code == 303 and "/admin/calendar/links/" in made.headers["Location"]
    assert links_in_db(site) == 1


def test_the_sign_in_form_needs_its_own_token(site: AdminSite) -> None:
    browser = requests.Session()
    browser.get(site.admin + "/sign-in", timeout=20)
    forged = browser.post(site.admin + "/sign-in", timeout=20, allow_redirects=False,
                          data={"csrf_token": "guess", "email": EMAIL, "password": PASSWORD})
    assert forged.status_code == 403
    bare = requests.post(site.admin + "/sign-in", timeout=20, allow_redirects=False,
                         data={"email": EMAIL, "password": PASSWORD})
    assert bare.status_code == 403 and sessions.COOKIE not in bare.cookies


def test_failed_sign_ins_are_limited_per_address(site: AdminSite) -> None:
    for _ in range(3):
        _, answer = sign_in(site, password="wrong password!")
        assert answer.status_code == 401 and "wrong" in answer.text
        assert sessions.COOKIE not in answer.cookies
    _, blocked = sign_in(site)  # even the right password, while the address is blocked
    assert blocked.status_code == 429 and blocked.headers["Retry-After"] == "3600"
    assert sessions.COOKIE not in blocked.cookies


def test_a_session_ends_after_its_lifetime(site: AdminSite) -> None:
    browser, _ = sign_in(site)
    assert browser.get(site.admin + "/calendar/links", timeout=20).status_code == 200
    site.live.clock.advance(dt.timedelta(hours=12, seconds=1))
    late = browser.get(site.admin + "/calendar/links", timeout=20, allow_redirects=False)
    assert late.status_code == 303 and "/admin/sign-in" in late.headers["Location"]


def test_bad_input_is_a_clear_error_and_writes_nothing(site: AdminSite) -> None:
    browser, _ = sign_in(site)
    token = form_token(browser.get(site.admin + "/calendar/links", timeout=20).text)
    cases = [({"calendar": "all", "profile": "everything"}, 422, "profile must be one of"),
             ({"calendar": "all", "profile": "busy", "valid_until": "31/12/2027"}, 422,
              "is not a date"),
             ({"calendar": "all", "profile": "busy", "valid_until": "2020-01-01"}, 422,
              "must lie in the future"),
             ({"calendar": "9999", "profile": "busy"}, 404, "calendar 9999"),
             ({"calendar": "", "profile": "busy"}, 422, "choose a calendar")]
    for form, status, message in cases:
        answer = browser.post(site.admin + "/calendar/links", data={**form, "csrf_token": token},
                              timeout=20)
        assert answer.status_code == status, (form, answer.status_code)
        assert message in answer.text and "Traceback" not in answer.text
    assert links_in_db(site) == 0
    missing = browser.get(site.admin + "/calendar/links/12345", timeout=20)
    assert missing.status_code == 404 and "does not exist" in missing.text


def test_sign_in_only_returns_to_our_own_pages(site: AdminSite) -> None:
    browser = requests.Session()
    for target, expected in (("https://evil.example/", "/admin/"),
                             ("//evil.example/admin/", "/admin/"),
                             ("/admin/apps/google", "/admin/apps/google")):
        form = browser.get(site.admin + "/sign-in", params={"next": target}, timeout=20)
        answer = browser.post(site.admin + "/sign-in", timeout=20, allow_redirects=False, data={
            "csrf_token": form_token(form.text), "email": EMAIL, "password": PASSWORD,
            "next": target})
        assert answer.status_code == 303
        assert answer.headers["Location"] == expected, target
        browser.cookies.clear()


def test_the_cookie_is_secure_behind_https(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, f"sqlite:///{tmp_path}/db.sqlite3")
    runtime = dataclasses.replace(runtime, config=dataclasses.replace(
        runtime.config, public_url="https://cal.example.com/"))
    live = start_server(runtime, keep_public_url=True)
    try:
        answer = requests.get(live.url + "/admin/sign-in", timeout=20)
        assert "Secure" in answer.headers["Set-Cookie"]
    finally:
        live.stop()


def test_create_user_command(tmp_path: Path) -> None:
    (tmp_path / "bookingcal.toml").write_text('data_dir = "data"\n', encoding="utf-8")
    runner = CliRunner(env={"BOOKINGCAL_CONFIG": None, "BOOKINGCAL_DATABASE_URL": None,
                            "BOOKINGCAL_HOST_KEY": HOST_KEY})
    config = ["--config", str(tmp_path / "bookingcal.toml")]

    def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
        result = runner.invoke(main, [*config, *args], input=input)
        return result.exit_code, result.stdout, result.stderr

    assert run("db", "upgrade")[0] == 0
    assert run("business", "create", "Salon", "--timezone", "Europe/Oslo")[0] == 0
    code, out, _ = run("admin", "create-user", "--business", "1", "--password-stdin",
                       "Owner@Salon.example", input="a long password\n")
    assert code == 0 and "owner@salon.example created for business 1" in out
    code, out, _ = run("admin", "create-user", "--business", "1", "other@salon.example",
                       input="prompted password\nprompted password\n")
    assert code == 0 and "other@salon.example created" in out
    for args, stdin, message in (
            (("--business", "1", "owner@salon.example"), "another password\n", "exists already"),
            (("--business", "7", "x@salon.example"), "another password\n", "business 7"),
            (("--business", "1", "not-an-address"), "another password\n", "not an e-mail"),
            (("--business", "1", "y@salon.example"), "short\n", "at least 10 characters")):
        code, out, err = run("admin", "create-user", "--password-stdin", *args, input=stdin)
        assert code == 1 and message in err and "Traceback" not in err, (args, err)


def test_the_pages_work_below_a_public_sub_path(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, f"sqlite:///{tmp_path}/db.sqlite3")
    runtime = dataclasses.replace(runtime, config=dataclasses.replace(
        runtime.config, public_url="http://127.0.0.1/calendar/"))
    live = start_server(runtime, keep_public_url=True)
    try:
        site = AdminSite(live, Api(live.url), make_salon(Api(live.url)))
        with live.runtime.db.write() as session:
            create_user(session, site.salon.business, EMAIL, PASSWORD, NOW)
        base = live.url + "/calendar/admin"
        browser = requests.Session()
        first = browser.get(base + "/apps/google", timeout=20, allow_redirects=False)
        assert first.headers["Location"] == "/calendar/admin/sign-in?next=/calendar/admin/apps/google"
        form = browser.get(base + "/sign-in", timeout=20)
        assert 'action="/calendar/admin/sign-in"' in form.text
        assert "Path=/calendar/" in form.headers["Set-Cookie"]
        answer = browser.post(base + "/sign-in", timeout=20, allow_redirects=False, data={
            "csrf_token": form_token(form.text), "email": EMAIL, "password": PASSWORD,
            "next": "/calendar/admin/apps/google"})
        assert answer.status_code == 303
        assert answer.headers["Location"] == "/calendar/admin/apps/google"
        assert "Path=/calendar/" in answer.headers["Set-Cookie"]
        page = browser.get(base + "/calendar/links", timeout=20)
        assert page.status_code == 200 and 'href="/calendar/admin/static/admin.css"' in page.text
    finally:
        live.stop()


def test_google_pages_without_a_configured_client_say_what_to_do(site: AdminSite) -> None:
    browser, _ = sign_in(site)
    overview = browser.get(site.admin + "/apps/google", timeout=20)
    assert overview.status_code == 200 and "google.client_id" in overview.text
    assert "Activate" not in overview.text
    token = form_token(overview.text)
    refused = browser.post(site.admin + "/apps/google/connect", data={"csrf_token": token},
                           timeout=20, allow_redirects=False)
    assert refused.status_code == 409 and "not configured" in refused.text
    # Settings and disconnecting need a connection first.
    settings_page = browser.get(site.admin + "/apps/google/settings", timeout=20,
                                allow_redirects=False)
    assert settings_page.status_code == 303
    assert settings_page.headers["Location"].endswith("/admin/apps/google")
    saved = browser.post(site.admin + "/apps/google/settings", timeout=20, data={
        "csrf_token": token, "direction": "both"})
    assert saved.status_code == 404 and "no Google account connected" in saved.text
    gone = browser.post(site.admin + "/apps/google/disconnect", data={"csrf_token": token},
                        timeout=20)
    assert gone.status_code == 400 and "no Google account connected" in gone.text

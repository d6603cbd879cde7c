"""The Account page over plain HTTP and the account commands: the business's accounts are
listed, a password changes only with the current one (and signs the account's other browsers
out), another account can be removed (signed out at once), never the last one."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import func, select

from admin_site import EMAIL, PASSWORD, AdminSite, form_token, serve_admin, sign_in
from server.admin.accounts import create_user, remove_user
from server.cli import main
from server.db.models import AdminSession, AdminUser
from server.errors import ConflictError
from support import HOST_KEY, NOW

OTHER = "colleague@salon.example"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def site(tmp_path: Path, database_url: str) -> Iterator[AdminSite]:
    found = serve_admin(tmp_path, database_url, extra="[admin]\nfailed_sign_ins_per_hour = 3\n")
    with found.live.runtime.db.write() as session:
        create_user(session, found.salon.business, OTHER, PASSWORD, NOW)
    try:
        yield found
    finally:
        found.stop()


def signed_in_as(site: AdminSite, email: str, password: str = PASSWORD) -> requests.Session:
    browser = requests.Session()
    form = browser.get(site.admin + "/sign-in", timeout=20)
    answer = browser.post(site.admin + "/sign-in", timeout=20, allow_redirects=False, data={
        "csrf_token": form_token(form.text), "email": email, "password": password})
    assert answer.status_code == 303, answer.text
    return browser


def account_page(browser: requests.Session, site: AdminSite) -> str:
    page = browser.get(site.admin + "/account", timeout=20, allow_redirects=False)
    assert page.status_code == 200, page.status_code
    return page.text


def user_ids(site: AdminSite) -> dict[str, int]:
    with site.live.runtime.db.read() as session:
        return {u.email: u.id for u in session.execute(select(AdminUser)).scalars()}


def sessions_of(site: AdminSite, email: str) -> int:
    with site.live.runtime.db.read() as session:
        return session.execute(select(func.count()).select_from(AdminSession).join(
            AdminUser, AdminUser.id == AdminSession.user_id).where(
            AdminUser.email == email)).scalar_one()


def change(browser: requests.Session, site: AdminSite, current: str, new: str,
           repeat: str | None = None) -> requests.Response:
    token = form_token(account_page(browser, site))
    return browser.post(site.admin + "/account/password", timeout=20, allow_redirects=False,
                        data={"csrf_token": token, "current_password": current,
                              "new_password": new, "repeat_password": new if repeat is None
                              else repeat})


def test_the_page_lists_the_business_accounts(site: AdminSite) -> None:
    # An account of another business is not listed.
    other_business = site.api.ok("POST", "/businesses", 201, json={
        "name": "Clinic", "timezone": "Europe/Oslo"})["id"]
    with site.live.runtime.db.write() as session:
        create_user(session, other_business, "doctor@clinic.example", PASSWORD, NOW)
    browser, _ = sign_in(site)
    text = account_page(browser, site)
    assert f"{EMAIL} (you)" in text and OTHER in text and "doctor@clinic.example" not in text
    assert f'aria-label="Remove {OTHER}"' in text and f'aria-label="Remove {EMAIL}"' not in text


def test_the_password_changes_only_with_the_current_one(site: AdminSite) -> None:
    browser, _ = sign_in(site)
    elsewhere = signed_in_as(site, EMAIL)  # the same account in another browser
    colleague = signed_in_as(site, OTHER)
    for current, new, repeat, message in (
            ("wrong password!", NEW_PASSWORD, None, "the current password is wrong"),
            (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "repetition differ"),
            (PASSWORD, "short", None, "at least 10 characters")):
        answer = change(browser, site, current, new, repeat)
        assert answer.status_code == 422 and message in answer.text, message
        assert 'role="alert"' in answer.text
    signed_in_as(site, EMAIL, PASSWORD)  # still the old password
    answer = change(browser, site, PASSWORD, NEW_PASSWORD)
    assert answer.status_code == 303 and answer.headers["Location"].endswith(
        "/admin/account?done=password-changed")
    assert "Your password is changed" in browser.get(site.live.url + answer.headers["Location"],
                                                     timeout=20).text
    # The other browser of this account is signed out; this one and the colleague's are not.
    assert elsewhere.get(site.admin + "/account", timeout=20,
                         allow_redirects=False).status_code == 303
    assert sessions_of(site, EMAIL) == 1
    account_page(colleague, site)
    _, old = sign_in(site, password=PASSWORD)
    assert old.status_code == 401
    signed_in_as(site, EMAIL, NEW_PASSWORD)


def test_wrong_current_passwords_count_towards_the_sign_in_limit(site: AdminSite) -> None:
    browser, _ = sign_in(site)
    for _ in range(3):
        assert change(browser, site, "wrong password!", NEW_PASSWORD).status_code == 422
    blocked = change(browser, site, PASSWORD, NEW_PASSWORD)  # even the right one, for now
    assert blocked.status_code == 429 and "Too many wrong passwords" in blocked.text
    assert blocked.headers["Retry-After"] == "3600"
    _, sign_in_answer = sign_in(site)
    assert sign_in_answer.status_code == 429


def test_another_account_is_removed_and_signed_out_but_not_ones_own(site: AdminSite) -> None:
    browser, _ = sign_in(site)
    colleague = signed_in_as(site, OTHER)
    ids = user_ids(site)
    token = form_token(account_page(browser, site))
    own = browser.post(f"{site.admin}/account/users/{ids[EMAIL]}/remove", timeout=20,
                       data={"csrf_token": token})
    assert own.status_code == 409 and "your own account" in own.text
    missing = browser.post(f"{site.admin}/account/users/9999/remove", timeout=20,
                           data={"csrf_token": token})
    assert missing.status_code == 404 and "does not exist" in missing.text
    assert set(user_ids(site)) == {EMAIL, OTHER}
    answer = browser.post(f"{site.admin}/account/users/{ids[OTHER]}/remove", timeout=20,
                          allow_redirects=False, data={"csrf_token": token})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("done=user-removed")
    assert set(user_ids(site)) == {EMAIL} and sessions_of(site, OTHER) == 0
    gone = colleague.get(site.admin + "/account", timeout=20, allow_redirects=False)
    assert gone.status_code == 303 and "/admin/sign-in" in gone.headers["Location"]


def test_list_and_remove_commands_never_remove_the_last_account(
        site: AdminSite, tmp_path: Path, database_url: str) -> None:
    runner = CliRunner(env={"BOOKINGCAL_CONFIG": None, "BOOKINGCAL_HOST_KEY": HOST_KEY,
                            "BOOKINGCAL_DATABASE_URL": database_url})

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(main, ["--config", str(tmp_path / "bookingcal.toml"), "admin",
                                      *args], obj={"clock": site.live.clock})
        return result.exit_code, result.stdout, result.stderr

    business = str(site.salon.business)
    sign_in(site)
    code, out, _ = run("list-users", "--business", business)
    lines = out.splitlines()
    assert code == 0 and [line.split("\t")[0] for line in lines] == [OTHER, EMAIL]
    assert lines[0].endswith("last sign-in never") and "last sign-in 2026-11-24 08:00" in lines[1]
    code, out, _ = run("remove-user", "--business", business, "Colleague@Salon.example")
    assert code == 0 and f"{OTHER} removed" in out
    for args, message in ((("--business", business, EMAIL), "last admin account"),
                          (("--business", business, OTHER), "has no admin account"),
                          (("--business", "77", EMAIL), "has no admin account")):
        code, _, err = run("remove-user", *args)
        assert code == 1 and message in err and "Traceback" not in err, (args, err)
    assert set(user_ids(site)) == {EMAIL}
    code, _, err = run("list-users", "--business", "77")
    assert code == 1 and "business 77" in err


def test_two_admins_removing_each_other_at_once_leave_one(site: AdminSite) -> None:
    """Each removal is allowed on its own; run together, the second waits for the first (row
    locks on PostgreSQL, the write lock on SQLite) and then finds the last account."""
    ids, db, business = user_ids(site), site.live.runtime.db, site.salon.business
    outcome: list[BaseException | str] = []

    def other_admin() -> None:
        try:
            with db.write() as session:
                outcome.append(remove_user(session, business, ids[EMAIL]))
        except BaseException as exc:  # reported to the test below
            outcome.append(exc)

    with db.write() as session:
        assert remove_user(session, business, ids[OTHER]) == OTHER
        worker = threading.Thread(target=other_admin)
        worker.start()
        time.sleep(0.5)  # the other removal starts while this one is not committed
        assert outcome == []  # and waits for it
    worker.join(timeout=20)
    assert len(outcome) == 1 and isinstance(outcome[0], ConflictError), outcome
    assert "last admin account" in str(outcome[0])
    assert set(user_ids(site)) == {EMAIL}

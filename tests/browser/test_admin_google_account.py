"""The connected Google account's address: learnt after the token exchange from the primary
calendar's id (calendarList.get('primary'), all a calendar-scoped app may ask), shown by the JSON
API, `bookingcal google status` and the admin page; when Google does not answer it, the account
is connected all the same, without an address."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import requests
from click.testing import CliRunner

from admin_site import AdminSite, sign_in
from fakes import FakeGoogle
from server.cli import main
from support import HOST_KEY

ADDRESS = "anna.berg@salon.example"


@pytest.fixture
def fake() -> Iterator[FakeGoogle]:
    with FakeGoogle(user=ADDRESS) as found:
        yield found
        assert found.internal_errors == []


def connect_through_consent(site: AdminSite) -> None:
    url = site.api.ok("POST", f"/businesses/{site.salon.business}/google/connect")["consent_url"]
    answer = requests.get(url, timeout=20)  # the fake consents and sends us to the callback
    assert answer.status_code == 200 and "connected" in answer.text, answer.text


def google_status(site: AdminSite, tmp_path: Path) -> str:
    runner = CliRunner(env={"BOOKINGCAL_CONFIG": None, "BOOKINGCAL_HOST_KEY": HOST_KEY,
                            "BOOKINGCAL_DATABASE_URL": f"sqlite:///{tmp_path}/admin.sqlite3"})
    result = runner.invoke(main, ["--config", str(tmp_path / "bookingcal.toml"), "google",
                                  "status", str(site.salon.business)],
                           obj={"clock": site.live.clock})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_account_address_is_learnt_and_shown_everywhere(
        site: AdminSite, fake: FakeGoogle, tmp_path: Path) -> None:
    connect_through_consent(site)
    assert fake.count("calendar.calendarList.get") == 1
    status = site.api.ok("GET", f"/businesses/{site.salon.business}/google")
    assert status["connected"] and status["account_email"] == ADDRESS
    assert f"account {ADDRESS}" in google_status(site, tmp_path)
    browser, _ = sign_in(site)
    page = browser.get(site.admin + "/apps/google", timeout=20)
    assert f"<dd>{ADDRESS}</dd>" in page.text


def test_a_failure_to_learn_it_does_not_fail_the_connection(
        site: AdminSite, fake: FakeGoogle, tmp_path: Path) -> None:
    fake.inject_fault("500", endpoint="calendar.calendarList.get")
    connect_through_consent(site)
    assert fake.count("calendar.calendarList.get") == 1  # asked once, no retries in the callback
    status = site.api.ok("GET", f"/businesses/{site.salon.business}/google")
    assert status["connected"] and status["status"] == "connected"
    assert status["account_email"] is None
    assert "account (address not known)" in google_status(site, tmp_path)
    browser, _ = sign_in(site)
    page = browser.get(site.admin + "/apps/google", timeout=20)
    assert "<dd>connected Google account</dd>" in page.text

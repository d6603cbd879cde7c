"""Apps → Microsoft 365 / Outlook in a real headless Chromium against a server on loopback and
the strict fake Microsoft identity platform and Graph (HTTPS, its own certificate): the
overview, activating, a refused consent said in plain words, connecting (MSAL's code flow with
PKCE, form_post back to us), choosing an employee calendar's Outlook calendar from the
account's list, the direction and privacy, a bridge pass whose copy reaches the fake Outlook
without client details, the status with last sync and changes to send, a refused token shown as
"needs reconnecting" with its error and reconnected with nothing lost, and deactivating, which
deletes our copies from Outlook. Every screen is saved under test-output/screenshots/<test>/."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from admin_site import EMAIL, PASSWORD, AdminSite, microsoft_site
from fakes.microsoft_fake import FakeMicrosoft
from server.microsoft import connections
from server.microsoft.graph import GraphClient
from server.microsoft.provider import MicrosoftProvider
from server.runtime import Runtime
from server.sync.engine import Engine, PassReport
from shots import Shots
from support import NOW, book, local_iso, monday_after_next

CALENDAR = "AAMkCalendar"


@pytest.fixture
def microsoft() -> Iterator[FakeMicrosoft]:
    with FakeMicrosoft(user="anna.berg@salon.example") as found:
        yield found
        assert found.internal_errors == []


@pytest.fixture
def ms_site(tmp_path: Path, microsoft: FakeMicrosoft) -> Iterator[AdminSite]:
    with microsoft_site(tmp_path, microsoft) as found:
        microsoft.now = found.live.clock.now  # subscriptions expire on the server's clock
        yield found


@pytest.fixture
def trusting(browser: Browser) -> Iterator[BrowserContext]:
    """A context that accepts the fake identity platform's own certificate."""
    made = browser.new_context(viewport={"width": 1100, "height": 900},
                               ignore_https_errors=True)
    made.set_default_timeout(15_000)
    yield made
    made.close()


def sign_in(page: Page, site: AdminSite) -> None:
    page.goto(site.admin + "/sign-in")
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Private links to calendars")


def run_bridge(site: AdminSite) -> list[PassReport]:
    def factory(runtime: Runtime, token: str) -> GraphClient:
        return GraphClient(runtime.config.microsoft, token, sleep=lambda seconds: None)
    provider = MicrosoftProvider(site.live.runtime, client_factory=factory)
    return Engine(site.live.runtime, worker="test", providers=[provider]).run_once(
        force_pull=True)


def test_microsoft_is_connected_configured_and_receives_a_booking(
        trusting: BrowserContext, ms_site: AdminSite, microsoft: FakeMicrosoft,
        shots: Shots) -> None:
    site = ms_site
    day = monday_after_next(now=NOW)
    book(site.api, site.salon, local_iso(day, 11), client_id=site.salon.client)
    page = trusting.new_page()
    sign_in(page, site)
    page.get_by_role("link", name="Apps → Microsoft 365 / Outlook").click()
    expect(page.get_by_role("heading", name="Sync your calendars with Outlook")).to_be_visible()
    shots(page, "microsoft-overview")
    page.get_by_role("link", name="Activate").click()
    shots(page, "microsoft-activate")
    microsoft.identity.deny_next = True  # the admin says no on Microsoft's screen
    page.get_by_role("button", name="Continue to Microsoft").click()
    expect(page.get_by_role("alert")).to_contain_text("access was not granted")
    shots(page, "microsoft-consent-denied")
    page.goto(site.admin + "/apps/microsoft/activate")
    page.get_by_role("button", name="Continue to Microsoft").click()  # the fake consents
    expect(page).to_have_url(site.admin + "/apps/microsoft/settings?done=ms-connected")
    expect(page.get_by_role("status").first).to_contain_text(
        "Your Microsoft account is connected")
    shots(page, "microsoft-settings-first")

    # The Outlook calendar is chosen from the account's own list, not typed.
    choice = page.get_by_label("Outlook calendar for Anna Berg")
    expect(choice.locator("option")).to_have_text(["Calendar (default)"])
    page.get_by_label("Anna Berg", exact=True).check()
    page.get_by_label("Only to Outlook (bookings appear in Outlook)").check()
    page.get_by_label("Hide client details in Outlook").check()
    page.get_by_label("Busy Outlook events block online booking").check()
    shots(page, "microsoft-settings-chosen")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_contain_text("settings are saved")
    status = page.get_by_role("region", name="Connection")
    expect(status).to_contain_text("anna.berg@salon.example")
    expect(status).to_contain_text("Only to Outlook")
    expect(status).to_contain_text("hidden")
    calendars = page.get_by_role("region", name="Calendars")
    row = calendars.get_by_role("row", name="Anna Berg")
    expect(row).to_contain_text(CALENDAR)
    expect(row.get_by_role("cell").nth(3)).to_have_text("1")  # one booking to send
    shots(page, "microsoft-status-before-sync")

    [report] = run_bridge(site)
    assert report.error is None, report.error
    [copy] = microsoft.mailbox.live(CALENDAR)
    assert copy.data["subject"] == "Haircut"
    assert "Jens" not in str(copy.data) and "jens@" not in str(copy.data)
    site.live.clock.advance(dt.timedelta(seconds=12))
    page.reload()
    expect(status).to_contain_text("12 s ago")
    expect(row.get_by_role("cell").nth(3)).to_have_text("0")
    expect(row.get_by_role("cell").nth(4)).to_have_text("none")
    shots(page, "microsoft-status-synced")

    # Microsoft stops accepting the token: the page says so, with the error, and reconnects.
    microsoft.identity.revoke_all()
    book(site.api, site.salon, local_iso(day, 14))
    [refused] = run_bridge(site)
    assert refused.error is not None
    page.reload()
    expect(page.locator("#microsoft-state")).to_have_text("needs reconnecting")
    expect(page.locator("#microsoft-error")).to_contain_text("reconnect")
    shots(page, "microsoft-needs-reconnecting")
    page.get_by_role("button", name="Reconnect Microsoft account").click()
    expect(page).to_have_url(site.admin + "/apps/microsoft/settings?done=ms-connected")
    expect(page.get_by_label("Anna Berg", exact=True)).to_be_checked()  # settings kept
    page.get_by_role("link", name="← Microsoft 365 / Outlook").click()
    expect(page.locator("#microsoft-state")).to_have_text("connected")
    [again] = run_bridge(site)
    assert again.error is None, again.error
    assert len(microsoft.mailbox.live(CALENDAR)) == 2  # the booking made meanwhile arrived

    # Deactivating deletes our copies from Outlook and forgets the account.
    page.set_viewport_size({"width": 360, "height": 740})  # the page fits a phone
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shots(page, "microsoft-status-phone")
    page.set_viewport_size({"width": 1100, "height": 900})
    page.get_by_role("button", name="Deactivate").click()
    expect(page.get_by_role("status").first).to_contain_text("deactivated")
    expect(page.get_by_role("heading", name="Sync your calendars with Outlook")).to_be_visible()
    assert microsoft.mailbox.live(CALENDAR) == []
    assert microsoft.requests("DELETE /v1.0/me/events/*")
    shots(page, "microsoft-deactivated")
    assert site.api.ok("GET", f"/businesses/{site.salon.business}/microsoft") == {
        **site.api.ok("GET", f"/businesses/{site.salon.business}/microsoft"), "connected": False}


def test_the_settings_page_takes_a_typed_id_when_calendars_cannot_be_listed(
        trusting: BrowserContext, ms_site: AdminSite, microsoft: FakeMicrosoft,
        shots: Shots) -> None:
    site = ms_site
    page = trusting.new_page()
    sign_in(page, site)
    page.goto(site.admin + "/apps/microsoft/activate")
    page.get_by_role("button", name="Continue to Microsoft").click()
    expect(page).to_have_url(site.admin + "/apps/microsoft/settings?done=ms-connected")
    microsoft.fail(503, "GET /v1.0/me/calendars", times=4)  # two pages, two tries each
    page.reload()
    expect(page.get_by_role("alert")).to_contain_text("could not be listed")
    page.get_by_label("Anna Berg", exact=True).check()
    page.get_by_label("Outlook calendar for Anna Berg").fill("")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert").first).to_contain_text("Outlook calendar id")
    shots(page, "microsoft-settings-refused")
    page.get_by_label("Anna Berg", exact=True).check()
    page.get_by_label("Outlook calendar for Anna Berg").fill(CALENDAR)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_contain_text("settings are saved")
    expect(page.get_by_role("region", name="Calendars")).to_contain_text(CALENDAR)


def test_every_microsoft_screen_is_accessible_and_fits_a_phone(
        trusting: BrowserContext, ms_site: AdminSite, microsoft: FakeMicrosoft,
        shots: Shots) -> None:
    from test_admin_a11y import check_screen

    site = ms_site
    page = trusting.new_page()
    sign_in(page, site)
    screens = [("/apps/microsoft", "overview"), ("/apps/microsoft/activate", "activate")]
    for path, name in screens:
        page.goto(site.admin + path)
        check_screen(page, name)
    runtime = site.live.runtime
    with runtime.db.write() as session:
        connections.connect(session, runtime.keyring, site.salon.business,
                            microsoft.identity.issue_refresh_token(), NOW,
                            account_email=microsoft.user)
        connections.update_settings(session, site.salon.business, now=NOW, calendars=[
            connections.CalendarChoice(site.salon.calendar, CALENDAR)])
    connected = [("/apps/microsoft", "connected"), ("/apps/microsoft/settings", "settings")]
    for path, name in connected:
        page.goto(site.admin + path)
        check_screen(page, name)
    page.set_viewport_size({"width": 360, "height": 740})
    for path, name in screens + connected:
        page.goto(site.admin + path)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
        shots(page, "phone-" + name)

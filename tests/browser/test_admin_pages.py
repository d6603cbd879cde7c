"""The admin pages in a real headless Chromium against a server on loopback and the fake Google:
sign in, create a limited link, copy it, fetch it and see no client data, revoke it and see the
fetch fail; connect Google through the fake consent screen, choose calendars and direction, run a
bridge pass and see the booking in the fake Google; reconnect; a wrong CSRF token and a
signed-out request are refused. Every screen is saved under test-output/screenshots/<test>/."""

from __future__ import annotations

import datetime as dt

import requests
from playwright.sync_api import BrowserContext, Page, expect

from admin_site import EMAIL, PASSWORD, AdminSite
from shots import Shots
from fakes import FakeGoogle
from server.gcal_bridge import Bridge
from server.google.api import GoogleCalendarApi
from server.runtime import Runtime
from support import book


def sign_in(page: Page, site: AdminSite, shots: Shots | None = None) -> None:
    page.goto(site.admin + "/")
    expect(page).to_have_url(site.admin + "/sign-in?next=/admin/")
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    if shots is not None:
        shots(page, "sign-in")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Private links to calendars")


def fits_the_screen(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def run_bridge(site: AdminSite) -> None:
    def factory(runtime: Runtime, token: str) -> GoogleCalendarApi:
        return GoogleCalendarApi(runtime.config.google, token, sleep=lambda seconds: None)
    for report in Bridge(site.live.runtime, worker="test", api_factory=factory).run_once(
            force_pull=True):
        assert report.error is None, report.error


def test_a_limited_link_is_made_copied_fetched_and_revoked(
        context: BrowserContext, site: AdminSite, shots: Shots) -> None:
    book(site.api, site.salon, "2026-12-01T10:00:00+01:00", notes="allergic to nuts")
    page = context.new_page()
    sign_in(page, site, shots)
    shots(page, "links-empty")
    row = page.get_by_role("region", name="Anna Berg")
    row.get_by_text("New link for Anna Berg").click()
    row.get_by_label("Without sensitive client information").check()
    row.get_by_label("Label (who or what it is for)").fill("Reception screen")
    shots(page, "links-new-form")
    row.get_by_role("button", name="Create link").click()
    expect(page.get_by_role("status").first).to_contain_text("The link is created")
    shots(page, "link-created")

    page.get_by_label("Address (https)").focus()  # by keyboard: Tab to the button, Enter
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Copy").first).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".copied")).to_contain_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.get_by_label("Address (https)").input_value()
    assert copied.startswith(site.live.url + "/feeds/bcl_") and copied.endswith(".ics")
    webcal = page.get_by_label("Address for one-click subscription (webcal)").input_value()
    assert webcal == "webcal://" + copied.split("://", 1)[1]
    assert page.get_by_label("User name").input_value().startswith("link-")

    feed = requests.get(copied, timeout=20)
    assert feed.status_code == 200 and "BEGIN:VEVENT" in feed.text and "Haircut" in feed.text
    for secret in ("Jens Hansen", "jens@example.com", "allergic"):
        assert secret not in feed.text

    # Label and profile change from the same page; the address stays.
    page.get_by_label("Label (who or what it is for)").fill("Reception tablet")
    page.get_by_label("Busy only").check()
    shots(page, "link-edit-form")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status").first).to_contain_text("The link is changed")
    expect(page.get_by_role("heading", level=1)).to_have_text("Private link: Reception tablet")
    assert page.get_by_label("Address (https)").input_value() == copied
    feed = requests.get(copied, timeout=20)
    assert feed.status_code == 200 and "SUMMARY:Busy" in feed.text and "Haircut" not in feed.text
    shots(page, "link-edited")

    page.set_viewport_size({"width": 375, "height": 800})  # a phone
    assert fits_the_screen(page)
    shots(page, "link-created-phone")
    page.set_viewport_size({"width": 1100, "height": 900})

    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status").first).to_contain_text("The link is revoked")
    assert page.get_by_role("region", name="Anna Berg").get_by_text("Reception tablet").count() == 0
    shots(page, "links-after-revoke")
    assert requests.get(copied, timeout=20).status_code == 404


def test_google_is_connected_configured_and_receives_a_booking(
        context: BrowserContext, site: AdminSite, fake: FakeGoogle, shots: Shots) -> None:
    book(site.api, site.salon, "2026-12-02T11:00:00+01:00")
    page = context.new_page()
    sign_in(page, site)
    page.get_by_role("link", name="Apps → Google Calendar").click()
    expect(page.get_by_role("heading", name="Sync your calendars with Google Calendar")).to_be_visible()
    shots(page, "google-overview")
    page.get_by_role("link", name="Activate").click()
    shots(page, "google-activate")
    fake.deny_next_consent()  # the admin says no on Google's screen: back here, told so
    page.get_by_role("button", name="Continue to Google").click()
    expect(page.get_by_role("alert")).to_contain_text("access was not granted")
    shots(page, "google-consent-denied")
    page.get_by_role("link", name="Activate").click()
    page.get_by_role("button", name="Continue to Google").click()  # the fake consents
    expect(page).to_have_url(site.admin + "/apps/google/settings?done=connected")
    expect(page.get_by_role("status").first).to_contain_text("Your Google account is connected")
    shots(page, "google-settings-first")

    page.get_by_label("Anna Berg", exact=True).check()
    page.get_by_label("Google calendar for Anna Berg").fill("primary")
    page.get_by_label("Only to Google (bookings appear in Google Calendar)").check()
    page.get_by_label("Hide client details in Google Calendar").check()
    page.get_by_label("Busy Google events block online booking").check()
    shots(page, "google-settings-chosen")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_contain_text("settings are saved")
    status = page.get_by_role("region", name="Connection")
    expect(status).to_contain_text(fake.default_user)  # learnt from the primary calendar
    expect(status).to_contain_text("Only to Google")
    expect(status).to_contain_text("hidden")
    calendars = page.get_by_role("region", name="Calendars")
    expect(calendars.get_by_role("row", name="Anna Berg")).to_contain_text("primary")
    shots(page, "google-status-before-sync")

    run_bridge(site)
    [copy] = fake.events("primary")
    assert copy["start"]["dateTime"].startswith("2026-12-02T11:00:00")
    assert "Haircut" in copy["summary"] and "Jens" not in str(copy)
    site.live.clock.advance(dt.timedelta(seconds=12))
    page.reload()
    expect(status).to_contain_text("12 s ago")
    row = calendars.get_by_role("row", name="Anna Berg")
    expect(row.get_by_role("cell").nth(3)).to_have_text("0")
    shots(page, "google-status-synced")

    # Google stops accepting the token: the page says so and its button reconnects.
    fake.revoke_all_tokens()
    book(site.api, site.salon, "2026-12-03T11:00:00+01:00")
    reports = Bridge(site.live.runtime, worker="test").run_once(force_pull=True)
    assert reports and reports[0].error is not None
    page.reload()
    expect(page.locator("#google-state")).to_have_text("needs reconnecting")
    shots(page, "google-needs-reconnecting")
    page.get_by_role("button", name="Reconnect Google account").click()
    expect(page).to_have_url(site.admin + "/apps/google/settings?done=connected")
    page.get_by_role("link", name="← Google Calendar").click()
    expect(page.locator("#google-state")).to_have_text("connected")
    run_bridge(site)
    assert len(fake.events("primary")) == 2

    # Changing account: our copies leave Google, then the consent starts again.
    page.get_by_role("button", name="Change account").click()
    expect(page).to_have_url(site.admin + "/apps/google/settings?done=connected")
    assert fake.events("primary") == []
    expect(page.get_by_label("Anna Berg", exact=True)).not_to_be_checked()
    shots(page, "google-changed-account")


def test_a_wrong_csrf_token_and_a_signed_out_request_are_refused(
        context: BrowserContext, site: AdminSite, shots: Shots) -> None:
    page = context.new_page()
    sign_in(page, site)
    row = page.get_by_role("region", name="All calendars")
    row.get_by_text("New link for All calendars").click()
    page.evaluate("document.querySelectorAll('input[name=csrf_token]')"
                  ".forEach(field => field.value = 'forged')")
    row.get_by_role("button", name="Create link").click()
    expect(page.get_by_role("alert")).to_contain_text("This form has expired")
    shots(page, "csrf-refused")
    page.go_back()
    page.reload()
    assert page.get_by_role("link", name="Open").count() == 0  # nothing was made

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You are signed out")
    shots(page, "signed-out")
    page.goto(site.admin + "/calendar/links")
    expect(page).to_have_url(site.admin + "/sign-in?next=/admin/calendar/links")
    answer = page.request.post(site.admin + "/calendar/links", form={
        "calendar": "all", "profile": "full", "csrf_token": "anything"})
    assert answer.status == 403 and "signed out" in answer.text()


def test_every_screen_fits_a_phone(context: BrowserContext, site: AdminSite,
                                   shots: Shots) -> None:
    link = site.api.ok("POST", f"/businesses/{site.salon.business}/links", 201, json={
        "scope": "all", "profile": "busy", "calendar_ids": [], "label": "Family"})
    page = context.new_page()
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(site.admin + "/sign-in")
    assert fits_the_screen(page)
    shots(page, "phone-sign-in")
    sign_in(page, site)
    for path, name in (("/calendar/links", "links"), (f"/calendar/links/{link['id']}", "link"),
                       ("/apps/google", "google"), ("/apps/google/activate", "google-activate"),
                       ("/availability", "availability"), ("/account", "account")):
        page.goto(site.admin + path)
        assert fits_the_screen(page), path
        shots(page, "phone-" + name)

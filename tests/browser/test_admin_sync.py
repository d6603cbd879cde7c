"""Apps → Sync health in a real headless Chromium: a Google connection whose token was revoked
is listed first as needing reconnecting, with its link to the Google page, its calendar too, and
the business's stale-data policy is changed there (the JSON API sees it). Screens are saved
under test-output/screenshots/<test>/."""

from __future__ import annotations

import requests
from playwright.sync_api import BrowserContext, expect

from admin_site import AdminSite
from fakes import FakeGoogle
from server.gcal_bridge import Bridge
from server.google.api import GoogleCalendarApi
from server.runtime import Runtime
from shots import Shots
from test_admin_pages import sign_in


def factory(runtime: Runtime, token: str) -> GoogleCalendarApi:
    return GoogleCalendarApi(runtime.config.google, token, sleep=lambda seconds: None)


def test_the_overview_lists_problems_first_and_sets_the_policy(
        context: BrowserContext, site: AdminSite, fake: FakeGoogle, shots: Shots) -> None:
    url = site.api.ok("POST", f"/businesses/{site.salon.business}/google/connect")["consent_url"]
    assert requests.get(url, timeout=20).status_code == 200
    site.api.ok("PATCH", f"/businesses/{site.salon.business}/google/settings", json={
        "calendars": [{"calendar_id": site.salon.calendar, "write_calendar": "primary"}]})
    bridge = Bridge(site.live.runtime, worker="sync-page", api_factory=factory)
    bridge.run_once(force_pull=True)
    page = context.new_page()
    sign_in(page, site)
    page.get_by_role("link", name="Apps → Sync health").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sync health")
    rows = page.locator("#sync-lines tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("ok")
    shots(page, "sync-all-well")
    fake.revoke_all_tokens()
    bridge.run_once(force_pull=True)
    page.reload()
    expect(rows.nth(0)).to_contain_text("needs reconnecting")
    expect(rows.nth(0)).to_contain_text("Connection")
    expect(rows.nth(0)).to_contain_text("Google refused")
    expect(rows.nth(1)).to_contain_text("needs reconnecting")
    expect(rows.nth(1)).to_contain_text("Reading primary")
    shots(page, "sync-needs-reconnecting")
    rows.nth(0).get_by_role("link", name="reconnect").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Google Calendar")
    page.go_back()
    page.get_by_label("Hide the times of a calendar").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text(
        "The policy for out-of-date busy time is saved.")
    expect(page.get_by_label("Hide the times of a calendar")).to_be_checked()
    shots(page, "sync-policy-saved")
    business = site.api.ok("GET", f"/businesses/{site.salon.business}")
    assert business["stale_policy"] == "hide"

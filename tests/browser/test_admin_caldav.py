"""Apps → Other calendar in Chromium, against a real Radicale: a wrong app password is refused
with what to do; connecting finds the calendars; choosing one for the employee calendar and a
sync show the account connected, read by sync-collection; a failing write shows its error on
the calendar's row; disconnecting removes the account."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, expect

from admin_site import AdminSite, serve_admin
from caldav_servers import Quirks, Server, proxy, radicale
from server.caldav.provider import CalDAVProvider
from server.sync.engine import Engine
from test_admin_pages import sign_in

TOML = "[caldav]\nallow_http = true\nallow_private_hosts = true\n"


@pytest.fixture
def caldav_site(tmp_path: Path) -> Iterator[tuple[AdminSite, Server, Quirks]]:
    quirks = Quirks()
    with radicale(tmp_path / "radicale") as real, proxy(real, quirks) as server:
        site = serve_admin(tmp_path, f"sqlite:///{tmp_path}/admin.sqlite3", extra=TOML)
        try:
            yield site, server, quirks
        finally:
            site.stop()


def test_connect_choose_status_error_disconnect(
        context: BrowserContext, caldav_site: tuple[AdminSite, Server, Quirks]) -> None:
    site, server, quirks = caldav_site
    page = context.new_page()
    sign_in(page, site)
    page.get_by_role("link", name="Apps → Other calendar").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Other calendar (iCloud, Fastmail, Nextcloud, CalDAV)")
    page.get_by_label("Server (or just the domain: icloud.com, fastmail.com)").fill(server.url)
    page.get_by_label("User name (usually the e-mail address)").fill(server.user)
    page.get_by_label("App-specific password").fill("wrong")
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("alert")).to_contain_text("create an app-specific password")
    page.get_by_label("Server (or just the domain: icloud.com, fastmail.com)").fill(server.url)
    page.get_by_label("User name (usually the e-mail address)").fill(server.user)
    page.get_by_label("App-specific password").fill(server.password)
    page.get_by_label("Name for this account (optional)").fill("Anna's iPhone")
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Anna's iPhone: calendars and settings")
    page.get_by_label("Anna Berg").select_option(label="Work")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("settings are saved")
    expect(page.locator(".caldav-state")).to_have_text("connected")
    expect(page.locator("table")).to_contain_text("not read yet")

    quirks.forbid_writes = True
    start = site.live.clock.now() + dt.timedelta(days=3)  # the site's injected clock
    site.api.ok("POST", f"/businesses/{site.salon.business}/bookings", 201, json={
        "calendar_id": site.salon.calendar, "service_id": site.salon.service,
        "start": start.replace(microsecond=0).isoformat()})
    runtime = site.live.runtime
    Engine(runtime, worker="admin-test", providers=[CalDAVProvider(runtime)]).run_once(
        force_pull=True)
    page.reload()
    expect(page.locator("table")).to_contain_text("sync-collection")
    expect(page.locator(".calendar-error")).to_contain_text("read-only")

    page.get_by_role("button", name="Disconnect Anna's iPhone").click()
    expect(page.get_by_role("status")).to_contain_text("disconnected")
    expect(page.locator(".caldav-account")).to_have_count(0)

"""Apps → Calendar links (ICS) in a real Chromium: subscribing an employee calendar to a link
served by a real HTTP server on loopback, its state after the bridge's pass (up to date, then
stale with the server's error while the last good copy stays), reading again, unsubscribing;
the link's secret never on the page; every control named, headings in order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, expect

from admin_site import AdminSite, serve_admin
from fakes.ics_server import IcsServer
from ics_world import ICS_TOML, calendar_text, vevent
from server.ics.provider import IcsProvider
from server.sync.engine import Engine
from shots import Shots
from test_admin_a11y import check_screen
from test_admin_pages import sign_in


@pytest.fixture
def ics_site(tmp_path: Path) -> Iterator[tuple[AdminSite, IcsServer]]:
    site = serve_admin(tmp_path, f"sqlite:///{tmp_path}/admin.sqlite3", extra=ICS_TOML)
    try:
        with IcsServer() as server:
            yield site, server
    finally:
        site.stop()


def read_all(site: AdminSite) -> None:
    runtime = site.live.runtime
    Engine(runtime, worker="admin-test", providers=[IcsProvider(runtime)]).run_once(
        force_pull=True)


def test_subscribe_see_state_and_error_unsubscribe(
        context: BrowserContext, ics_site: tuple[AdminSite, IcsServer], shots: Shots) -> None:
    site, server = ics_site
    start = site.live.clock.now() + dt.timedelta(days=3)  # the site's injected clock
    server.put("/anna.ics", calendar_text(vevent("x", start, start + dt.timedelta(hours=1))))
    page = context.new_page()
    sign_in(page, site)
    page.get_by_role("link", name="Apps → Calendar links (ICS)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Calendar links (ICS)")
    check_screen(page, "calendar-links")
    page.get_by_label("Link (ICS / iCal address)").fill(server.url("/anna.ics?t=PR1VATE"))
    page.get_by_label("Name (optional)").fill("Anna's Outlook")
    page.get_by_label("All-day events").uncheck()
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("status")).to_contain_text("Subscribed")
    row = page.locator("tr.ics-source")
    expect(row.locator(".ics-state")).to_have_text("waiting for the first read")
    expect(row).to_contain_text("Anna's Outlook (127.0.0.1)")
    shots(page, "subscribed")

    read_all(site)
    page.reload()
    expect(row.locator(".ics-state")).to_have_text("up to date")
    expect(row.locator(".ics-error")).to_have_text("none")

    server.set_mode("/anna.ics", "error")
    read_all(site)
    page.reload()
    expect(row.locator(".ics-state")).to_have_text("stale: the last good copy keeps blocking")
    expect(row.locator(".ics-error")).to_contain_text("answered 500")
    expect(row).to_contain_text("1")  # the event of the last good copy is kept
    shots(page, "stale")
    check_screen(page, "calendar-links-stale")
    assert "PR1VATE" not in page.content()

    page.get_by_role("button", name="Read Anna's Outlook again now").click()
    expect(page.get_by_role("status")).to_contain_text("read again")
    page.get_by_role("button", name="Unsubscribe from Anna's Outlook").click()
    expect(page.get_by_role("status")).to_contain_text("Unsubscribed")
    expect(page.locator("tr.ics-source")).to_have_count(0)


def test_a_refused_link_is_explained_on_the_page(
        context: BrowserContext, ics_site: tuple[AdminSite, IcsServer]) -> None:
    site, _ = ics_site
    page = context.new_page()
    sign_in(page, site)
    page.goto(site.admin + "/apps/calendar-links")
    page.get_by_label("Link (ICS / iCal address)").fill("https://192.168.1.20/cal.ics")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("alert")).to_contain_text("private")
    expect(page.locator("tr.ics-source")).to_have_count(0)

"""Accessibility of the admin pages in a real Chromium: on every screen each form control and
link has an accessible name as Chromium computes it for screen readers (its accessibility tree,
read over the DevTools protocol), there is one h1 and no heading level is skipped; the links page
can be used by keyboard alone, from the skip link to a new link, with a visible focus ring on
everything that takes focus."""

from __future__ import annotations

import datetime as dt
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect

from admin_site import AdminSite
from shots import Shots
from fakes import FakeGoogle
from server.domain import hours
from server.google import oauth, settings
from support import NOW, book
from test_admin_pages import sign_in

CONTROLS = "input:not([type=hidden]), select, textarea, button, a[href], summary"


def unnamed_controls(page: Page) -> list[str]:
    """The controls of the page whose accessible name is empty, as Chromium computes it."""
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    cdp = page.context.new_cdp_session(page)
    try:
        root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        found: list[int] = cdp.send("DOM.querySelectorAll", {
            "nodeId": root, "selector": CONTROLS})["nodeIds"]
        assert found, "no controls found"
        missing = []
        for node_id in found:
            nodes: list[dict[str, Any]] = cdp.send("Accessibility.getPartialAXTree", {
                "nodeId": node_id, "fetchRelatives": False})["nodes"]
            name = str(nodes[0].get("name", {}).get("value", "")).strip()
            if not name:
                html = cdp.send("DOM.getOuterHTML", {"nodeId": node_id})["outerHTML"]
                missing.append(html[:120])
        return missing
    finally:
        cdp.detach()


def heading_levels(page: Page) -> list[int]:
    return [int(tag[1]) for tag in page.evaluate(
        "[...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => h.tagName)")]


def check_screen(page: Page, where: str) -> None:
    assert unnamed_controls(page) == [], where
    levels = heading_levels(page)
    assert levels.count(1) == 1 and levels[0] == 1, (where, levels)
    assert all(b - a <= 1 for a, b in zip(levels, levels[1:])), (where, levels)
    assert page.locator("a.skip").get_attribute("href") == "#main"


def test_every_screen_names_its_controls_and_orders_its_headings(
        context: BrowserContext, site: AdminSite, fake: FakeGoogle, shots: Shots) -> None:
    link = site.api.ok("POST", f"/businesses/{site.salon.business}/links", 201, json={
        "scope": "all", "profile": "busy", "calendar_ids": [], "label": "Family"})
    page = context.new_page()
    page.goto(site.admin + "/sign-in")
    check_screen(page, "sign-in")
    sign_in(page, site)
    plain = (("/calendar/links", "links"), (f"/calendar/links/{link['id']}", "link"),
             ("/apps/google", "google"), ("/apps/google/activate", "google-activate"),
             ("/account", "account"), ("/sync", "sync-empty"), ("/no/such/page", "not-found"))
    for path, name in plain:
        page.goto(site.admin + path)
        check_screen(page, name)
    shots(page, "not-found")
    page.goto(site.admin + "/account")
    shots(page, "account")

    runtime, salon = site.live.runtime, site.salon
    with runtime.db.write() as session:
        hours.set_weekly(session, salon.business, salon.calendar, [
            hours.Interval(day, dt.time(9), dt.time(17)) for day in range(7)])
        oauth.connect(session, runtime.keyring, salon.business, fake.issue_tokens(), NOW)
        settings.update_settings(session, salon.business, now=NOW,
                                 calendars=[settings.CalendarChoice(salon.calendar, "primary")])
    book(site.api, salon, "2026-12-01T10:00:00+01:00")
    for path, name in (("/apps/google", "google-connected"),
                       ("/apps/google/settings", "google-settings"),
                       ("/sync", "sync"),
                       (f"/availability?calendar={salon.calendar}&service={salon.service}"
                        "&day=2026-12-01", "availability")):
        page.goto(site.admin + path)
        check_screen(page, name)
    expect(page.locator("svg rect.kind-booking")).to_have_count(1)


def focused(page: Page) -> dict[str, str]:
    """The focused element: its tag, its text or label, and its computed outline."""
    return dict(page.evaluate("""() => {
        const el = document.activeElement;
        const style = getComputedStyle(el);
        return {tag: el.tagName.toLowerCase(), id: el.id || "",
                text: (el.getAttribute("aria-label") || el.innerText || el.value || "").trim(),
                outline: style.outlineStyle + " " + style.outlineWidth};
    }"""))


def test_the_links_page_works_by_keyboard_with_visible_focus(
        context: BrowserContext, site: AdminSite, shots: Shots) -> None:
    page = context.new_page()
    sign_in(page, site)
    page.keyboard.press("Tab")
    first = focused(page)
    assert first["text"] == "Skip to the content" and first["outline"] == "solid 3px"
    skip = page.locator("a.skip").bounding_box()
    assert skip and skip["x"] >= 0 and skip["y"] >= 0  # shown on screen while focused
    shots(page, "skip-link-focused")
    page.keyboard.press("Enter")
    assert focused(page)["id"] == "main"

    seen = [focused(page)]
    page.keyboard.press("Shift+Tab")  # back into the header, then forward through everything
    page.keyboard.press("Shift+Tab")
    while len(seen) < 80:
        page.keyboard.press("Tab")
        now = focused(page)
        if now["tag"] == "body" or now in seen:  # past the end of the page
            break
        seen.append(now)
        assert now["outline"] == "solid 3px", now  # every stop shows where the focus is
    texts = [item["text"] for item in seen]
    order = ["Sign out", "New link for All calendars", "New link for Anna Berg"]
    positions = [texts.index(text) for text in order]
    assert positions == sorted(positions), texts

    # Open the form of Anna Berg by keyboard, choose, fill and send it.
    page.get_by_text("New link for Anna Berg").focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert focused(page)["tag"] == "input"  # the checked profile, "Without sensitive ..."
    page.keyboard.press("ArrowDown")  # radios move with the arrow keys: "Busy only"
    row = page.get_by_role("region", name="Anna Berg")
    expect(row.get_by_label("Busy only")).to_be_checked()
    page.keyboard.press("Tab")  # the service, for an open-times link
    assert focused(page)["id"] == "service-" + str(site.salon.calendar)
    page.keyboard.press("Tab")  # the reminder: arrow keys pick "5 minutes before"
    assert focused(page)["id"] == "reminder-" + str(site.salon.calendar)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(row.get_by_label("Reminder on each booking")).to_have_value("5")
    page.keyboard.press("Tab")  # "Writable (this employee's phone)", left unticked
    assert focused(page)["id"] == "writable-" + str(site.salon.calendar)
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "label-" + str(site.salon.calendar)
    page.keyboard.type("Family calendar")
    shots(page, "links-form-by-keyboard")
    for _ in range(5):  # past the date field (month, day and year take a stop each)
        page.keyboard.press("Tab")
        if focused(page)["text"] == "Create link":
            break
    assert focused(page) == {"tag": "button", "id": "", "text": "Create link",
                             "outline": "solid 3px"}
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").first).to_contain_text("The link is created")
    expect(page.get_by_role("heading", level=1)).to_have_text("Private link: Family calendar")
    expect(page.locator(".facts")).to_contain_text("Busy only")
    expect(page.locator("#link-reminder")).to_have_text("5 minutes before")

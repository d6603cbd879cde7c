"""The admin links page offers "Writable (this employee's phone)" on an employee calendar's
form (never on "All calendars"), in a real headless Chromium: the link it makes shows
everything (profile full), says it is writable, and its CalDAV account, as shown on the page,
takes a personal event from python-caldav."""

from __future__ import annotations

import caldav
from playwright.sync_api import BrowserContext, expect

from admin_site import AdminSite
from shots import Shots
from test_admin_pages import sign_in

EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Phone//Test//EN\r\nBEGIN:VEVENT\r\n"
         "UID:admin-made-1\r\nDTSTAMP:20261124T080000Z\r\n"
         "DTSTART;TZID=Europe/Copenhagen:20261201T120000\r\n"
         "DTEND;TZID=Europe/Copenhagen:20261201T130000\r\nSUMMARY:Lunch\r\n"
         "END:VEVENT\r\nEND:VCALENDAR\r\n")


def test_a_writable_link_is_made_for_an_employee_phone(
        context: BrowserContext, site: AdminSite, shots: Shots) -> None:
    page = context.new_page()
    sign_in(page, site)
    everyone = page.get_by_role("region", name="All calendars")
    everyone.get_by_text("New link for All calendars").click()
    assert everyone.get_by_label("Writable (this employee's phone)").count() == 0
    row = page.get_by_role("region", name="Anna Berg")
    row.get_by_text("New link for Anna Berg").click()
    row.get_by_label("Busy only").check()  # a writable link shows everything anyway
    row.get_by_label("Writable (this employee's phone)").check()
    row.get_by_label("Label (who or what it is for)").fill("Anna's phone")
    shots(page, "links-new-writable")
    row.get_by_role("button", name="Create link").click()
    expect(page.get_by_role("status").first).to_contain_text("The link is created")
    expect(page.locator("#link-writable")).to_contain_text("Yes")
    shots(page, "link-writable-created")

    links = site.api.ok("GET", f"/businesses/{site.salon.business}/links")["items"]
    made = [link for link in links if link["label"] == "Anna's phone"]
    assert len(made) == 1
    assert made[0]["writable"] is True and made[0]["profile"] == "full"
    assert made[0]["scope"] == "calendar" and made[0]["calendar_ids"] == [site.salon.calendar]

    client = caldav.DAVClient(url=page.get_by_label("Server").input_value(),
                              username=page.get_by_label("User name").input_value(),
                              password=page.get_by_label("Password").input_value())
    calendar = client.principal().calendars()[0]
    calendar.save_event(EVENT)
    assert [str(e.icalendar_component["SUMMARY"]) for e in calendar.events()] == ["Lunch"]

    page.goto(site.admin + "/calendar/links")
    expect(page.get_by_role("region", name="Anna Berg")).to_contain_text("writable (phone)")

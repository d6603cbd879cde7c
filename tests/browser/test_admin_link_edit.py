"""Editing a private link's label, profile and last day from its page, over plain HTTP: the
change goes through links.update_link (the JSON API sees it, the feed follows the profile), an
unchanged day keeps an expiry set to the minute, and bad input changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from admin_site import AdminSite, form_token, serve_admin, sign_in
from support import book, make_link


@pytest.fixture
def site(tmp_path: Path, database_url: str) -> Iterator[AdminSite]:
    found = serve_admin(tmp_path, database_url)
    try:
        yield found
    finally:
        found.stop()


def link_of(site: AdminSite, link_id: int) -> dict[str, Any]:
    found: dict[str, Any] = site.api.ok("GET", f"/businesses/{site.salon.business}/links/{link_id}")
    return found


def edit(browser: requests.Session, site: AdminSite, link_id: int,
         **form: str) -> requests.Response:
    page = browser.get(f"{site.admin}/calendar/links/{link_id}", timeout=20)
    assert page.status_code == 200, page.text
    return browser.post(f"{site.admin}/calendar/links/{link_id}/edit", timeout=20,
                        allow_redirects=False, data={"csrf_token": form_token(page.text), **form})


def test_label_profile_and_last_day_are_changed_as_the_api_would(site: AdminSite) -> None:
    book(site.api, site.salon, "2026-12-01T10:00:00+01:00")
    made = make_link(site.api, site.salon.business, profile="full", label="Front desk")
    browser, _ = sign_in(site)
    page = browser.get(f"{site.admin}/calendar/links/{made['id']}", timeout=20)
    assert 'value="Front desk"' in page.text and 'value="full" checked' in page.text
    assert 'name="valid_until" type="date" value=""' in page.text

    answer = edit(browser, site, made["id"], label="  Family  ", profile="busy",
                  valid_until="2027-01-31")
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith(f"/calendar/links/{made['id']}?done=edited")
    changed = link_of(site, made["id"])
    assert changed["label"] == "Family" and changed["profile"] == "busy"
    # The end of 31 January in Copenhagen (UTC+1 in winter): midnight there.
    assert changed["expires_at"].startswith("2027-01-31T23:00:00")
    shown = browser.get(site.live.url + answer.headers["Location"], timeout=20).text
    assert "The link is changed" in shown and 'value="2027-01-31"' in shown
    feed = requests.get(made["feed_url"], timeout=20)  # same address, now busy only
    assert feed.status_code == 200 and "SUMMARY:Busy" in feed.text and "Haircut" not in feed.text

    answer = edit(browser, site, made["id"], label="Family", profile="busy", valid_until="")
    assert answer.status_code == 303 and link_of(site, made["id"])["expires_at"] is None


def test_an_unchanged_day_keeps_an_expiry_set_to_the_minute(site: AdminSite) -> None:
    made = make_link(site.api, site.salon.business, expires_at="2027-03-10T14:30:00Z")
    browser, _ = sign_in(site)
    page = browser.get(f"{site.admin}/calendar/links/{made['id']}", timeout=20)
    assert 'value="2027-03-10"' in page.text
    assert edit(browser, site, made["id"], label="Renamed", profile="full",
                valid_until="2027-03-10").status_code == 303
    changed = link_of(site, made["id"])
    assert changed["label"] == "Renamed" and changed["expires_at"].startswith("2027-03-10T14:30")


def test_bad_edits_are_refused_and_change_nothing(site: AdminSite) -> None:
    made = make_link(site.api, site.salon.business, profile="limited", label="Kept")
    browser, _ = sign_in(site)
    for form, status, message in (
            ({"label": "New", "profile": "everything", "valid_until": ""}, 422,
             "profile must be one of"),
            ({"label": "New", "profile": "busy", "valid_until": "2020-01-01"}, 422,
             "must lie in the future"),
            ({"label": "New", "profile": "busy", "valid_until": "next week"}, 422,
             "is not a date")):
        answer = edit(browser, site, made["id"], **form)
        assert answer.status_code == status and message in answer.text, form
        assert 'role="alert"' in answer.text and "Traceback" not in answer.text
    unchanged = link_of(site, made["id"])
    assert (unchanged["label"], unchanged["profile"], unchanged["expires_at"]) == \
        ("Kept", "limited", None)
    site.api.ok("DELETE", f"/businesses/{site.salon.business}/links/{made['id']}", 204)
    page = browser.get(f"{site.admin}/calendar/links/{made['id']}", timeout=20)
    assert "Save changes" not in page.text  # a revoked link has nothing left to edit
    answer = browser.post(f"{site.admin}/calendar/links/{made['id']}/edit", timeout=20, data={
        "csrf_token": form_token(page.text), "label": "x", "profile": "busy"})
    assert answer.status_code == 409 and "is revoked" in answer.text
    missing = browser.post(f"{site.admin}/calendar/links/999/edit", timeout=20, data={
        "csrf_token": form_token(page.text), "label": "x", "profile": "busy"})
    assert missing.status_code == 404 and "does not exist" in missing.text


def test_a_reminder_is_chosen_from_the_list_and_reaches_the_feed(site: AdminSite) -> None:
    book(site.api, site.salon, "2026-12-01T10:00:00+01:00")
    made = make_link(site.api, site.salon.business, profile="limited")
    browser, _ = sign_in(site)
    page = browser.get(f"{site.admin}/calendar/links/{made['id']}", timeout=20)
    assert '<option value="" selected>No reminder</option>' in page.text
    answer = edit(browser, site, made["id"], label="", profile="limited", valid_until="",
                  reminder="15")
    assert answer.status_code == 303 and link_of(site, made["id"])["reminder_minutes"] == 15
    shown = browser.get(site.live.url + answer.headers["Location"], timeout=20).text
    assert '<option value="15" selected>15 minutes before</option>' in shown
    feed = requests.get(made["feed_url"], timeout=20).text
    assert "BEGIN:VALARM" in feed and "TRIGGER:-PT15M" in feed
    # A form without the field (an older page) leaves it; bad values change nothing.
    assert edit(browser, site, made["id"], label="", profile="limited",
                valid_until="").status_code == 303
    assert link_of(site, made["id"])["reminder_minutes"] == 15
    for value in ("soon", "-5", "9" * 5000, "٣"):
        answer = edit(browser, site, made["id"], label="", profile="limited", valid_until="",
                      reminder=value)
        assert answer.status_code == 422 and "Traceback" not in answer.text, value
    assert edit(browser, site, made["id"], label="", profile="limited", valid_until="",
                reminder="99999").status_code == 422
    assert link_of(site, made["id"])["reminder_minutes"] == 15
    assert edit(browser, site, made["id"], label="", profile="limited", valid_until="",
                reminder="").status_code == 303
    assert link_of(site, made["id"])["reminder_minutes"] is None


def test_a_slots_link_is_made_for_a_service_and_shown_without_caldav(site: AdminSite) -> None:
    browser, _ = sign_in(site)
    listing = browser.get(f"{site.admin}/calendar/links", timeout=20)
    assert listing.status_code == 200
    assert f'<option value="{site.salon.service}">Haircut</option>' in listing.text
    token = form_token(listing.text)
    form = {"csrf_token": token, "calendar": str(site.salon.calendar), "profile": "slots",
            "label": "Partner clinic", "valid_until": ""}
    for bad in ("", "x", "9" * 5000):
        refused = browser.post(f"{site.admin}/calendar/links", timeout=20, allow_redirects=False,
                               data={**form, "service_id": bad})
        assert refused.status_code == 422 and "service" in refused.text, bad
    made = browser.post(f"{site.admin}/calendar/links", timeout=20, allow_redirects=False,
                        data={**form, "service_id": str(site.salon.service)})
    assert made.status_code == 303, made.text
    page = browser.get(site.live.url + made.headers["Location"], timeout=20).text
    assert "Open times of a service" in page and 'id="json-url"' in page
    assert "caldav-server" not in page and "freebusy-url" not in page
    assert 'value="full"' not in page and 'name="reminder"' not in page  # stays a slots link
    link_id = int(made.headers["Location"].split("/")[-1].split("?")[0])
    shown = link_of(site, link_id)
    assert shown["profile"] == "slots" and shown["service_id"] == site.salon.service
    assert requests.get(shown["feed_url"], timeout=20).status_code == 200
    assert "Partner clinic" in browser.get(f"{site.admin}/calendar/links", timeout=20).text


def test_a_reminder_is_chosen_when_the_link_is_made(site: AdminSite) -> None:
    book(site.api, site.salon, "2026-12-01T10:00:00+01:00")
    browser, _ = sign_in(site)
    listing = browser.get(f"{site.admin}/calendar/links", timeout=20)
    assert f'id="reminder-{site.salon.calendar}" name="reminder"' in listing.text
    form = {"csrf_token": form_token(listing.text), "calendar": str(site.salon.calendar),
            "profile": "limited", "label": "Phone", "valid_until": ""}

    def count() -> int:
        return len(site.api.ok("GET", f"/businesses/{site.salon.business}/links")["items"])

    before = count()
    for bad in ("soon", "-5", "9" * 5000, "99999"):
        refused = browser.post(f"{site.admin}/calendar/links", timeout=20, allow_redirects=False,
                               data={**form, "reminder": bad})
        assert refused.status_code == 422 and "reminder" in refused.text, bad
        assert "Traceback" not in refused.text
    assert count() == before  # nothing made by a refused form
    made = browser.post(f"{site.admin}/calendar/links", timeout=20, allow_redirects=False,
                        data={**form, "reminder": "15"})
    assert made.status_code == 303, made.text
    link = link_of(site, int(made.headers["Location"].split("/")[-1].split("?")[0]))
    assert link["reminder_minutes"] == 15
    feed = requests.get(link["feed_url"], timeout=20).text
    assert "BEGIN:VALARM" in feed and "TRIGGER:-PT15M" in feed and "Haircut" in feed
    # Open times carry no bookings: the reminder in the same form is left unread.
    slots = browser.post(f"{site.admin}/calendar/links", timeout=20, allow_redirects=False,
                         data={**form, "profile": "slots", "reminder": "15",
                               "service_id": str(site.salon.service)})
    assert slots.status_code == 303, slots.text
    shown = link_of(site, int(slots.headers["Location"].split("/")[-1].split("?")[0]))
    assert shown["profile"] == "slots" and shown["reminder_minutes"] is None

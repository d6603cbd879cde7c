"""The admin Google page shows a booking whose write Google refused (a 400 on its part of a
batch) under its calendar, with how often it failed and when it is retried (issue 13)."""

from __future__ import annotations

import datetime as dt
import html

import requests

from admin_site import AdminSite, sign_in
from fakes import FakeGoogle, FaultKind
from server.gcal_bridge import Bridge
from server.google.api import GoogleCalendarApi
from server.runtime import Runtime


def no_sleep_api(runtime: Runtime, token: str) -> GoogleCalendarApi:
    return GoogleCalendarApi(runtime.config.google, token, sleep=lambda seconds: None)


def connect_through_consent(site: AdminSite) -> None:
    url = site.api.ok("POST", f"/businesses/{site.salon.business}/google/connect")["consent_url"]
    answer = requests.get(url, timeout=20)  # the fake consents and sends us to the callback
    assert answer.status_code == 200 and "connected" in answer.text, answer.text


def test_a_refused_booking_is_shown_on_the_google_page(site: AdminSite,
                                                       fake: FakeGoogle) -> None:
    connect_through_consent(site)
    base = f"/businesses/{site.salon.business}"
    site.api.ok("PATCH", f"{base}/google/settings", json={"calendars": [
        {"calendar_id": site.salon.calendar, "write_calendar": "primary"}]})
    start = site.live.clock.now() + dt.timedelta(days=3)  # the site's injected clock
    booking = site.api.ok("POST", f"{base}/bookings", 201, json={
        "calendar_id": site.salon.calendar, "service_id": site.salon.service,
        "start": start.replace(microsecond=0).isoformat()})["id"]
    fake.inject_fault(FaultKind.BAD_REQUEST, endpoint="calendar.events.insert")
    Bridge(site.live.runtime, worker="admin-test", api_factory=no_sleep_api).run_once(
        force_pull=True)
    browser, _ = sign_in(site)
    page = html.unescape(browser.get(site.admin + "/apps/google", timeout=20).text)
    assert f"Booking {booking} not in Google: Google answered 400 (invalid)" in page
    assert "(1 failed writes, retrying in 1 min)" in page

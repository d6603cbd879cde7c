"""Every statement of the request paths names its business (docs/scaling.md, "Sharding by
business"): on a cluster distributed by business_id, a statement naming the business goes to
one shard, one without it to every shard. A salon is set up and used over real HTTP (the JSON
API, its feed, free/busy, availability, CalDAV reads with the `caldav` client and a writable
account's phone write and delete) on SQLite and PostgreSQL, the injected clock; every statement
the server sends is recorded, and each table of a business it reads or writes must be
constrained by its business_id (a condition or join on `<table>.business_id`, an INSERT's
column). The ORM's own UPDATEs and DELETEs name it through the models' version column
(server/db/models/base.py)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import caldav
import requests

from server.admin.accounts import create_user
from scoped_sql import business_walks, offending, recorded, unscoped
from support import (Api, LiveServer, block, book, local_iso, make_link, make_salon,
                     monday_after_next)


def test_the_checker_finds_a_statement_without_its_business() -> None:
    assert unscoped("SELECT bookings.id FROM bookings WHERE bookings.calendar_id = ?") \
        == ["bookings"]
    assert unscoped("UPDATE links SET last_used_at=? WHERE links.id = ?") == ["links"]
    assert unscoped("SELECT c.id FROM bookings JOIN clients AS c ON c.id = bookings.client_id "
                    "WHERE bookings.business_id = ?") == ["clients"]
    assert unscoped("SELECT meta.value FROM meta WHERE meta.key = ?") == []
    assert unscoped("SELECT links.id, links.business_id FROM links WHERE links.id = ?") \
        == ["links"]  # selecting the column is not naming the business
    assert unscoped("SELECT c.id FROM bookings JOIN clients AS c ON c.id = bookings.client_id "
                    "AND c.business_id = bookings.business_id "
                    "WHERE bookings.business_id = ?") == []
    assert unscoped("INSERT INTO journal (business_id, calendar_id) VALUES (?, ?)") == []


def _dav(link: dict[str, Any]) -> Any:
    account = link["caldav"]
    return caldav.DAVClient(url=account["server"], username=account["username"],
                            password=account["password"])


def test_every_statement_of_the_request_paths_names_its_business(live: LiveServer) -> None:
    step = ["setting up"]
    api = Api(live.url)
    with recorded(live.runtime.db.engine, step) as seen:
        salon = make_salon(api)
        other = make_salon(api)  # a second business: its rows must not be what is read
        base = f"/businesses/{salon.business}"
        api.ok("PUT", f"{base}/calendars/{salon.calendar}/opening-hours", json={"intervals": [
            {"weekday": day, "opens": "09:00", "closes": "17:00"} for day in range(7)]})
        day = monday_after_next(now=live.clock.now())
        step[0] = "booking"
        booking = book(api, salon, local_iso(day, 10), client_id=salon.client)
        book(api, other, local_iso(day, 10), client_id=other.client)
        step[0] = "blocking time"
        block(api, salon, start=local_iso(day, 13), end=local_iso(day, 14), title="Lunch")
        block(api, salon, start=local_iso(day, 8), end=local_iso(day, 9), title="Gym",
              rrule="FREQ=DAILY;COUNT=5")
        step[0] = "making links"
        link = make_link(api, salon.business)
        writable = make_link(api, salon.business, scope="calendar",
                             calendar_ids=[salon.calendar], writable=True)
        step[0] = "the feed"
        feed = requests.get(link["feed_url"], timeout=30)
        assert feed.status_code == 200 and "Lunch" in feed.text, feed.text
        again = requests.get(link["feed_url"], headers={"If-None-Match": feed.headers["ETag"]},
                             timeout=30)
        assert again.status_code == 304
        step[0] = "free/busy"
        assert requests.get(link["freebusy_url"], timeout=30).status_code == 200
        step[0] = "availability"
        slots = api.ok("GET", "/availability", params={
            "business_id": salon.business, "service_id": salon.service,
            "calendar_id": [salon.calendar], "start": day.isoformat()})
        assert slots["calendars"][0]["slots"], slots
        step[0] = "CalDAV reads"
        for calendar in _dav(link).principal().calendars():
            for item in calendar.events():
                item.load()
            start = dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc)
            found = calendar.search(start=start, end=start + dt.timedelta(days=2), event=True,
                                    expand=True)
            assert found
            synced = calendar.objects_by_sync_token(load_objects=True)
            assert len(list(synced)) >= 3
        step[0] = "a phone's write"
        phone = _dav(writable).principal().calendars()[0]
        start = dt.datetime.combine(day, dt.time(15), tzinfo=dt.timezone.utc)
        written = phone.save_event(dtstart=start, dtend=start + dt.timedelta(hours=1),
                                   summary="Dentist", uid="phone-event-1")
        written.load()
        written.delete()
        step[0] = "API reads"
        week = {"start": local_iso(day, 0), "end": local_iso(day + dt.timedelta(days=7), 0)}
        listed = api.ok("GET", f"{base}/bookings", params=week)
        assert [item["id"] for item in listed["items"]] == [booking["id"]]
        for path in ("/calendars", "/clients", "/services", "/links", "/blocked-times",
                     f"/bookings/{booking['id']}"):
            api.ok("GET", base + path)
        step[0] = "the admin pages"
        with live.runtime.db.write() as session:
            create_user(session, salon.business, "owner@salon.example", "a long password 1",
                        live.clock.now())
        browser = requests.Session()
        form = browser.get(live.url + "/admin/sign-in", timeout=30)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None, form.text
        signed = browser.post(live.url + "/admin/sign-in", timeout=30, allow_redirects=False,
                              data={"csrf_token": token.group(1), "email": "owner@salon.example",
                                    "password": "a long password 1"})
        assert signed.status_code == 303, signed.text
        for page in ("/", "/account", "/availability", "/calendar/links",
                     f"/calendar/links/{link['id']}", "/apps/calendar-links", "/apps/caldav",
                     "/sync"):
            shown = browser.get(f"{live.url}/admin{page}", timeout=30)
            assert shown.status_code == 200, (page, shown.status_code)
        step[0] = "editing and cancelling a booking"
        api.ok("PATCH", f"{base}/bookings/{booking['id']}", json={"notes": "moved"})
        api.ok("DELETE", f"{base}/bookings/{booking['id']}", status=204)

    steps = {name for name, _ in seen}
    assert {"the feed", "CalDAV reads", "a phone's write", "availability",
            "the admin pages"} <= steps, steps
    assert not offending(seen), offending(seen)
    walks = business_walks(live.runtime.db.engine, seen)
    assert not walks, walks

"""A link's own view in CalDAV, over real HTTP with python-caldav and raw WebDAV, on SQLite and
PostgreSQL, on the FixedClock at support.NOW: a link's reminder puts an alarm on its bookings
and a link of several calendars names the employee on blocked time, as its feed does; item
ETags are per view, so changing a link's reminder or renaming an employee changes exactly the
ETags (and the sync token and ctag) of the texts that changed; and an ETag names exactly one
text: across every change that alters what is served, an ETag seen twice came with the same
bytes, and every changed text came with a new ETag."""

from __future__ import annotations

import datetime as dt
from typing import Any

import caldav
import icalendar
import pytest

from server.domain import journal
from support import Api, LiveServer, Salon, block, book, make_link, make_salon
from test_caldav import Dav, assert_valid_sync_token_error, multistatus


@pytest.fixture
def api(live: LiveServer) -> Api:
    return Api(live.url)


def calendars(link: dict[str, Any]) -> dict[str, Any]:
    """The link's calendars in python-caldav, by display name."""
    account = link["caldav"]
    client = caldav.DAVClient(url=account["server"], username=account["username"],
                              password=account["password"])
    return {c.get_display_name(): c for c in client.principal().calendars()}


def summaries(calendar: Any) -> dict[str, icalendar.Event]:
    """SUMMARY -> VEVENT of every item of a calendar, from python-caldav's first sync."""
    found = {}
    for obj in calendar.objects_by_sync_token(load_objects=True):
        [event] = icalendar.Calendar.from_ical(obj.data).walk("VEVENT")
        found[str(event["SUMMARY"])] = event
    return found


def slug_of(api: Api, salon: Salon, calendar_id: int) -> str:
    return str(api.ok("GET", f"/businesses/{salon.business}/calendars/{calendar_id}")["slug"])


def test_a_links_reminder_reaches_caldav_and_moves_its_booking_etags(api: Api,
                                                                   live: LiveServer) -> None:
    salon = make_salon(api)
    cut = book(api, salon, "2026-12-01T10:00", client_id=salon.client)
    book(api, salon, "2026-12-02", all_day=True)
    lunch = block(api, salon, title="Lunch", start="2026-12-01T12:00", end="2026-12-01T13:00")
    link = make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar],
                     reminder_minutes=15)
    dav = Dav(live, link)
    slug = slug_of(api, salon, salon.calendar)
    [calendar] = calendars(link).values()
    events = summaries(calendar)
    assert set(events) == {"Haircut – Jens Hansen", "Haircut", "Lunch"}
    for summary in ("Haircut – Jens Hansen", "Haircut"):
        [alarm] = events[summary].walk("VALARM")
        assert alarm.decoded("TRIGGER") == -dt.timedelta(minutes=15)
        assert str(alarm["DESCRIPTION"]) == summary
    assert events["Lunch"].walk("VALARM") == []

    lunch_href = dav.item(slug, lunch["uid"])
    cut_href = dav.item(slug, cut["uid"])
    before = dav.etags(slug)
    token = dav.prop(dav.calendar(slug), "D:sync-token")
    ctag = dav.prop(dav.calendar(slug), "CS:getctag")
    assert dav.get(cut_href).headers["ETag"] == before[cut_href]

    patched = api.patch(f"/businesses/{salon.business}/links/{link['id']}",
                        json={"reminder_minutes": 30})
    assert patched.status_code == 200
    after = dav.etags(slug)
    # The bookings' texts changed (their alarm), blocked time's did not.
    assert set(after) == set(before)
    assert all(after[h] != before[h] for h in after if h != lunch_href)
    assert after[lunch_href] == before[lunch_href]
    assert dav.prop(dav.calendar(slug), "D:sync-token") != token
    assert dav.prop(dav.calendar(slug), "CS:getctag") != ctag
    # A phone holding the old token is told to sync again from scratch, and then sees the
    # new alarms.
    assert_valid_sync_token_error(dav.sync(slug, token))
    [alarm] = summaries(calendar)["Haircut"].walk("VALARM")
    assert alarm.decoded("TRIGGER") == -dt.timedelta(minutes=30)
    got = dav.get(cut_href)
    assert got.headers["ETag"] == after[cut_href] and "TRIGGER:-PT30M" in got.text

    cleared = api.patch(f"/businesses/{salon.business}/links/{link['id']}",
                        json={"reminder_minutes": None})
    assert cleared.status_code == 200
    none = dav.etags(slug)
    assert "VALARM" not in dav.get(cut_href).text
    assert none[cut_href] not in (before[cut_href], after[cut_href])
    assert none[lunch_href] == before[lunch_href]


def test_a_set_link_names_employees_in_caldav_and_a_rename_moves_their_etags(
        api: Api, live: LiveServer) -> None:
    salon = make_salon(api)  # calendar "Anna Berg"
    base = f"/businesses/{salon.business}"
    bo = api.ok("POST", f"{base}/calendars", 201, json={"name": "Bo Berg"})
    anna_lunch = block(api, salon, title="Lunch", start="2026-12-01T12:00",
                       end="2026-12-01T13:00")
    bo_lunch = block(api, salon, calendar=bo["id"], title="Lunch", start="2026-12-01T12:00",
                     end="2026-12-01T13:00")
    book(api, salon, "2026-12-01T10:00", calendar=bo["id"])
    both = make_link(api, salon.business, scope="set", calendar_ids=[salon.calendar, bo["id"]])
    found = calendars(both)
    assert set(summaries(found["Anna Berg"])) == {"Lunch – Anna Berg"}
    assert set(summaries(found["Bo Berg"])) == {"Lunch – Bo Berg", "Haircut"}
    # One calendar: no names; busy: the time only.
    one = make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar])
    assert set(summaries(calendars(one)["Anna Berg"])) == {"Lunch"}
    busy = make_link(api, salon.business, scope="all", profile="busy")
    assert set(summaries(calendars(busy)["Bo Berg"])) == {"Busy"}

    dav = Dav(live, both)
    anna, bo_slug = slug_of(api, salon, salon.calendar), bo["slug"]
    anna_before, bo_before = dav.etags(anna), dav.etags(bo_slug)
    anna_token = dav.prop(dav.calendar(anna), "D:sync-token")
    bo_token = dav.prop(dav.calendar(bo_slug), "D:sync-token")
    api.ok("PATCH", f"{base}/calendars/{bo['id']}", json={"name": "Bo Lund"})
    bo_after = dav.etags(bo_slug)
    lunch_href = dav.item(bo_slug, bo_lunch["uid"])
    assert bo_after[lunch_href] != bo_before[lunch_href]
    assert "SUMMARY:Lunch – Bo Lund" in dav.get(lunch_href).text
    assert dav.get(lunch_href).headers["ETag"] == bo_after[lunch_href]
    assert dav.prop(dav.calendar(bo_slug), "D:sync-token") != bo_token
    assert_valid_sync_token_error(dav.sync(bo_slug, bo_token))
    # Anna's calendar shows the same texts: same ETags, and her token still answers.
    assert dav.etags(anna) == anna_before
    assert dav.item(anna, anna_lunch["uid"]) in anna_before
    assert dav.prop(dav.calendar(anna), "D:sync-token") == anna_token
    assert dav.sync(anna, anna_token).status_code == 207
    assert set(summaries(calendars(both)["Bo Lund"])) == {"Lunch – Bo Lund", "Haircut"}


def test_an_etag_names_exactly_one_text(api: Api, live: LiveServer) -> None:
    """Every state below changes what is served in some way; each item's (ETag, text) pairs
    are recorded by GET and the ETag checked against the listing's. An ETag seen twice must
    have come with the same bytes; a text that changed must have come with a new ETag."""
    salon = make_salon(api)
    base = f"/businesses/{salon.business}"
    bo = api.ok("POST", f"{base}/calendars", 201, json={"name": "Bo Berg"})
    cut = book(api, salon, "2026-12-01T10:00", client_id=salon.client)
    lunch = block(api, salon, title="Lunch", start="2026-12-01T12:00", end="2026-12-01T13:00")
    link = make_link(api, salon.business, scope="set", calendar_ids=[salon.calendar, bo["id"]])
    dav = Dav(live, link)
    slug = slug_of(api, salon, salon.calendar)
    hrefs = [dav.item(slug, cut["uid"]), dav.item(slug, lunch["uid"])]
    seen: dict[str, dict[str, bytes]] = {href: {} for href in hrefs}
    texts: dict[str, list[tuple[bytes, str]]] = {href: [] for href in hrefs}

    def record() -> None:
        listed = dav.etags(slug)
        answer = multistatus(dav.sync(slug))
        for href in hrefs:
            got = dav.get(href)
            assert got.status_code == 200, got.text
            etag = got.headers["ETag"]
            assert etag == listed[href]
            assert answer.entries[href].found["{DAV:}getetag"].text == etag
            assert seen[href].setdefault(etag, got.content) == got.content, \
                f"{href}: the ETag {etag} came with two different texts"
            texts[href].append((got.content, etag))

    def patch_link(**fields: Any) -> None:
        assert api.patch(f"{base}/links/{link['id']}", json=fields).status_code == 200

    record()
    record()  # unchanged: same ETags, same texts
    api.ok("PATCH", f"{base}/bookings/{cut['id']}", json={"start": "2026-12-01T11:00"})
    record()
    api.ok("PATCH", f"{base}/blocked-times/{lunch['id']}", json={"title": "Long lunch"})
    record()
    patch_link(reminder_minutes=10)
    record()
    patch_link(profile="limited")
    record()
    api.ok("PATCH", f"{base}/calendars/{salon.calendar}", json={"name": "Anna Lund"})
    record()
    patch_link(profile="full")
    record()
    with live.runtime.db.write() as session:  # a restore: every ETag handed out is void
        journal.new_epoch(session)
    record()
    for href in hrefs:
        pairs = texts[href]
        for (text, etag), (next_text, next_etag) in zip(pairs, pairs[1:]):
            if next_text != text:
                assert next_etag != etag, href
        assert pairs[0][1] == pairs[1][1]
        assert pairs[-1][1] not in [etag for _, etag in pairs[:-1]]  # the new epoch
    # The booking's text changed at each step but the title's; the lunch at the title, the
    # profile (twice) and the rename (it is named).
    assert len(seen[hrefs[0]]) >= 6 and len(seen[hrefs[1]]) >= 5

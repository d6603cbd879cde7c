"""The CalDAV fast path (server/publishing/davfast/) answers exactly as Radicale does: every hot request is
sent twice to the same server, over real HTTP, once answered by the fast path and once with it
switched off (Radicale's own answer), and the answers are compared byte for byte (status,
headers but Content-Length, body), or response by response where Radicale's order is that of a
Python set (calendar-multiget). Requests the fast path leaves to Radicale are checked to reach
it (the switch's count of fast answers does not move) and to answer the same.

The calendar: bookings (notes and a calendar name needing XML escaping), one-off blocked time,
a repeating blocked time with exdates, an all-day holiday, a cancelled and a deleted booking,
items in two time zones (a Copenhagen and a New York calendar of one 'set' link)."""

from __future__ import annotations

import base64
import contextlib
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
import requests

from support import (
    Api, LiveServer, Salon, block, book, make_link, make_runtime, make_salon, start_server,
)

CAL_NS = "urn:ietf:params:xml:ns:caldav"
NS = (f'xmlns:D="DAV:" xmlns:C="{CAL_NS}" xmlns:CS="http://calendarserver.org/ns/" '
      'xmlns:I="http://apple.com/ns/ical/"')
RESPONSE = re.compile(rb"<response>.*?</response>", re.DOTALL)


@pytest.fixture
def api(live: LiveServer) -> Api:
    return Api(live.url)


class Client:
    """Raw requests as one link, each sent with the fast path on and then off."""

    def __init__(self, live: LiveServer, link: dict[str, Any], root: str = "") -> None:
        self.live = live
        account = link["caldav"]
        self.authorization = "Basic " + base64.b64encode(
            f"{account['username']}:{account['password']}".encode()).decode()
        self.principal = f"{root}/dav/{account['username']}/"

    def send(self, method: str, path: str, body: str, depth: str,
             encoding: str = "identity") -> requests.Response:
        return requests.request(method, self.live.url + path, data=body.encode(), timeout=60,
                                headers={"Authorization": self.authorization, "Depth": depth,
                                         "Content-Type": "application/xml; charset=utf-8",
                                         "Accept-Encoding": encoding})

    def both(self, method: str, path: str, body: str, depth: str = "1", *, fast: bool = True,
             encoding: str = "identity") -> tuple[requests.Response, requests.Response]:
        switch = self.live.runtime.dav_fast
        before = switch.answered
        ours = self.send(method, path, body, depth, encoding)
        assert switch.answered == before + (1 if fast else 0), \
            f"the fast path {'did not answer' if fast else 'answered'} {body[:120]}"
        switch.enabled = False
        try:
            radicale = self.send(method, path, body, depth, encoding)
        finally:
            switch.enabled = True
        assert switch.answered == before + (1 if fast else 0)
        return ours, radicale


def headers_of(response: requests.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items()
            if k not in ("Content-Length", "Date", "Server", "X-Request-Id")}


def assert_same(ours: requests.Response, radicale: requests.Response, *,
                ordered: bool = True) -> None:
    assert ours.status_code == radicale.status_code, (ours.status_code, ours.text[:300],
                                                      radicale.text[:300])
    assert headers_of(ours) == headers_of(radicale)
    if ordered:
        assert ours.content == radicale.content
        return
    # Radicale lists a multiget's hrefs from a set: the same responses, in some order.
    assert sorted(RESPONSE.findall(ours.content)) == sorted(RESPONSE.findall(radicale.content))
    assert RESPONSE.sub(b"", ours.content) == RESPONSE.sub(b"", radicale.content)


def propfind(*props: str) -> str:
    inner = "".join(f"<{p}/>" for p in props)
    return f'<?xml version="1.0" encoding="utf-8"?><D:propfind {NS}><D:prop>{inner}</D:prop>' \
        "</D:propfind>"


def sync(token: str = "", *props: str) -> str:
    inner = "".join(f"<{p}/>" for p in props or ("D:getetag",))
    return (f'<?xml version="1.0" encoding="utf-8"?><D:sync-collection {NS}>'
            f"<D:sync-token>{escape(token)}</D:sync-token><D:sync-level>1</D:sync-level>"
            f"<D:prop>{inner}</D:prop></D:sync-collection>")


def multiget(hrefs: list[str], *props: str) -> str:
    inner = "".join(f"<{p}/>" for p in props or ("D:getetag", "C:calendar-data"))
    refs = "".join(f"<D:href>{escape(h)}</D:href>" for h in hrefs)
    return (f'<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget {NS}>'
            f"<D:prop>{inner}</D:prop>{refs}</C:calendar-multiget>")


def query(start: str, end: str, *props: str) -> str:
    inner = "".join(f"<{p}/>" for p in props or ("D:getetag", "C:calendar-data"))
    return (f'<?xml version="1.0" encoding="utf-8"?><C:calendar-query {NS}>'
            f"<D:prop>{inner}</D:prop><C:filter><C:comp-filter name=\"VCALENDAR\">"
            f'<C:comp-filter name="VEVENT"><C:time-range start="{start}" end="{end}"/>'
            "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>")


def sync_token(response: requests.Response) -> str:
    token = ET.fromstring(response.content).findtext("{DAV:}sync-token")
    assert token, response.text[:300]
    return token


def make_calendars(api: Api) -> tuple[Salon, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(salon, copenhagen calendar, new york calendar, items by name)."""
    salon = make_salon(api)
    base = f"/businesses/{salon.business}"
    cph = api.ok("POST", f"{base}/calendars", 201,
                 json={"name": 'Anna & <Bo> "Berg"', "timezone": "Europe/Copenhagen"})
    nyc = api.ok("POST", f"{base}/calendars", 201,
                 json={"name": "Carl <NY> & Co", "timezone": "America/New_York"})
    items = {
        "first": book(api, salon, "2026-12-01T10:00", calendar=cph["id"],
                      client_id=salon.client, notes="Tea & <biscuits> > coffee"),
        "second": book(api, salon, "2026-12-02T11:00", calendar=cph["id"]),
        "cancelled": book(api, salon, "2026-12-03T10:00", calendar=cph["id"]),
        "deleted": book(api, salon, "2026-12-04T10:00", calendar=cph["id"]),
        "dentist": block(api, salon, calendar=cph["id"], title="Dentist & <more>",
                         start="2026-12-09T08:00", end="2026-12-09T09:00"),
        "holiday": block(api, salon, calendar=cph["id"], title="Holiday", all_day=True,
                         start="2026-12-24", end="2026-12-27"),
        # Mondays 08:00-09:00 from 2026-11-23, without 11-30 and 12-07.
        "mondays": block(api, salon, calendar=cph["id"], title="Team", start="2026-11-23T08:00",
                         end="2026-11-23T09:00", rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=6",
                         exdates=["2026-11-30T08:00", "2026-12-07T08:00"]),
        "ny": book(api, salon, "2026-12-01T09:00", calendar=nyc["id"]),
        "ny lunch": block(api, salon, calendar=nyc["id"], title="Lunch",
                          start="2026-11-25T12:00", end="2026-11-25T12:30",
                          rrule="FREQ=DAILY;COUNT=20"),
    }
    api.ok("POST", f"{base}/bookings/{items['cancelled']['id']}/cancel")
    api.ok("DELETE", f"{base}/bookings/{items['deleted']['id']}", 204)
    return salon, cph, nyc, items


def test_propfind_depth_1_equals_radicale(api: Api, live: LiveServer) -> None:
    salon, cph, nyc, _ = make_calendars(api)
    link = make_link(api, salon.business, scope="set", calendar_ids=[cph["id"], nyc["id"]])
    client = Client(live, link)
    for calendar in (cph, nyc):
        path = f"{client.principal}{calendar['slug']}/"
        for props in (("D:getetag",), ("D:getetag", "D:getcontenttype"),
                      ("D:resourcetype", "D:getetag", "D:getlastmodified", "D:displayname",
                       "CS:getctag", "D:sync-token", "I:calendar-color"),
                      ("CS:getctag", "D:getetag"), ()):
            ours, radicale = client.both("PROPFIND", path, propfind(*props))
            assert ours.status_code == 207
            assert_same(ours, radicale)
        # gzip as Radicale sends it when asked (the compressed bytes may differ).
        ours, radicale = client.both("PROPFIND", path, propfind("D:getetag"), encoding="gzip")
        assert ours.headers["Content-Encoding"] == radicale.headers["Content-Encoding"] == "gzip"
        assert ours.content == radicale.content  # requests decodes both
    # Not answered by the fast path: allprop, propname, Depth 0, the principal, properties
    # Radicale computes from the item's text or the principal.
    cal = f"{client.principal}{cph['slug']}/"
    for path, body, depth in (
            (cal, f'<?xml version="1.0"?><D:propfind {NS}><D:allprop/></D:propfind>', "1"),
            (cal, f'<?xml version="1.0"?><D:propfind {NS}><D:propname/></D:propfind>', "1"),
            (cal, propfind("D:getetag"), "0"),
            (client.principal, propfind("D:getetag", "D:displayname"), "1"),
            (cal, propfind("D:getetag", "D:getcontentlength"), "1"),
            (cal, propfind("D:getetag", "D:current-user-privilege-set"), "1")):
        ours, radicale = client.both("PROPFIND", path, body, depth, fast=False)
        assert_same(ours, radicale)


def test_sync_collection_equals_radicale(api: Api, live: LiveServer) -> None:
    salon, cph, nyc, items = make_calendars(api)
    base = f"/businesses/{salon.business}"
    link = make_link(api, salon.business, scope="set", calendar_ids=[cph["id"], nyc["id"]])
    client = Client(live, link)
    path = f"{client.principal}{cph['slug']}/"
    tokens = {}
    for calendar in (cph, nyc):
        here = f"{client.principal}{calendar['slug']}/"
        for props in (("D:getetag",), ("D:getetag", "C:calendar-data"),
                      ("D:getcontenttype", "D:getetag", "D:displayname")):
            ours, radicale = client.both("REPORT", here, sync("", *props))
            assert ours.status_code == 207
            assert_same(ours, radicale)
        tokens[calendar["slug"]] = sync_token(ours)
    old = tokens[cph["slug"]]

    # Changes since the token: one moved, one added, one cancelled, one deleted, blocked time
    # changed and deleted.
    api.ok("PATCH", f"{base}/bookings/{items['second']['id']}", json={"start": "2026-12-02T16:00"})
    book(api, salon, "2026-12-06T10:00", calendar=cph["id"], notes="new & <fresh>")
    api.ok("POST", f"{base}/bookings/{items['first']['id']}/cancel")
    api.ok("PATCH", f"{base}/blocked-times/{items['mondays']['id']}", json={"title": "Team & Co"})
    api.ok("DELETE", f"{base}/blocked-times/{items['dentist']['id']}", 204)
    for props in (("D:getetag",), ("D:getetag", "C:calendar-data")):
        ours, radicale = client.both("REPORT", path, sync(old, *props))
        assert ours.status_code == 207
        assert_same(ours, radicale)
        assert ours.content.count(b"404 Not Found") == 2  # the cancelled and deleted ones
    # The current token: nothing changed since.
    ours, radicale = client.both("REPORT", path, sync(sync_token(ours)))
    assert_same(ours, radicale)
    assert b"<response>" not in ours.content
    # Invalid tokens: Radicale's own precondition (the fast path leaves them to it).
    for bad in ("bogus", old[:-1] + "x", tokens[nyc["slug"]]):
        ours, radicale = client.both("REPORT", path, sync(bad), fast=False)
        assert ours.status_code == 403
        assert_same(ours, radicale)
    # Variants left to Radicale: sync-level infinite, a limit, calendar-data with a selection.
    infinite = sync("").replace("<D:sync-level>1<", "<D:sync-level>infinite<")
    limited = sync("").replace("</D:sync-collection>",
                               "<D:limit><D:nresults>1</D:nresults></D:limit></D:sync-collection>")
    selected = sync("", "D:getetag").replace(
        "<D:getetag/>", '<D:getetag/><C:calendar-data><C:comp name="VCALENDAR"/></C:calendar-data>')
    for body in (infinite, limited, selected):
        ours, radicale = client.both("REPORT", path, body, fast=False)
        assert_same(ours, radicale)


def test_multiget_equals_radicale(api: Api, live: LiveServer) -> None:
    salon, cph, nyc, items = make_calendars(api)
    link = make_link(api, salon.business, scope="set", calendar_ids=[cph["id"], nyc["id"]])
    client = Client(live, link)
    path = f"{client.principal}{cph['slug']}/"
    mine = [f"{path}{items[name]['uid']}.ics"
            for name in ("first", "second", "dentist", "holiday", "mondays")]
    hrefs = [*mine,
             f"{path}{items['cancelled']['uid']}.ics",            # cancelled: 404
             f"{path}{items['deleted']['uid']}.ics",              # deleted: 404
             f"{path}nothing-here.ics",                           # never existed: 404
             f"{path}not-an-item",                                # no .ics: 404
             f"{client.principal}{nyc['slug']}/{items['ny']['uid']}.ics",  # another calendar
             f"{path}sub/{items['first']['uid']}.ics",            # below an item: 404
             "/elsewhere/x.ics",                                  # outside /dav: skipped
             live.url + mine[0],                                  # absolute, a duplicate
             mine[1]]                                             # a duplicate
    for props in (("D:getetag", "C:calendar-data"), ("D:getetag",),
                  ("C:calendar-data", "D:getcontenttype", "CS:getctag")):
        ours, radicale = client.both("REPORT", path, multiget(hrefs, *props))
        assert ours.status_code == 207
        assert_same(ours, radicale, ordered=False)
        assert len(RESPONSE.findall(ours.content)) == 11
    # Only missing ones.
    ours, radicale = client.both("REPORT", path, multiget(hrefs[5:9]))
    assert_same(ours, radicale, ordered=False)
    # The collection itself among the hrefs: left to Radicale.
    ours, radicale = client.both("REPORT", path, multiget([path, mine[0]]), fast=False)
    assert_same(ours, radicale, ordered=False)


def test_calendar_query_equals_radicale(api: Api, live: LiveServer) -> None:
    salon, cph, nyc, items = make_calendars(api)
    link = make_link(api, salon.business, scope="set", calendar_ids=[cph["id"], nyc["id"]])
    client = Client(live, link)
    ranges = {
        # Tuesday 12-01: the first booking; the Monday series only began before.
        "a booking": ("20261201T000000Z", "20261202T000000Z"),
        # Monday 12-14: the series hits only through its fourth occurrence.
        "a later occurrence": ("20261214T000000Z", "20261215T000000Z"),
        # Monday 11-30 and 12-07 are exdates; Wednesday 12-16 has no occurrence either.
        "an exdate": ("20261130T000000Z", "20261201T000000Z"),
        "an exdate, again": ("20261207T060000Z", "20261207T100000Z"),
        "between occurrences": ("20261216T000000Z", "20261217T000000Z"),
        # After the series' last occurrence (COUNT=6 counts the exdates: the last is 12-28).
        "after the series": ("20270104T000000Z", "20270105T000000Z"),
        "the holiday": ("20261225T000000Z", "20261226T000000Z"),
        "a whole month": ("20261101T000000Z", "20270101T000000Z"),
        "open start": ("19000101T000000Z", "20261202T000000Z"),
    }
    for calendar in (cph, nyc):
        path = f"{client.principal}{calendar['slug']}/"
        for name, (start, end) in ranges.items():
            for props in (("D:getetag", "C:calendar-data"), ("D:getetag",),
                          ("D:getcontenttype", "D:getetag", "D:displayname")):
                ours, radicale = client.both("REPORT", path, query(start, end, *props))
                assert ours.status_code == 207, name
                assert_same(ours, radicale)
                if calendar is cph and name == "a later occurrence":
                    assert items["mondays"]["uid"].encode() in ours.content
                if calendar is cph and name == "between occurrences":
                    assert b"<response>" not in ours.content
    # Expansion, other filters: left to Radicale.
    path = f"{client.principal}{cph['slug']}/"
    expand = query("20261214T000000Z", "20261215T000000Z", "D:getetag").replace(
        "<D:getetag/>", '<D:getetag/><C:calendar-data><C:expand start="20261214T000000Z" '
        'end="20261215T000000Z"/></C:calendar-data>')
    todo = query("20261201T000000Z", "20261202T000000Z").replace('name="VEVENT"', 'name="VTODO"')
    prop_filter = query("20261201T000000Z", "20261202T000000Z").replace(
        '<C:time-range start="20261201T000000Z" end="20261202T000000Z"/>',
        '<C:prop-filter name="SUMMARY"><C:text-match>Team</C:text-match></C:prop-filter>')
    for body in (expand, todo, prop_filter):
        ours, radicale = client.both("REPORT", path, body, fast=False)
        assert_same(ours, radicale)


def test_the_render_cache_is_written_by_the_fast_path(api: Api, live: LiveServer) -> None:
    """Items first rendered on the fast path are stored (Publisher.save), so the next read
    renders nothing: the rendered_items rows appear after one multiget."""
    from sqlalchemy import delete, func, select

    from server.db.models import RenderedItem

    salon, cph, _, items = make_calendars(api)
    link = make_link(api, salon.business, scope="calendar", calendar_ids=[cph["id"]])
    client = Client(live, link)
    path = f"{client.principal}{cph['slug']}/"

    def cached() -> int:
        with live.runtime.db.read() as session:
            return int(session.execute(select(func.count()).select_from(RenderedItem))
                       .scalar_one())

    # The link's feed was pre-rendered in the background (server/publishing/prerender.py): start from an
    # empty cache once that is done.
    assert live.runtime.prerender.wait(30)
    with live.runtime.db.write() as session:
        session.execute(delete(RenderedItem))
    before = cached()
    assert before == 0
    switch = live.runtime.dav_fast
    answered = switch.answered
    response = client.send("REPORT", path, multiget([f"{path}{items['second']['uid']}.ics"]), "1")
    assert response.status_code == 207 and switch.answered == answered + 1
    assert cached() == before + 1


def test_get_and_head_of_an_item_equal_radicale(api: Api, live: LiveServer) -> None:
    salon, cph, nyc, items = make_calendars(api)
    link = make_link(api, salon.business, scope="set", calendar_ids=[cph["id"], nyc["id"]])
    client = Client(live, link)
    shown = {"first": cph, "second": cph, "dentist": cph, "holiday": cph, "mondays": cph,
             "ny": nyc, "ny lunch": nyc}
    for name, calendar in shown.items():
        href = f"{client.principal}{calendar['slug']}/{items[name]['uid']}.ics"
        for method in ("GET", "HEAD"):
            for encoding in ("identity", "gzip"):
                ours, radicale = client.both(method, href, "", "0", encoding=encoding)
                assert ours.status_code == 200, (name, ours.text[:200])
                assert_same(ours, radicale)
                assert ours.headers["Content-Length"] == radicale.headers["Content-Length"] \
                    or encoding == "gzip"
    # Missing, cancelled, deleted, in another calendar, not an item: Radicale's 404.
    cph_path = f"{client.principal}{cph['slug']}/"
    for href in (f"{cph_path}nothing.ics", f"{cph_path}{items['cancelled']['uid']}.ics",
                 f"{cph_path}{items['deleted']['uid']}.ics",
                 f"{cph_path}{items['ny']['uid']}.ics"):
        ours, radicale = client.both("GET", href, "", "0", fast=False)
        assert ours.status_code == 404
        assert_same(ours, radicale)


def test_below_a_public_sub_path_the_hrefs_carry_it_as_radicale_writes_them(
        tmp_path: Path, database_url: str) -> None:
    runtime = make_runtime(tmp_path, database_url,
                           extra='public_url = "https://cal.example.com/salon/"\n')
    live = start_server(runtime, keep_public_url=True)
    try:
        api = Api(live.url + "/salon")
        salon, cph, nyc, items = make_calendars(api)
        link = make_link(api, salon.business, scope="set", calendar_ids=[cph["id"], nyc["id"]])
        client = Client(live, link, root="/salon")
        path = f"{client.principal}{cph['slug']}/"
        item = f"{path}{items['first']['uid']}.ics"
        for method, body, depth, ordered in (
                ("PROPFIND", propfind("D:getetag", "D:getcontenttype"), "1", True),
                ("REPORT", sync(""), "1", True),
                ("REPORT", sync("", "D:getetag", "C:calendar-data"), "1", True),
                ("REPORT", multiget([item, f"{path}gone.ics", "/dav/elsewhere.ics",
                                     f"{client.principal}{nyc['slug']}/x.ics"]), "1", False),
                ("REPORT", query("20261201T000000Z", "20261215T000000Z"), "1", True),
                ("GET", "", "0", True)):
            target = item if method == "GET" else path
            ours, radicale = client.both(method, target, body, depth)
            assert ours.status_code in (200, 207), (method, body[:80], ours.status_code)
            assert b"/salon/dav/" in ours.content or method == "GET"
            assert_same(ours, radicale, ordered=ordered)
    finally:
        live.stop()


def test_get_is_answered_in_one_query_keeping_every_check(api: Api, live: LiveServer) -> None:
    """GET and HEAD of an item are answered by the one-query path (server/publishing/davfast/quickget.py)
    with Radicale's bytes, for every profile and with a link's reminder and employee names;
    whatever fails one of its checks is answered by the full path exactly as before."""
    import datetime as dt

    salon, cph, nyc, items = make_calendars(api)
    base = f"/businesses/{salon.business}"
    switch = live.runtime.dav_fast
    shown = {"first": cph, "dentist": cph, "holiday": cph, "mondays": cph, "ny": nyc,
             "ny lunch": nyc}
    assert live.runtime.prerender.wait(30)
    for profile, fields in (("full", {"reminder_minutes": 15}), ("limited", {}),
                            ("busy", {"reminder_minutes": 0})):
        link = make_link(api, salon.business, scope="set", profile=profile,
                         calendar_ids=[cph["id"], nyc["id"]], **fields)
        client = Client(live, link)
        hrefs = {name: f"{client.principal}{calendar['slug']}/{items[name]['uid']}.ics"
                 for name, calendar in shown.items()}
        for href in hrefs.values():  # the first use is recorded, texts rendered: full path
            assert client.send("GET", href, "", "0").status_code == 200
        for name, href in hrefs.items():
            for method in ("GET", "HEAD"):
                for encoding in ("identity", "gzip"):
                    quick = switch.quick
                    ours, radicale = client.both(method, href, "", "0", encoding=encoding)
                    assert switch.quick == quick + 1, (profile, name, method)
                    assert ours.status_code == 200
                    assert_same(ours, radicale)
        text = client.send("GET", hrefs["first"], "", "0").text
        if profile == "full":
            assert "BEGIN:VALARM" in text and "TRIGGER:-PT15M" in text
        if profile != "full":
            assert "Jens" not in text  # the client's name stays out of limited and busy
        lunch = client.send("GET", hrefs["ny lunch"], "", "0").text
        # Blocked time names its employee where the profile shows titles ("Busy" stays bare).
        assert (" – Carl <NY> & Co\r\n" in lunch) == (profile != "busy"), lunch
        assert ("SUMMARY:Lunch – Carl" in lunch) == (profile == "full"), lunch

    link = make_link(api, salon.business, scope="calendar", calendar_ids=[cph["id"]],
                     expires_at=(live.clock.now() + dt.timedelta(hours=1)).isoformat())
    client = Client(live, link)
    href = f"{client.principal}{cph['slug']}/{items['first']['uid']}.ics"
    assert client.send("GET", href, "", "0").status_code == 200
    quick = switch.quick
    assert client.send("GET", href, "", "0").status_code == 200 and switch.quick == quick + 1

    def refused(path: str, status: int, who: Client = client) -> None:
        before = switch.quick
        ours, radicale = who.both("GET", path, "", "0", fast=status == 200)
        assert ours.status_code == status, (path, ours.status_code, ours.text[:200])
        assert_same(ours, radicale)
        assert switch.quick == before

    # Not in the link's scope (the New York calendar), another business's calendar, a
    # calendar made inactive: Radicale's 404 from the full path.
    other = make_salon(api)
    other_item = book(api, other, "2026-12-01T10:00")
    other_slug = api.ok("GET", f"/businesses/{other.business}/calendars/{other.calendar}")["slug"]
    refused(f"{client.principal}{nyc['slug']}/{items['ny']['uid']}.ics", 404)
    refused(f"{client.principal}{other_slug}/{other_item['uid']}.ics", 404)
    # Another principal's path with this link's password: Radicale's 403 (as before).
    ours = client.send("GET", f"/dav/link-{link['id'] + 1000}/{cph['slug']}/"
                       f"{items['first']['uid']}.ics", "", "0")
    assert ours.status_code in (403, 404)
    # A wrong user name, a wrong password: 401 from the full path.
    wrong = Client(live, {"caldav": {**link["caldav"], "username": "link-999999"}})
    assert wrong.send("GET", href, "", "0").status_code == 401
    bad = Client(live, {"caldav": {**link["caldav"], "password": link["caldav"]["password"]
                                   + "x"}})
    assert bad.send("GET", href, "", "0").status_code == 401
    api.ok("PATCH", f"{base}/calendars/{cph['id']}", json={"active": False})
    refused(href, 404)
    api.ok("PATCH", f"{base}/calendars/{cph['id']}", json={"active": True})
    assert client.send("GET", href, "", "0").status_code == 200
    # Expired, then a revoked link: 401, never the item.
    live.clock.advance(dt.timedelta(hours=2))
    before = switch.quick
    assert client.send("GET", href, "", "0").status_code == 401 and switch.quick == before
    live.clock.advance(dt.timedelta(hours=-2))
    assert client.send("GET", href, "", "0").status_code == 200
    api.ok("DELETE", f"{base}/links/{link['id']}", 204)
    before = switch.quick
    assert client.send("GET", href, "", "0").status_code == 401 and switch.quick == before

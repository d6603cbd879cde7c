"""CalDAV for private links (Radicale under /dav/) over real HTTP, on SQLite and PostgreSQL, with
the `caldav` client library and raw WebDAV requests: discovery, items, time-range and expanded
queries, sync-collection with deletions and refused tokens, multiget, free-busy, DST through each
item's own VTIMEZONE, read-only enforcement, sign-in, redaction, the mount's shields against
hostile requests, and isolation between businesses (CalDAV, feeds and every API route)."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import caldav
import icalendar
import pytest
import requests
import vobject
from caldav.elements import ical
from caldav.lib import error as dav_error

from server.app import create_flask_app
from server.domain import journal
from server.web.middleware import Metrics
from server.web.ratelimit import FailureLimiter
from support import (
    NOW, Api, LiveServer, Salon, assert_error, block, book, iter_pages, make_link, make_runtime,
    make_salon, start_server,
)

UTC = dt.timezone.utc
CPH, NYC = "Europe/Copenhagen", "America/New_York"
DAV_NS = "DAV:"
CAL_NS = "urn:ietf:params:xml:ns:caldav"
CS_NS = "http://calendarserver.org/ns/"
ICAL_NS = "http://apple.com/ns/ical/"
D, C, CS, I = (f"{{{ns}}}" for ns in (DAV_NS, CAL_NS, CS_NS, ICAL_NS))
IDENTITY = {"Accept-Encoding": "identity"}


# --- servers and fixtures -----------------------------------------------------------------


@contextlib.contextmanager
def serving(tmp_path: Path, database_url: str, extra: str = "") -> Iterator[LiveServer]:
    server = start_server(make_runtime(tmp_path, database_url, extra=extra))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    with serving(tmp_path, database_url) as server:
        yield server


@pytest.fixture
def api(live: LiveServer) -> Api:
    return Api(live.url)


@pytest.fixture
def salon(api: Api) -> Salon:
    return make_salon(api)


# --- API helpers --------------------------------------------------------------------------


def add_calendar(api: Api, business: int, name: str, tz: str | None = None,
                 **fields: Any) -> dict[str, Any]:
    body = {"name": name, **({"timezone": tz} if tz else {}), **fields}
    calendar: dict[str, Any] = api.ok("POST", f"/businesses/{business}/calendars", 201,
                                      json=body)
    return calendar


def calendar_of(api: Api, business: int, calendar: int) -> dict[str, Any]:
    found: dict[str, Any] = api.ok("GET", f"/businesses/{business}/calendars/{calendar}")
    return found




def confirmed_uids(api: Api, business: int, calendar: int | None = None) -> set[str]:
    params: dict[str, Any] = {"start": "2020-01-01T00:00:00Z", "end": "2035-01-01T00:00:00Z",
                              "status": "confirmed"}
    if calendar is not None:
        params["calendar_id"] = calendar
    return {b["uid"] for b in iter_pages(api, f"/businesses/{business}/bookings", params)}


def blocked_uids(api: Api, business: int, calendar: int | None = None) -> set[str]:
    params = {"calendar_id": calendar} if calendar is not None else {}
    page = api.ok("GET", f"/businesses/{business}/blocked-times", params=params)
    return {item["uid"] for item in page["items"]}


def api_instant(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value).astimezone(UTC)


def iana_instant(local: dt.datetime, tzid: str) -> dt.datetime:
    return local.replace(tzinfo=ZoneInfo(tzid), fold=0).astimezone(UTC)


# --- CalDAV helpers -----------------------------------------------------------------------


def dav_client(link: dict[str, Any], username: str | None = None) -> Any:
    account = link["caldav"]
    return caldav.DAVClient(url=account["server"], username=username or account["username"],
                            password=account["password"])


def path_of(url: Any) -> str:
    return unquote(urlsplit(str(url)).path)


@dataclass
class Entry:
    """One <D:response> of a multistatus: its own status (404 for a missing member) or the
    properties found (200) and not found."""

    status: int | None
    found: dict[str, ET.Element] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)


@dataclass
class Multistatus:
    entries: dict[str, Entry]
    sync_token: str | None
    raw: bytes


def status_code(line: str | None) -> int | None:
    if not line:
        return None
    match = re.match(r"HTTP/\d\.\d (\d{3})", line.strip())
    assert match, line
    return int(match.group(1))


def multistatus(response: requests.Response) -> Multistatus:
    assert response.status_code == 207, (response.status_code, response.text[:500])
    assert response.headers["Content-Type"].startswith(("text/xml", "application/xml"))
    root = ET.fromstring(response.content)
    assert root.tag == D + "multistatus", root.tag
    entries: dict[str, Entry] = {}
    for element in root.findall(D + "response"):
        hrefs = [unquote(h.text or "") for h in element.findall(D + "href")]
        assert len(hrefs) == 1, hrefs
        entry = Entry(status_code(element.findtext(D + "status")))
        for propstat in element.findall(D + "propstat"):
            code = status_code(propstat.findtext(D + "status"))
            for prop in propstat.find(D + "prop") or []:
                if code == 200:
                    entry.found[prop.tag] = prop
                else:
                    entry.missing.add(prop.tag)
        assert hrefs[0] not in entries, f"{hrefs[0]} answered twice"
        entries[hrefs[0]] = entry
    return Multistatus(entries, root.findtext(D + "sync-token"), response.content)


def assert_valid_sync_token_error(response: requests.Response) -> None:
    """RFC 6578 3.2: 403 with the DAV:valid-sync-token precondition (never a 500)."""
    assert response.status_code == 403, (response.status_code, response.text[:300])
    root = ET.fromstring(response.content)
    assert root.tag == D + "error", response.text
    assert root.find(D + "valid-sync-token") is not None, response.text


def propfind_body(*props: str) -> str:
    inner = "".join(f"<{p}/>" for p in props)
    return (f'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" '
            f'xmlns:C="{CAL_NS}" xmlns:CS="{CS_NS}" xmlns:I="{ICAL_NS}">'
            f"<D:prop>{inner}</D:prop></D:propfind>")


def stamp(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def query_body(start: dt.datetime, end: dt.datetime, *, data: bool = True,
               expand: bool = False, etag: bool = True) -> str:
    calendar_data = ""
    if data:
        calendar_data = (f'<C:calendar-data><C:expand start="{stamp(start)}" '
                         f'end="{stamp(end)}"/></C:calendar-data>' if expand
                         else "<C:calendar-data/>")
    return (f'<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" '
            f'xmlns:C="{CAL_NS}"><D:prop>{"<D:getetag/>" if etag else ""}{calendar_data}'
            f'</D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
            f'<C:time-range start="{stamp(start)}" end="{stamp(end)}"/></C:comp-filter>'
            f"</C:comp-filter></C:filter></C:calendar-query>")


def multiget_body(hrefs: list[str]) -> str:
    inner = "".join(f"<D:href>{escape(h)}</D:href>" for h in hrefs)
    return (f'<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget xmlns:D="DAV:" '
            f'xmlns:C="{CAL_NS}"><D:prop><D:getetag/><C:calendar-data/></D:prop>{inner}'
            f"</C:calendar-multiget>")


def sync_body(token: str = "", data: bool = False) -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:" '
            f'xmlns:C="{CAL_NS}"><D:sync-token>{escape(token)}</D:sync-token>'
            f"<D:sync-level>1</D:sync-level><D:prop><D:getetag/>"
            f'{"<C:calendar-data/>" if data else ""}</D:prop></D:sync-collection>')


def freebusy_body(start: dt.datetime, end: dt.datetime) -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?><C:free-busy-query xmlns:C="{CAL_NS}">'
            f'<C:time-range start="{stamp(start)}" end="{stamp(end)}"/></C:free-busy-query>')


class Dav:
    """Raw WebDAV requests signed in as one link (Basic auth; the password is the token)."""

    def __init__(self, live: LiveServer, link: dict[str, Any], username: str | None = None,
                 password: str | None = None) -> None:
        self.base = live.url
        self.link = link
        username = link["caldav"]["username"] if username is None else username
        self.password = password if password is not None else link["caldav"]["password"]
        self.auth = (username, self.password)
        # UTF-8, as the challenge's charset asks (requests itself would send Latin-1).
        self.authorization = "Basic " + base64.b64encode(
            f"{username}:{self.password}".encode("utf-8")).decode("ascii")
        self.principal = f"/dav/{link['caldav']['username']}/"

    def calendar(self, slug: str) -> str:
        return f"{self.principal}{slug}/"

    def item(self, slug: str, uid: str) -> str:
        return f"{self.principal}{slug}/{uid}.ics"

    def request(self, method: str, path: str, body: str | bytes | None = None,
                *, auth: bool = True, **headers: str) -> requests.Response:
        url = path if path.startswith("http") else self.base + path
        data = body.encode() if isinstance(body, str) else body
        if body is not None and "Content-Type" not in headers:
            headers["Content-Type"] = "application/xml; charset=utf-8"
        if auth:
            headers = {"Authorization": self.authorization, **headers}
        return requests.request(method, url, data=data, headers={**IDENTITY, **headers},
                                timeout=30, allow_redirects=False)

    def propfind(self, path: str, *props: str, depth: str = "0",
                 **headers: str) -> requests.Response:
        return self.request("PROPFIND", path, propfind_body(*props), Depth=depth, **headers)

    def report(self, path: str, body: str, depth: str = "1") -> requests.Response:
        return self.request("REPORT", path, body, Depth=depth)

    def get(self, path: str, **headers: str) -> requests.Response:
        return self.request("GET", path, **headers)

    def etags(self, slug: str) -> dict[str, str]:
        """href -> ETag of every item of a calendar (PROPFIND, Depth 1)."""
        answer = multistatus(self.propfind(self.calendar(slug), "D:getetag", depth="1"))
        return {href: entry.found[D + "getetag"].text or "" for href, entry in
                answer.entries.items() if href != self.calendar(slug)}

    def prop(self, path: str, prop: str) -> str:
        answer = multistatus(self.propfind(path, prop))
        return answer.entries[path].found[clark(prop)].text or ""

    def sync(self, slug: str, token: str = "", data: bool = False) -> requests.Response:
        return self.report(self.calendar(slug), sync_body(token, data))


def clark(prop: str) -> str:
    """"CS:getctag" -> "{http://calendarserver.org/ns/}getctag" (the prefixes of propfind_body)."""
    prefix, _, name = prop.partition(":")
    return {"D": D, "C": C, "CS": CS, "I": I}[prefix] + name


def unfold(text: str | bytes) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return text.replace("\r\n ", "").replace("\r\n\t", "").replace("\n ", "").replace("\n\t", "")


def one_event(data: str | bytes) -> tuple[icalendar.Calendar, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(data)
    events = calendar.walk("VEVENT")
    assert len(events) == 1, data
    return calendar, events[0]


def calendar_data(entry: Entry) -> str:
    return entry.found[C + "calendar-data"].text or ""


# --- discovery ----------------------------------------------------------------------------


def test_well_known_caldav_redirects_to_the_dav_root(api: Api, live: LiveServer) -> None:
    for method in ("GET", "PROPFIND"):
        for path in ("/.well-known/caldav", "/.well-known/caldav/"):
            response = requests.request(method, live.url + path, allow_redirects=False,
                                        timeout=30)
            assert response.status_code == 301, (method, path, response.status_code)
            assert response.headers["Location"] == live.url + "/dav/"
    # The link shows the same address as its CalDAV server.
    salon = make_salon(api)
    assert make_link(api, salon.business)["caldav"]["server"] == live.url + "/dav/"


def test_discovery_of_a_calendar_link(api: Api, live: LiveServer, salon: Salon) -> None:
    coloured = add_calendar(api, salon.business, "Bo Berg", colour="#ff8800")
    book(api, salon, "2026-12-01T10:00", calendar=coloured["id"])
    link = make_link(api, salon.business, scope="calendar", calendar_ids=[coloured["id"]])
    assert link["caldav"]["username"] == f"link-{link['id']}"
    client = dav_client(link)
    principal = client.principal()
    home = f"/dav/link-{link['id']}/"
    assert path_of(principal.url) == home
    assert path_of(principal.calendar_home_set.url) == home
    calendars = principal.calendars()
    assert [path_of(c.url) for c in calendars] == [f"{home}{coloured['slug']}/"]
    calendar = calendars[0]
    assert calendar.get_display_name() == "Bo Berg"
    assert calendar.get_property(ical.CalendarColor()) == "#ff8800"
    assert calendar.get_supported_components() == ["VEVENT"]

    # The same through raw PROPFIND: the root names the principal, the principal its home.
    dav = Dav(live, link)
    root = multistatus(dav.propfind("/dav/", "D:current-user-principal"))
    assert root.entries["/dav/"].found[D + "current-user-principal"].findtext(D + "href") == home
    listing = multistatus(dav.propfind(home, "D:resourcetype", "D:displayname",
                                       "C:calendar-home-set", depth="1"))
    assert set(listing.entries) == {home, f"{home}{coloured['slug']}/"}
    assert listing.entries[home].found[C + "calendar-home-set"].findtext(D + "href") == home
    kind = listing.entries[f"{home}{coloured['slug']}/"].found[D + "resourcetype"]
    assert kind.find(C + "calendar") is not None and kind.find(D + "collection") is not None
    props = multistatus(dav.propfind(dav.calendar(coloured["slug"]), "D:displayname",
                                     "I:calendar-color", "C:supported-calendar-component-set"))
    found = props.entries[dav.calendar(coloured["slug"])].found
    assert found[D + "displayname"].text == "Bo Berg"
    assert found[I + "calendar-color"].text == "#ff8800"
    assert [c.get("name") for c in found[C + "supported-calendar-component-set"]] == ["VEVENT"]
    # Calendars outside the link's scope do not exist for it.
    assert dav.propfind(dav.calendar(calendar_of(api, salon.business, salon.calendar)["slug"]),
                        "D:displayname").status_code == 404


def test_a_set_link_lists_exactly_its_set(api: Api, live: LiveServer, salon: Salon) -> None:
    bo = add_calendar(api, salon.business, "Bo Berg")
    carl = add_calendar(api, salon.business, "Carl Dahl")
    link = make_link(api, salon.business, scope="set", calendar_ids=[salon.calendar, carl["id"]])
    calendars = dav_client(link).principal().calendars()
    assert sorted(c.get_display_name() for c in calendars) == ["Anna Berg", "Carl Dahl"]
    assert sorted(path_of(c.url).split("/")[-2] for c in calendars) == sorted(
        [calendar_of(api, salon.business, salon.calendar)["slug"], carl["slug"]])
    assert Dav(live, link).propfind(Dav(live, link).calendar(bo["slug"]),
                                    "D:displayname").status_code == 404


def test_an_all_link_follows_new_and_deactivated_calendars(api: Api, live: LiveServer,
                                                          salon: Salon) -> None:
    link = make_link(api, salon.business, scope="all")
    principal = dav_client(link).principal()
    assert [c.get_display_name() for c in principal.calendars()] == ["Anna Berg"]
    bo = add_calendar(api, salon.business, "Bo Berg")
    carl = add_calendar(api, salon.business, "Carl Dahl")
    assert sorted(c.get_display_name() for c in principal.calendars()) == [
        "Anna Berg", "Bo Berg", "Carl Dahl"]
    api.ok("PATCH", f"/businesses/{salon.business}/calendars/{bo['id']}",
           json={"active": False})
    assert sorted(c.get_display_name() for c in principal.calendars()) == [
        "Anna Berg", "Carl Dahl"]
    api.ok("DELETE", f"/businesses/{salon.business}/calendars/{carl['id']}", 204)
    assert [c.get_display_name() for c in principal.calendars()] == ["Anna Berg"]
    dav = Dav(live, link)
    assert dav.propfind(dav.calendar(bo["slug"]), "D:displayname").status_code == 404
    assert dav.propfind(dav.calendar(carl["slug"]), "D:displayname").status_code == 404


def test_the_ctag_follows_changes_and_only_changes(api: Api, live: LiveServer,
                                                   salon: Salon) -> None:
    other = add_calendar(api, salon.business, "Bo Berg")
    booking = book(api, salon, "2026-12-01T10:00")
    link = make_link(api, salon.business)
    dav = Dav(live, link)
    path = dav.calendar(calendar_of(api, salon.business, salon.calendar)["slug"])
    first = dav.prop(path, "CS:getctag")
    assert first
    dav.get(dav.item(path.split("/")[-2], booking["uid"]))
    dav.report(path, sync_body())
    assert dav.prop(path, "CS:getctag") == first
    # A later request records the link's use (a write) without changing what it shows.
    live.clock.advance(dt.timedelta(minutes=10))
    assert dav.prop(path, "CS:getctag") == first
    # A change in another calendar leaves this calendar's ctag alone.
    book(api, salon, "2026-12-01T10:00", calendar=other["id"])
    assert dav.prop(path, "CS:getctag") == first
    api.ok("PATCH", f"/businesses/{salon.business}/bookings/{booking['id']}",
           json={"start": "2026-12-01T14:00"})
    second = dav.prop(path, "CS:getctag")
    assert second != first
    assert dav.prop(path, "CS:getctag") == second
    api.ok("POST", f"/businesses/{salon.business}/bookings/{booking['id']}/cancel")
    assert dav.prop(path, "CS:getctag") not in (first, second)


# --- items --------------------------------------------------------------------------------


def test_events_are_the_bookings_and_blocked_time_of_the_api(api: Api, live: LiveServer,
                                                             salon: Salon) -> None:
    kept = [book(api, salon, "2026-12-01T10:00", client_id=salon.client, notes="First"),
            book(api, salon, "2026-12-02T11:00")]
    cancelled = book(api, salon, "2026-12-03T10:00")
    api.ok("POST", f"/businesses/{salon.business}/bookings/{cancelled['id']}/cancel")
    born_cancelled = book(api, salon, "2026-12-04T10:00", status="cancelled")
    blocked = [block(api, salon, title="Lunch", start="2026-12-07T12:00",
                     end="2026-12-07T13:00", rrule="FREQ=WEEKLY;BYDAY=MO"),
               block(api, salon, title="Holiday", all_day=True, start="2026-12-24",
                     end="2026-12-27"),
               block(api, salon, title="Dentist", start="2026-12-09T08:00",
                     end="2026-12-09T09:00")]
    link = make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar])
    calendar = dav_client(link).principal().calendars()[0]
    events = calendar.events()
    expected = confirmed_uids(api, salon.business) | blocked_uids(api, salon.business)
    assert expected == {b["uid"] for b in kept} | {b["uid"] for b in blocked}
    found: dict[str, Any] = {}
    for event in events:
        parsed, vevent = one_event(event.data)
        uid = str(vevent["UID"])
        assert uid not in found, "UIDs are unique"
        found[uid] = event
        assert path_of(event.url).endswith(f"/{uid}.ics")
        # Every TZID used has its VTIMEZONE in the same document.
        zones = {str(z["TZID"]) for z in parsed.walk("VTIMEZONE")}
        used = set(re.findall(r";TZID=([^:;]+)", unfold(event.data)))
        assert used <= zones, (used, zones)
        # vobject reads the same document.
        read = vobject.readOne(event.data)
        assert read.name == "VCALENDAR"
        assert [v.uid.value for v in read.vevent_list] == [uid]
    assert set(found) == expected
    assert cancelled["uid"] not in found and born_cancelled["uid"] not in found
    lunch = one_event(found[blocked[0]["uid"]].data)[1]
    assert lunch["RRULE"].to_ical().decode() == "FREQ=WEEKLY;BYDAY=MO"
    holiday = one_event(found[blocked[1]["uid"]].data)[1]
    assert holiday["DTSTART"].dt == dt.date(2026, 12, 24)
    first = one_event(found[kept[0]["uid"]].data)[1]
    assert first["DTSTART"].dt.astimezone(UTC) == api_instant(kept[0]["start"])


def test_item_etags_are_stable_and_follow_the_booking(api: Api, live: LiveServer,
                                                      salon: Salon) -> None:
    moved = book(api, salon, "2026-12-01T10:00")
    kept = book(api, salon, "2026-12-02T10:00")
    lunch = block(api, salon, title="Lunch", start="2026-12-02T12:00", end="2026-12-02T13:00")
    link = make_link(api, salon.business)
    dav = Dav(live, link)
    slug = calendar_of(api, salon.business, salon.calendar)["slug"]
    before = dav.etags(slug)
    assert set(before) == {dav.item(slug, x["uid"]) for x in (moved, kept, lunch)}
    assert all(re.fullmatch(r'"[0-9a-f]{20}-[0-9]+"', tag) for tag in before.values()), before
    assert len(set(before.values())) == 3
    assert dav.etags(slug) == before
    for href, etag in before.items():
        for _ in range(2):
            response = dav.get(href)
            assert response.status_code == 200, response.text
            assert response.headers["Content-Type"].startswith("text/calendar")
            assert response.headers["ETag"] == etag
        assert dav.request("HEAD", href).headers["ETag"] == etag
    # multiget agrees too
    answer = multistatus(dav.report(dav.calendar(slug), multiget_body(list(before))))
    assert {h: e.found[D + "getetag"].text for h, e in answer.entries.items()} == before

    api.ok("PATCH", f"/businesses/{salon.business}/bookings/{moved['id']}",
           json={"start": "2026-12-01T15:00"})
    after = dav.etags(slug)
    moved_href = dav.item(slug, moved["uid"])
    assert after[moved_href] != before[moved_href]
    assert dav.get(moved_href).headers["ETag"] == after[moved_href]
    assert {h: t for h, t in after.items() if h != moved_href} == {
        h: t for h, t in before.items() if h != moved_href}
    api.ok("PATCH", f"/businesses/{salon.business}/blocked-times/{lunch['id']}",
           json={"title": "Long lunch"})
    assert dav.etags(slug)[dav.item(slug, lunch["uid"])] != before[dav.item(slug, lunch["uid"])]
    # A cancelled booking is gone from the calendar: GET answers 404.
    api.ok("POST", f"/businesses/{salon.business}/bookings/{kept['id']}/cancel")
    assert dav.get(dav.item(slug, kept["uid"])).status_code == 404
    assert dav.item(slug, kept["uid"]) not in dav.etags(slug)


# --- time-range queries -------------------------------------------------------------------


@dataclass
class Week:
    """Bookings at 10:00 Copenhagen time on 2026-12-01..05, a daily lunch since 2026-11-28,
    a weekly Monday meeting (no occurrence on Wednesday 12-02), one-off blocked time on 12-04."""

    bookings: dict[int, dict[str, Any]]
    lunch: dict[str, Any]
    mondays: dict[str, Any]
    dentist: dict[str, Any]
    cancelled: dict[str, Any]
    link: dict[str, Any]
    slug: str


def make_week(api: Api, salon: Salon) -> Week:
    bookings = {day: book(api, salon, f"2026-12-{day:02d}T10:00", client_id=salon.client)
                for day in range(1, 6)}
    cancelled = book(api, salon, "2026-12-02T15:00")
    api.ok("POST", f"/businesses/{salon.business}/bookings/{cancelled['id']}/cancel")
    lunch = block(api, salon, title="Lunch", start="2026-11-28T12:00", end="2026-11-28T12:30",
                  rrule="FREQ=DAILY")
    mondays = block(api, salon, title="Team", start="2026-11-23T08:00", end="2026-11-23T09:00",
                    rrule="FREQ=WEEKLY;BYDAY=MO")
    dentist = block(api, salon, title="Dentist", start="2026-12-04T14:00",
                    end="2026-12-04T15:00")
    link = make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar])
    return Week(bookings, lunch, mondays, dentist, cancelled, link,
                calendar_of(api, salon.business, salon.calendar)["slug"])


WED = (dt.datetime(2026, 12, 2, tzinfo=UTC), dt.datetime(2026, 12, 3, tzinfo=UTC))


def test_a_time_range_search_returns_exactly_the_items_in_range(api: Api, live: LiveServer,
                                                                 salon: Salon) -> None:
    week = make_week(api, salon)
    calendar = dav_client(week.link).principal().calendars()[0]
    found = calendar.search(start=WED[0], end=WED[1], event=True, expand=False,
                            post_filter=False)
    uids = [str(one_event(item.data)[1]["UID"]) for item in found]
    assert sorted(uids) == sorted([week.bookings[2]["uid"], week.lunch["uid"]])
    # The series comes whole (not expanded), its first occurrence before the range.
    lunch = next(one_event(item.data)[1] for item in found
                 if str(one_event(item.data)[1]["UID"]) == week.lunch["uid"])
    assert "RRULE" in lunch and lunch["DTSTART"].dt.date() == dt.date(2026, 11, 28)

    # Another day: Monday 2026-11-30 has no booking but the weekly meeting and the lunch.
    monday = calendar.search(start=dt.datetime(2026, 11, 30, tzinfo=UTC),
                             end=dt.datetime(2026, 12, 1, tzinfo=UTC), event=True,
                             expand=False, post_filter=False)
    assert sorted(str(one_event(i.data)[1]["UID"]) for i in monday) == sorted(
        [week.lunch["uid"], week.mondays["uid"]])
    # A range before anything began is empty.
    assert calendar.search(start=dt.datetime(2026, 11, 1, tzinfo=UTC),
                           end=dt.datetime(2026, 11, 2, tzinfo=UTC), event=True,
                           expand=False, post_filter=False) == []

    # The raw REPORT agrees, with ETags equal to PROPFIND's.
    dav = Dav(live, week.link)
    answer = multistatus(dav.report(dav.calendar(week.slug), query_body(*WED)))
    assert set(answer.entries) == {dav.item(week.slug, week.bookings[2]["uid"]),
                                   dav.item(week.slug, week.lunch["uid"])}
    etags = dav.etags(week.slug)
    for href, entry in answer.entries.items():
        assert entry.found[D + "getetag"].text == etags[href]
        one_event(calendar_data(entry))
    # Ranges given in other shapes: two days, and a range ending exactly at a booking's start.
    two = multistatus(dav.report(dav.calendar(week.slug), query_body(
        dt.datetime(2026, 12, 3, tzinfo=UTC), dt.datetime(2026, 12, 5, tzinfo=UTC))))
    assert set(two.entries) == {dav.item(week.slug, x["uid"]) for x in (
        week.bookings[3], week.bookings[4], week.lunch, week.dentist)}
    edge = multistatus(dav.report(dav.calendar(week.slug), query_body(
        dt.datetime(2026, 12, 3, 8, 0, tzinfo=UTC), dt.datetime(2026, 12, 3, 9, 0, tzinfo=UTC))))
    assert set(edge.entries) == set(), "the 10:00 (09:00Z) booking starts at the range's end"


def expanded_vevents(text: str) -> list[icalendar.Event]:
    return list(icalendar.Calendar.from_ical(text).walk("VEVENT"))


def test_a_raw_expanded_query_returns_the_occurrences_in_range(api: Api, live: LiveServer,
                                                               salon: Salon) -> None:
    week = make_week(api, salon)
    dav = Dav(live, week.link)
    response = dav.report(dav.calendar(week.slug), query_body(*WED, expand=True, etag=False))
    answer = multistatus(response)
    assert set(answer.entries) == {dav.item(week.slug, week.bookings[2]["uid"]),
                                   dav.item(week.slug, week.lunch["uid"])}
    lunch = expanded_vevents(calendar_data(answer.entries[dav.item(week.slug,
                                                                    week.lunch["uid"])]))
    assert len(lunch) == 1
    occurrence = lunch[0]
    assert "RRULE" not in occurrence
    assert occurrence["RECURRENCE-ID"].dt.astimezone(UTC) == dt.datetime(2026, 12, 2, 11, 0,
                                                                          tzinfo=UTC)
    assert occurrence["DTSTART"].dt.astimezone(UTC) == dt.datetime(2026, 12, 2, 11, 0,
                                                                   tzinfo=UTC)
    assert occurrence["DTEND"].dt.astimezone(UTC) == dt.datetime(2026, 12, 2, 11, 30,
                                                                 tzinfo=UTC)
    booking = expanded_vevents(calendar_data(answer.entries[dav.item(
        week.slug, week.bookings[2]["uid"])]))
    assert [b["DTSTART"].dt.astimezone(UTC) for b in booking] == [
        api_instant(week.bookings[2]["start"])]
    # Three days: three lunches, each inside the range.
    three = multistatus(dav.report(dav.calendar(week.slug), query_body(
        dt.datetime(2026, 12, 1, tzinfo=UTC), dt.datetime(2026, 12, 4, tzinfo=UTC),
        expand=True, etag=False)))
    lunches = expanded_vevents(calendar_data(three.entries[dav.item(week.slug,
                                                                     week.lunch["uid"])]))
    assert sorted(v["DTSTART"].dt.astimezone(UTC).day for v in lunches) == [1, 2, 3]


def test_expanded_search_through_the_library_and_with_etags(api: Api, live: LiveServer,
                                                            salon: Salon) -> None:
    """What CalDAV clients send: <D:getetag/> together with <C:calendar-data><C:expand/>.
    A repeating blocked time in range must expand, not fail the whole REPORT."""
    week = make_week(api, salon)
    dav = Dav(live, week.link)
    response = dav.report(dav.calendar(week.slug), query_body(*WED, expand=True, etag=True))
    assert response.status_code == 207, (response.status_code, response.text[:300])
    answer = multistatus(response)
    lunch_href = dav.item(week.slug, week.lunch["uid"])
    assert set(answer.entries) == {dav.item(week.slug, week.bookings[2]["uid"]), lunch_href}
    assert answer.entries[lunch_href].found[D + "getetag"].text == dav.etags(week.slug)[lunch_href]
    assert len(expanded_vevents(calendar_data(answer.entries[lunch_href]))) == 1

    calendar = dav_client(week.link).principal().calendars()[0]
    found = calendar.search(start=WED[0], end=WED[1], event=True, expand=True,
                            server_expand=True)
    starts = sorted((str(item.icalendar_component["UID"]),
                     item.icalendar_component["DTSTART"].dt.astimezone(UTC)) for item in found)
    assert starts == sorted([(week.bookings[2]["uid"], api_instant(week.bookings[2]["start"])),
                             (week.lunch["uid"], dt.datetime(2026, 12, 2, 11, tzinfo=UTC))])


# --- sync-collection ----------------------------------------------------------------------


def test_sync_tokens_report_changes_and_deletions(api: Api, live: LiveServer,
                                                  salon: Salon) -> None:
    base = f"/businesses/{salon.business}"
    kept = book(api, salon, "2026-12-01T10:00")
    changed = book(api, salon, "2026-12-02T10:00")
    cancelled = book(api, salon, "2026-12-03T10:00")
    deleted = book(api, salon, "2026-12-04T10:00")
    lunch = block(api, salon, title="Lunch", start="2026-12-01T12:00", end="2026-12-01T13:00")
    gone_block = block(api, salon, title="Gone", start="2026-12-05T12:00",
                       end="2026-12-05T13:00")
    link = make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar])
    dav = Dav(live, link)
    slug = calendar_of(api, salon.business, salon.calendar)["slug"]
    href = {x["uid"]: dav.item(slug, x["uid"]) for x in (kept, changed, cancelled, deleted,
                                                         lunch, gone_block)}
    calendar = dav_client(link).principal().calendars()[0]

    # The first sync of a calendar nobody has read yet (every item rendered for the first
    # time), raw: every member with its ETag, and the token PROPFIND shows.
    first = dav.sync(slug)
    assert first.status_code == 207, (first.status_code, first.text[:200])
    assert set(multistatus(first).entries) == set(href.values())
    assert multistatus(first).sync_token == token_of(dav, slug)

    initial = calendar.objects_by_sync_token(load_objects=True)
    assert initial.sync_token and str(initial.sync_token).startswith(
        "http://bookingcal.invalid/ns/sync/")
    # The CalDAV token carries the calendar's journal position, as the API shows it.
    assert str(initial.sync_token).endswith(
        "/" + calendar_of(api, salon.business, salon.calendar)["sync_token"])
    assert {path_of(o.url) for o in initial} == set(href.values())
    assert not initial.deleted_urls
    for obj in initial:
        assert one_event(obj.data)[1]["UID"] in href

    api.ok("PATCH", f"{base}/bookings/{changed['id']}", json={"start": "2026-12-02T16:00"})
    added = book(api, salon, "2026-12-06T10:00")
    api.ok("POST", f"{base}/bookings/{cancelled['id']}/cancel")
    api.ok("DELETE", f"{base}/bookings/{deleted['id']}", 204)
    api.ok("DELETE", f"{base}/blocked-times/{gone_block['id']}", 204)

    later = calendar.objects_by_sync_token(sync_token=initial.sync_token, load_objects=True)
    assert later.sync_token != initial.sync_token
    removed = {path_of(u) for u in later.deleted_urls}
    present = {path_of(o.url) for o in later} - removed
    assert present == {href[changed["uid"]], dav.item(slug, added["uid"])}
    assert removed == {href[cancelled["uid"]], href[deleted["uid"]], href[gone_block["uid"]]}
    for obj in later:
        if path_of(obj.url) in present:
            event = one_event(obj.data)[1]
            if str(event["UID"]) == changed["uid"]:
                assert event["DTSTART"].dt.astimezone(UTC) == dt.datetime(2026, 12, 2, 15,
                                                                          tzinfo=UTC)

    # The raw REPORT: changed members with their ETag, removed ones as a bare 404.
    raw = multistatus(dav.sync(slug, str(initial.sync_token)))
    assert raw.sync_token == later.sync_token
    assert {h for h, e in raw.entries.items() if e.status == 404} == removed
    changed_entries = {h: e for h, e in raw.entries.items() if e.status is None}
    assert set(changed_entries) == present
    etags = dav.etags(slug)
    for h, entry in changed_entries.items():
        assert entry.found[D + "getetag"].text == etags[h]
    for h in removed:
        assert not raw.entries[h].found

    # Nothing changed since: an empty answer with the same token.
    again = calendar.objects_by_sync_token(sync_token=later.sync_token, load_objects=True)
    assert list(again) == [] and not again.deleted_urls
    assert again.sync_token == later.sync_token
    # The new token works repeatedly and the initial one still answers the same.
    assert multistatus(dav.sync(slug, str(initial.sync_token))).entries.keys() == \
        raw.entries.keys()


def token_of(dav: Dav, slug: str) -> str:
    """The calendar's current sync token, as clients read it (PROPFIND DAV:sync-token)."""
    token = dav.prop(dav.calendar(slug), "D:sync-token")
    assert token.startswith("http://bookingcal.invalid/ns/sync/"), token
    return token


def test_unknown_foreign_and_malformed_sync_tokens_are_refused(api: Api, live: LiveServer,
                                                               salon: Salon) -> None:
    other = add_calendar(api, salon.business, "Bo Berg")
    book(api, salon, "2026-12-01T10:00")
    book(api, salon, "2026-12-01T10:00", calendar=other["id"])
    link = make_link(api, salon.business)
    second_link = make_link(api, salon.business)
    dav, second = Dav(live, link), Dav(live, second_link)
    anna = calendar_of(api, salon.business, salon.calendar)["slug"]
    token = token_of(dav, anna)
    prefix, _, position = token.rpartition("/")
    epoch, _, seq = position.rpartition("-")
    refused = {
        "bogus": "bogus",
        "a URL of ours without a position": prefix + "/",
        "garbage position": prefix + "/zzz",
        "another epoch": f"{prefix}/0123456789ab-{seq}",
        "a position ahead": f"{prefix}/{epoch}-{int(seq) + 1000}",
        "negative position": f"{prefix}/{epoch}--1",
        "another calendar's token": token_of(dav, other["slug"]),
        "another link's token": token_of(second, anna),
        "very long": prefix + "/" + "9" * 5000,
        "non-ASCII": prefix + "/épøch-1",
    }
    for name, bad in refused.items():
        response = dav.sync(anna, bad)
        assert response.status_code != 500, name
        assert_valid_sync_token_error(response)
    # The library falls back to a full listing on the precondition (what clients do).
    calendar = next(c for c in dav_client(link).principal().calendars()
                    if path_of(c.url) == dav.calendar(anna))
    with pytest.raises(dav_error.DAVError):
        calendar.objects_by_sync_token(sync_token=refused["another calendar's token"],
                                       disable_fallback=True)
    # The token itself still works.
    assert multistatus(dav.sync(anna, token)).entries == {}


def test_a_token_from_before_a_journal_prune_is_refused(api: Api, live: LiveServer,
                                                        salon: Salon) -> None:
    booking = book(api, salon, "2026-12-01T10:00")
    link = make_link(api, salon.business)
    dav = Dav(live, link)
    slug = calendar_of(api, salon.business, salon.calendar)["slug"]
    old = token_of(dav, slug)
    api.ok("PATCH", f"/businesses/{salon.business}/bookings/{booking['id']}",
           json={"notes": "changed"})
    current = token_of(dav, slug)
    assert current != old
    assert set(multistatus(dav.sync(slug, old)).entries) == {dav.item(slug, booking["uid"])}
    with live.runtime.db.write() as session:
        removed = journal.prune(session, NOW + dt.timedelta(days=400), retention_days=1)
    assert removed > 0
    assert_valid_sync_token_error(dav.sync(slug, old))
    # The newest position survives the prune.
    assert multistatus(dav.sync(slug, current)).entries == {}
    assert token_of(dav, slug) == current


def test_a_profile_change_forces_a_resync(api: Api, live: LiveServer, salon: Salon) -> None:
    book(api, salon, "2026-12-01T10:00", client_id=salon.client)
    link = make_link(api, salon.business, profile="full")
    dav = Dav(live, link)
    slug = calendar_of(api, salon.business, salon.calendar)["slug"]
    old = token_of(dav, slug)
    etags = dav.etags(slug)
    live.clock.advance(dt.timedelta(minutes=1))
    api.ok("PATCH", f"/businesses/{salon.business}/links/{link['id']}",
           json={"profile": "limited"})
    assert_valid_sync_token_error(dav.sync(slug, old))
    fresh = token_of(dav, slug)
    assert fresh != old
    assert multistatus(dav.sync(slug, fresh)).entries == {}
    assert set(dav.etags(slug).values()).isdisjoint(etags.values())
    # A rotation is a new link version too.
    live.clock.advance(dt.timedelta(minutes=1))
    rotated = api.ok("POST", f"/businesses/{salon.business}/links/{link['id']}/rotate")
    assert_valid_sync_token_error(Dav(live, rotated).sync(slug, fresh))


def test_a_profile_change_in_the_same_second_still_forces_a_resync(
        api: Api, live: LiveServer, salon: Salon) -> None:
    """The clock stands still: the profile changes within the second the token was handed
    out. A client holding the 'full' token must not be told that nothing changed, or it keeps
    the client data the link no longer shows."""
    book(api, salon, "2026-12-01T10:00", client_id=salon.client)
    link = make_link(api, salon.business, profile="full")
    dav = Dav(live, link)
    slug = calendar_of(api, salon.business, salon.calendar)["slug"]
    old = token_of(dav, slug)
    api.ok("PATCH", f"/businesses/{salon.business}/links/{link['id']}",
           json={"profile": "limited"})
    response = dav.sync(slug, old)
    assert response.status_code == 403, (
        "a token handed out under the 'full' profile is still accepted after the change to "
        f"'limited' (answered {response.status_code}: {response.text[:200]})")
    assert_valid_sync_token_error(response)


# --- multiget and free-busy ---------------------------------------------------------------


def test_multiget_answers_404_for_an_unknown_href(api: Api, live: LiveServer,
                                                  salon: Salon) -> None:
    booking = book(api, salon, "2026-12-01T10:00")
    lunch = block(api, salon, title="Lunch", start="2026-12-01T12:00", end="2026-12-01T13:00")
    cancelled = book(api, salon, "2026-12-02T10:00")
    api.ok("POST", f"/businesses/{salon.business}/bookings/{cancelled['id']}/cancel")
    link = make_link(api, salon.business)
    dav = Dav(live, link)
    slug = calendar_of(api, salon.business, salon.calendar)["slug"]
    hrefs = [dav.item(slug, booking["uid"]), dav.item(slug, lunch["uid"]),
             dav.item(slug, "00000000-0000-0000-0000-000000000000")]
    answer = multistatus(dav.report(dav.calendar(slug), multiget_body(hrefs)))
    assert set(answer.entries) == set(hrefs)
    assert answer.entries[hrefs[2]].status == 404 and not answer.entries[hrefs[2]].found
    etags = dav.etags(slug)
    for h, item in zip(hrefs[:2], (booking, lunch)):
        entry = answer.entries[h]
        assert entry.status is None
        assert str(one_event(calendar_data(entry))[1]["UID"]) == item["uid"]
        assert entry.found[D + "getetag"].text == etags[h]
    # A cancelled booking's href is unknown as well.
    gone = multistatus(dav.report(dav.calendar(slug), multiget_body(
        [dav.item(slug, cancelled["uid"])])))
    assert gone.entries[dav.item(slug, cancelled["uid"])].status == 404


def test_free_busy_query_lists_the_bookings(api: Api, live: LiveServer, salon: Salon) -> None:
    inside = [book(api, salon, "2026-12-01T10:00"), book(api, salon, "2026-12-02T14:00")]
    outside = book(api, salon, "2026-12-05T10:00")
    cancelled = book(api, salon, "2026-12-01T16:00")
    api.ok("POST", f"/businesses/{salon.business}/bookings/{cancelled['id']}/cancel")
    link = make_link(api, salon.business, profile="busy")
    dav = Dav(live, link)
    slug = calendar_of(api, salon.business, salon.calendar)["slug"]
    start, end = dt.datetime(2026, 12, 1, tzinfo=UTC), dt.datetime(2026, 12, 3, tzinfo=UTC)
    response = dav.report(dav.calendar(slug), freebusy_body(start, end))
    assert response.status_code == 200, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("text/calendar")
    parsed = icalendar.Calendar.from_ical(response.content)
    (freebusy,) = parsed.walk("VFREEBUSY")
    assert freebusy["DTSTART"].dt == start and freebusy["DTEND"].dt == end
    for line in unfold(response.content).splitlines():
        if line.startswith("FREEBUSY"):
            assert "FBTYPE=BUSY" in line.partition(":")[0] or "FBTYPE" not in line, line
    periods = freebusy_periods(response.content)
    expected = {(api_instant(b["start"]), api_instant(b["end"])) for b in inside}
    assert periods == expected
    assert (api_instant(outside["start"]), api_instant(outside["end"])) not in periods


# --- DST ----------------------------------------------------------------------------------

CHANGES = [dt.date(2027, 3, 14), dt.date(2027, 3, 28), dt.date(2027, 10, 31),
           dt.date(2027, 11, 7)]
DST_DAYS = [day + dt.timedelta(days=d) for day in CHANGES for d in (-1, 0, 1)]
ACROSS = {CPH: [("2027-03-28T01:30", "2027-03-28T04:00"), ("2027-10-31T01:30", "2027-10-31T04:00")],
          NYC: [("2027-03-14T00:30", "2027-03-14T04:00"), ("2027-11-07T00:30", "2027-11-07T03:00")]}


def test_times_across_dst_changes_through_each_items_own_vtimezone(api: Api,
                                                                    live: LiveServer) -> None:
    salon = make_salon(api, tz=CPH)
    calendars = {CPH: add_calendar(api, salon.business, "Copenhagen", CPH),
                 NYC: add_calendar(api, salon.business, "New York", NYC)}
    expected: dict[str, tuple[str, dt.datetime, dt.datetime]] = {}
    for tzid, calendar in calendars.items():
        wanted: list[tuple[dt.datetime, dt.datetime | None]] = [
            (dt.datetime.combine(day, dt.time(10)), None) for day in DST_DAYS]
        wanted += [(dt.datetime.fromisoformat(s), dt.datetime.fromisoformat(e))
                   for s, e in ACROSS[tzid]]
        for start, end in wanted:
            booking = book(api, salon, start.isoformat(), calendar=calendar["id"],
                           **({"end": end.isoformat()} if end else {}))
            assert api_instant(booking["start"]) == iana_instant(start, tzid)
            expected[booking["uid"]] = (tzid, api_instant(booking["start"]),
                                        api_instant(booking["end"]))
    series = block(api, salon, calendar=calendars[NYC]["id"], title="Pickup",
                   start="2027-03-11T17:00", end="2027-03-11T18:00", rrule="FREQ=DAILY;COUNT=7")
    link = make_link(api, salon.business, scope="set",
                     calendar_ids=[c["id"] for c in calendars.values()])
    dav = Dav(live, link)
    seen: dict[str, set[dt.timedelta]] = {CPH: set(), NYC: set()}
    found: set[str] = set()
    for calendar in dav_client(link).principal().calendars():
        for event in calendar.events():
            # Each resource carries its own VTIMEZONE; read it without the tz database.
            parsed, vevent = one_event(event.data)
            uid = str(vevent["UID"])
            found.add(uid)
            zones = {str(z["TZID"]): z.to_tz(lookup_tzid=False)
                     for z in parsed.walk("VTIMEZONE")}
            tzid = vevent["DTSTART"].params["TZID"]
            assert set(zones) == {tzid}, (uid, set(zones))
            local_start = vevent["DTSTART"].dt.replace(tzinfo=None)
            local_end = vevent["DTEND"].dt.replace(tzinfo=None)
            if uid == series["uid"]:
                assert tzid == NYC
                for day in range(7):
                    local = local_start + dt.timedelta(days=day)
                    assert local.replace(tzinfo=zones[tzid]).astimezone(UTC) == \
                        iana_instant(local, NYC), local
                continue
            want_tz, start, end = expected[uid]
            assert tzid == want_tz
            assert local_start.replace(tzinfo=zones[tzid]).astimezone(UTC) == start, (uid,
                                                                                     local_start)
            assert local_end.replace(tzinfo=zones[tzid]).astimezone(UTC) == end, (uid, local_end)
            assert local_start.replace(tzinfo=ZoneInfo(tzid)).astimezone(UTC) == start
            seen[tzid].add(local_start - start.replace(tzinfo=None))
            # vobject reads this VTIMEZONE with its own code (dateutil's tzical) and agrees.
            # (Its DTSTART values use vobject's process-wide zone registry, where the first
            # VTIMEZONE seen for a TZID wins, so the item's own zone is applied by hand.)
            read = vobject.readOne(event.data)
            own = read.vtimezone.gettzinfo()
            for got, want in ((read.vevent.dtstart.value, start), (read.vevent.dtend.value, end)):
                assert got.replace(tzinfo=None).replace(tzinfo=own).astimezone(UTC) == want, uid
    assert found == set(expected) | {series["uid"]}
    assert seen == {CPH: {dt.timedelta(hours=1), dt.timedelta(hours=2)},
                    NYC: {dt.timedelta(hours=-5), dt.timedelta(hours=-4)}}
    # A GET of one item gives the same document as the REPORT did.
    uid = next(iter(expected))
    tzid = expected[uid][0]
    slug = next(c["slug"] for t, c in calendars.items() if t == tzid)
    response = dav.get(dav.item(slug, uid))
    assert response.status_code == 200
    parsed, vevent = one_event(response.content)
    zone = parsed.walk("VTIMEZONE")[0].to_tz(lookup_tzid=False)
    assert vevent["DTSTART"].dt.replace(tzinfo=None).replace(tzinfo=zone).astimezone(UTC) == \
        expected[uid][1]


def freebusy_periods(body: bytes) -> set[tuple[dt.datetime, dt.datetime]]:
    periods = set()
    for line in unfold(body).splitlines():
        if line.startswith("FREEBUSY"):
            for period in line.partition(":")[2].split(","):
                a, _, b = period.partition("/")
                periods.add((dt.datetime.strptime(a, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC),
                             dt.datetime.strptime(b, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)))
    return periods


def test_repeating_blocked_time_keeps_its_wall_clock_time_across_dst_in_reports(
        api: Api, live: LiveServer) -> None:
    """Time-range queries, free-busy and expansion of a series are computed by the CalDAV
    engine from the item's VTIMEZONE. A daily 12:00 lunch in Copenhagen and 17:00 pickup in
    New York stay at that wall-clock time in winter and summer, years after they began."""
    salon = make_salon(api, tz=CPH)
    ny = add_calendar(api, salon.business, "New York", NYC)
    cph_slug = calendar_of(api, salon.business, salon.calendar)["slug"]
    series = {
        CPH: (cph_slug, block(api, salon, title="Lunch", start="2026-12-01T12:00",
                              end="2026-12-01T12:30", rrule="FREQ=DAILY"), dt.time(12)),
        NYC: (ny["slug"], block(api, salon, calendar=ny["id"], title="Pickup",
                                start="2026-12-01T17:00", end="2026-12-01T17:30",
                                rrule="FREQ=DAILY"), dt.time(17)),
    }
    later = block(api, salon, title="Late lunch", start="2031-01-06T13:00",
                  end="2031-01-06T13:30", rrule="FREQ=DAILY")
    book(api, salon, "2026-12-02T09:00")  # an item of an earlier year in the same zone
    dav = Dav(live, make_link(api, salon.business))
    wrong: list[str] = []
    days = [dt.date(2027, 1, 15), dt.date(2027, 3, 30), dt.date(2027, 6, 1),
            dt.date(2027, 11, 15), dt.date(2028, 7, 4), dt.date(2029, 8, 1)]
    cases = [(tzid, slug, item, at, day) for tzid, (slug, item, at) in series.items()
             for day in days]
    cases += [(CPH, cph_slug, later, dt.time(13), day)
              for day in (dt.date(2031, 2, 1), dt.date(2031, 6, 2))]
    for tzid, slug, item, at, day in cases:
        local = dt.datetime.combine(day, at)
        start = iana_instant(local, tzid)
        want = (start, start + dt.timedelta(minutes=30))
        window = (dt.datetime.combine(day, dt.time(0), UTC),
                  dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), UTC))
        # Free-busy of the UTC day.
        response = dav.report(dav.calendar(slug), freebusy_body(*window))
        assert response.status_code == 200, response.text[:200]
        periods = freebusy_periods(response.content)
        if want not in periods:
            wrong.append(f"free-busy {tzid} {local}: {sorted(periods)} instead of {want}")
        # Expansion of the UTC day.
        answer = multistatus(dav.report(dav.calendar(slug), query_body(*window, expand=True,
                                                                       etag=False)))
        entry = answer.entries.get(dav.item(slug, item["uid"]))
        starts = [v["DTSTART"].dt.astimezone(UTC) for v in
                  expanded_vevents(calendar_data(entry))] if entry else []
        if starts != [start]:
            wrong.append(f"expand {tzid} {local}: {starts} instead of {start}")
        # A time-range query covering only the first quarter hour of the occurrence.
        narrow = multistatus(dav.report(dav.calendar(slug), query_body(
            start, start + dt.timedelta(minutes=15), data=False)))
        if dav.item(slug, item["uid"]) not in narrow.entries:
            wrong.append(f"time-range {tzid} {local}: not found at {start}")
    assert wrong == [], "\n".join(wrong)


# --- read-only ----------------------------------------------------------------------------

NEW_EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
             "UID:intruder-1\r\nDTSTAMP:20261124T080000Z\r\nDTSTART:20261201T100000Z\r\n"
             "DTEND:20261201T110000Z\r\nSUMMARY:Intruder\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def test_every_write_is_refused_and_changes_nothing(api: Api, live: LiveServer,
                                                    salon: Salon) -> None:
    booking = book(api, salon, "2026-12-01T10:00")
    lunch = block(api, salon, title="Lunch", start="2026-12-01T12:00", end="2026-12-01T13:00")
    link = make_link(api, salon.business)
    dav = Dav(live, link)
    slug = calendar_of(api, salon.business, salon.calendar)["slug"]
    collection, item = dav.calendar(slug), dav.item(slug, booking["uid"])
    before_api = (confirmed_uids(api, salon.business), blocked_uids(api, salon.business))
    before_token = calendar_of(api, salon.business, salon.calendar)["sync_token"]
    before_etags = dav.etags(slug)
    ctag = dav.prop(collection, "CS:getctag")
    proppatch = ('<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:">'
                 "<D:set><D:prop><D:displayname>Hacked</D:displayname></D:prop></D:set>"
                 "</D:propertyupdate>")
    mkcalendar = (f'<?xml version="1.0" encoding="utf-8"?><C:mkcalendar xmlns:D="DAV:" '
                  f'xmlns:C="{CAL_NS}"><D:set><D:prop><D:displayname>New</D:displayname>'
                  f"</D:prop></D:set></C:mkcalendar>")
    cal = "text/calendar; charset=utf-8"
    attempts: list[tuple[str, str, str | None, dict[str, str]]] = [
        ("PUT", dav.item(slug, "intruder-1"), NEW_EVENT, {"Content-Type": cal,
                                                          "If-None-Match": "*"}),
        ("PUT", dav.item(slug, "intruder-1"), NEW_EVENT, {"Content-Type": cal}),
        ("PUT", item, NEW_EVENT.replace("intruder-1", booking["uid"]),
         {"Content-Type": cal, "If-Match": before_etags[item]}),
        ("PUT", item, NEW_EVENT.replace("intruder-1", booking["uid"]), {"Content-Type": cal}),
        ("DELETE", item, None, {}),
        ("DELETE", item, None, {"If-Match": before_etags[item]}),
        ("DELETE", dav.item(slug, lunch["uid"]), None, {}),
        ("DELETE", collection, None, {}),
        ("DELETE", dav.principal, None, {}),
        ("MKCALENDAR", dav.calendar("brand-new"), mkcalendar, {}),
        ("MKCALENDAR", dav.calendar("brand-new"), None, {}),
        ("MKCALENDAR", collection, None, {}),
        ("MKCOL", dav.calendar("brand-new"), None, {}),
        ("MKCOL", dav.calendar("brand-new"), proppatch.replace("propertyupdate", "mkcol"), {}),
        ("PROPPATCH", collection, proppatch, {}),
        ("PROPPATCH", dav.principal, proppatch, {}),
        ("PROPPATCH", item, proppatch, {}),
        ("MOVE", item, None, {"Destination": live.url + dav.item(slug, "moved")}),
        ("MOVE", collection, None, {"Destination": live.url + dav.calendar("moved")}),
    ]
    answers = {}
    for method, path, body, headers in attempts:
        response = dav.request(method, path, body, **headers)
        answers[(method, path.rsplit("/dav/", 1)[1], tuple(headers))] = response.status_code
        assert "Traceback" not in response.text
    assert {k: v for k, v in answers.items() if v != 403} == {}, answers
    # COPY is no WebDAV method Radicale offers; refused either way.
    copy = dav.request("COPY", item, Destination=live.url + dav.item(slug, "copied"))
    assert copy.status_code in (403, 405), copy.status_code

    assert (confirmed_uids(api, salon.business), blocked_uids(api, salon.business)) == before_api
    assert calendar_of(api, salon.business, salon.calendar)["sync_token"] == before_token
    assert dav.etags(slug) == before_etags
    assert dav.prop(collection, "CS:getctag") == ctag
    assert dav.prop(collection, "D:displayname") == "Anna Berg"
    assert [c.get_display_name() for c in dav_client(link).principal().calendars()] == [
        "Anna Berg"]
    # The library's own write calls are refused the same way.
    calendar = dav_client(link).principal().calendars()[0]
    with pytest.raises(dav_error.DAVError):
        calendar.save_event(NEW_EVENT.replace("intruder-1", "intruder-2"))
    with pytest.raises(dav_error.DAVError):
        calendar.events()[0].delete()
    assert (confirmed_uids(api, salon.business), blocked_uids(api, salon.business)) == before_api


# --- sign-in ------------------------------------------------------------------------------


def assert_challenge(response: requests.Response) -> None:
    assert response.status_code == 401, (response.status_code, response.text[:200])
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert 'realm="' in response.headers["WWW-Authenticate"]
    assert "BEGIN:V" not in response.text and "multistatus" not in response.text


def test_missing_and_wrong_credentials_get_a_basic_challenge(api: Api, live: LiveServer,
                                                             salon: Salon) -> None:
    booking = book(api, salon, "2026-12-01T10:00")
    link = make_link(api, salon.business)
    dav = Dav(live, link)
    slug = calendar_of(api, salon.business, salon.calendar)["slug"]
    paths = ["/dav/", dav.principal, dav.calendar(slug), dav.item(slug, booking["uid"])]
    for path in paths:
        assert_challenge(dav.request("PROPFIND", path, propfind_body("D:getetag"), auth=False,
                                     Depth="1"))
        assert_challenge(dav.request("GET", path, auth=False))
        assert_challenge(dav.request("REPORT", path, sync_body(), auth=False))
    token = link["caldav"]["password"]
    wrong = [token[:-1] + ("A" if token[-1] != "A" else "B"), "bcl_" + "x" * 32, "hunter2",
             "", token + "x", token.upper()]
    for password in wrong:
        assert_challenge(Dav(live, link, password=password).propfind(dav.principal,
                                                                     "D:displayname"))
    # Other schemes carry no token.
    for header in (f"Bearer {token}", f"Basic {token}", "Basic !!!notbase64",
                   f"Digest username=\"x\", response=\"{token}\""):
        assert_challenge(dav.request("PROPFIND", dav.principal, propfind_body("D:displayname"),
                                     auth=False, Authorization=header))
    with pytest.raises(dav_error.AuthorizationError):
        caldav.DAVClient(url=link["caldav"]["server"], username=link["caldav"]["username"],
                         password=wrong[0]).principal()


def test_revoked_rotated_and_expired_links(api: Api, live: LiveServer, salon: Salon) -> None:
    base = f"/businesses/{salon.business}/links"
    revoked = make_link(api, salon.business)
    dav = Dav(live, revoked)
    assert dav.propfind(dav.principal, "D:displayname").status_code == 207
    api.ok("DELETE", f"{base}/{revoked['id']}", 204)
    assert_challenge(dav.propfind(dav.principal, "D:displayname"))

    rotated = make_link(api, salon.business)
    old = Dav(live, rotated)
    assert old.propfind(old.principal, "D:displayname").status_code == 207
    renewed = api.ok("POST", f"{base}/{rotated['id']}/rotate")
    assert renewed["caldav"]["password"] != rotated["caldav"]["password"]
    assert_challenge(old.propfind(old.principal, "D:displayname"))
    new = Dav(live, renewed)
    assert new.propfind(new.principal, "D:displayname").status_code == 207
    assert [c.get_display_name() for c in dav_client(renewed).principal().calendars()] == [
        "Anna Berg"]

    expiring = make_link(api, salon.business,
                         expires_at=(NOW + dt.timedelta(hours=1)).isoformat())
    soon = Dav(live, expiring)
    assert soon.propfind(soon.principal, "D:displayname").status_code == 207
    live.clock.advance(dt.timedelta(minutes=59))
    assert soon.propfind(soon.principal, "D:displayname").status_code == 207
    live.clock.advance(dt.timedelta(minutes=2))
    assert_challenge(soon.propfind(soon.principal, "D:displayname"))
    # The other link is unaffected by the clock.
    assert new.propfind(new.principal, "D:displayname").status_code == 207


# --- redaction ----------------------------------------------------------------------------

SECRETS = {"client name": "Xenia Markerson", "e-mail": "xenia.marker@example.org",
           "phone": "4599887766", "address": "Markerstrasse 17",
           "client notes": "AllergicToMarkers", "notes": "BookingNoteMarker",
           "location": "Markervej 9 homevisit"}


def caldav_exposure(live: LiveServer, api: Api, link: dict[str, Any], slug: str,
                    uids: list[str]) -> list[tuple[str, str]]:
    """(what, text) of every way the link's items leave over CalDAV: bodies and headers."""
    dav = Dav(live, link)
    seen: list[tuple[str, requests.Response]] = []
    for uid in uids:
        seen.append((f"GET {uid}", dav.get(dav.item(slug, uid))))
        seen.append((f"HEAD {uid}", dav.request("HEAD", dav.item(slug, uid))))
    everything = (dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2028, 1, 1, tzinfo=UTC))
    seen.append(("calendar-query", dav.report(dav.calendar(slug), query_body(*everything))))
    seen.append(("expanded query", dav.report(dav.calendar(slug), query_body(
        dt.datetime(2026, 12, 1, tzinfo=UTC), dt.datetime(2026, 12, 8, tzinfo=UTC),
        expand=True, etag=False))))
    seen.append(("multiget", dav.report(dav.calendar(slug), multiget_body(
        [dav.item(slug, uid) for uid in uids]))))
    seen.append(("sync", dav.sync(slug, data=True)))
    seen.append(("free-busy", dav.report(dav.calendar(slug), freebusy_body(*everything))))
    seen.append(("propfind", dav.propfind(dav.calendar(slug), "D:getetag", "D:displayname",
                                          "D:getcontenttype", "CS:getctag", depth="1")))
    seen.append(("allprop", dav.request("PROPFIND", dav.calendar(slug),
                                        '<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>',
                                        Depth="1")))
    texts = []
    for what, response in seen:
        assert response.status_code in (200, 207), (what, response.status_code,
                                                    response.text[:300])
        texts.append((what, unfold(response.content)))
        texts.append((what + " headers", "\n".join(f"{k}: {v}" for k, v in
                                                   response.headers.items())))
    calendar = dav_client(link).principal().calendars()[0]
    texts += [("library events()", unfold(e.data)) for e in calendar.events()]
    texts += [("library sync", unfold(o.data)) for o in
              calendar.objects_by_sync_token(load_objects=True)]
    return texts


def secret_booking(api: Api, salon: Salon) -> dict[str, Any]:
    client = api.ok("POST", f"/businesses/{salon.business}/clients", 201, json={
        "name": SECRETS["client name"], "email": SECRETS["e-mail"], "phone": SECRETS["phone"],
        "address": SECRETS["address"], "notes": SECRETS["client notes"]})
    return book(api, salon, "2026-12-01T10:00", client_id=client["id"],
                notes=SECRETS["notes"], location=SECRETS["location"])


@pytest.mark.parametrize("profile", ["limited", "busy"])
def test_limited_links_show_no_client_data_over_caldav(api: Api, live: LiveServer,
                                                       salon: Salon, profile: str) -> None:
    booking = secret_booking(api, salon)
    lunch = block(api, salon, title="Lunch", start="2026-12-02T12:00", end="2026-12-02T13:00",
                  rrule="FREQ=DAILY;COUNT=3")
    link = make_link(api, salon.business, profile=profile)
    slug = calendar_of(api, salon.business, salon.calendar)["slug"]
    texts = caldav_exposure(live, api, link, slug, [booking["uid"], lunch["uid"]])
    leaks = [(what, name) for what, text in texts for name, secret in SECRETS.items()
             if secret.lower() in text.lower()]
    assert leaks == []
    joined = "\n".join(text for _, text in texts)
    assert booking["uid"] in joined  # the items were there
    if profile == "limited":
        assert "Haircut" in joined and "Anna Berg" in joined
    else:
        assert "SUMMARY:Busy" in joined and "Haircut" not in joined
    assert "Lunch" not in joined.replace("Anna Berg", "")


def test_a_full_link_shows_client_data_over_caldav(api: Api, live: LiveServer,
                                                   salon: Salon) -> None:
    booking = secret_booking(api, salon)
    link = make_link(api, salon.business, profile="full")
    slug = calendar_of(api, salon.business, salon.calendar)["slug"]
    texts = dict(caldav_exposure(live, api, link, slug, [booking["uid"]]))
    for what in (f"GET {booking['uid']}", "calendar-query", "multiget", "sync",
                 "library events()"):
        missing = [name for name, secret in SECRETS.items() if secret not in texts[what]]
        assert missing == [], (what, missing)


# --- shields ------------------------------------------------------------------------------

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
              for i in range(1, 10))
    + ']><D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol9;</D:displayname></D:prop>'
      "</D:propfind>")
EXTERNAL_ENTITY = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                   '<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&xxe;</D:displayname>'
                   "</D:prop></D:propfind>")
DEEP = ('<D:propfind xmlns:D="DAV:">' + "<D:prop>" * 5000 + "</D:prop>" * 5000
        + "</D:propfind>")


def test_hostile_xml_is_refused_with_400(api: Api, live: LiveServer, salon: Salon) -> None:
    link = make_link(api, salon.business)
    dav = Dav(live, link)
    slug = calendar_of(api, salon.business, salon.calendar)["slug"]
    bodies = {"billion laughs": BILLION_LAUGHS, "external entity": EXTERNAL_ENTITY,
              "5000 deep": DEEP, "malformed": '<D:propfind xmlns:D="DAV:"><D:prop>',
              "deep report": DEEP.replace("propfind", "sync-collection")}
    for name, body in bodies.items():
        for method in ("PROPFIND", "REPORT", "PROPPATCH"):
            response = dav.request(method, dav.calendar(slug), body, Depth="1")
            assert response.status_code == 400, (name, method, response.status_code)
            assert "Traceback" not in response.text and "root:" not in response.text
            assert "lollol" not in response.text
    # Without credentials the shield answers the same (nothing reaches Radicale).
    assert dav.request("PROPFIND", dav.principal, BILLION_LAUGHS, auth=False).status_code in (
        400, 401)
    # The server is fine afterwards.
    assert dav.propfind(dav.principal, "D:displayname").status_code == 207


def test_bodies_over_the_configured_limit_get_413(tmp_path: Path, database_url: str) -> None:
    with serving(tmp_path, database_url, extra="[server]\nmax_body_bytes = 4096\n") as live:
        api = Api(live.url)
        salon = make_salon(api)
        link = make_link(api, salon.business)
        dav = Dav(live, link)
        slug = calendar_of(api, salon.business, salon.calendar)["slug"]
        small = propfind_body(*["D:getetag"] * 300)
        assert len(small) < 4096
        assert dav.request("PROPFIND", dav.calendar(slug), small, Depth="1").status_code == 207
        big = propfind_body(*["D:getetag"] * 1000)
        assert len(big) > 4096
        for method in ("PROPFIND", "REPORT", "PUT", "PROPPATCH"):
            response = dav.request(method, dav.calendar(slug), big, Depth="1")
            assert response.status_code == 413, (method, response.status_code)
            # Also before sign-in.
            assert dav.request(method, dav.calendar(slug), big, auth=False,
                               Depth="1").status_code == 413
        # A chunked body over the limit is refused too (413, or 411 without a length).
        chunked = requests.request("PROPFIND", live.url + dav.calendar(slug),
                                   data=iter([big.encode()]), auth=dav.auth, timeout=30)
        assert chunked.status_code in (411, 413), chunked.status_code


def test_proxy_headers_do_not_change_hrefs(api: Api, live: LiveServer, salon: Salon) -> None:
    booking = book(api, salon, "2026-12-01T10:00")
    link = make_link(api, salon.business)
    dav = Dav(live, link)
    slug = calendar_of(api, salon.business, salon.calendar)["slug"]
    plain = multistatus(dav.propfind(dav.calendar(slug), "D:getetag", depth="1"))
    hostile = {"X-Script-Name": "/evil", "X-Forwarded-Prefix": "/evil",
               "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https",
               "X-Forwarded-For": "203.0.113.9", "Forwarded": "host=evil.example;proto=https"}
    for name, value in hostile.items():
        answer = multistatus(dav.propfind(dav.calendar(slug), "D:getetag", depth="1",
                                          **{name: value}))
        assert set(answer.entries) == set(plain.entries), name
        assert b"evil" not in answer.raw, name
    together = dav.propfind("/dav/", "D:current-user-principal", **hostile)
    assert b"evil" not in together.content
    assert multistatus(together).entries["/dav/"].found[
        D + "current-user-principal"].findtext(D + "href") == dav.principal
    assert dav.item(slug, booking["uid"]) in plain.entries
    # The library, following hrefs from the answers, lands on the real paths.
    calendars = dav_client(link).principal().calendars()
    assert [path_of(c.url) for c in calendars] == [dav.calendar(slug)]


def test_internal_pages_and_query_strings_are_hidden(api: Api, live: LiveServer,
                                                     salon: Salon) -> None:
    booking = book(api, salon, "2026-12-01T10:00")
    link = make_link(api, salon.business)
    dav = Dav(live, link)
    slug = calendar_of(api, salon.business, salon.calendar)["slug"]
    for path in ("/dav/.web", "/dav/.web/", "/dav/.web/index.html", "/dav/.sharing/",
                 f"{dav.principal}.Radicale.props", f"{dav.calendar(slug)}.Radicale.cache/",
                 "/dav/link-1/%2eweb"):
        for auth in (True, False):
            response = dav.request("GET", path, auth=auth)
            assert response.status_code == 404, (path, auth, response.status_code)
            assert "Radicale" not in response.text
        assert dav.request("PROPFIND", path, propfind_body("D:displayname")).status_code == 404
    for path in (dav.calendar(slug), dav.item(slug, booking["uid"]), dav.principal):
        for query in ("view=freebusy", "x=1", "export"):
            response = dav.get(f"{path}?{query}")
            assert response.status_code == 400, (path, query, response.status_code)
            assert "BEGIN:VCALENDAR" not in response.text
    assert dav.get(dav.item(slug, booking["uid"])).status_code == 200


def test_failed_tokens_block_the_address_with_429(tmp_path: Path, database_url: str) -> None:
    with serving(tmp_path, database_url,
                 extra="[links]\nfailed_attempts_per_hour = 3\n") as live:
        api = Api(live.url)
        salon = make_salon(api)
        link = make_link(api, salon.business)
        dav = Dav(live, link)
        assert dav.propfind(dav.principal, "D:displayname").status_code == 207
        # Requests without credentials are only challenged, not counted.
        for _ in range(5):
            assert_challenge(dav.request("PROPFIND", dav.principal, auth=False))
        for attempt in range(3):
            bad = Dav(live, link, password=f"bcl_{attempt:032d}")
            assert_challenge(bad.propfind(bad.principal, "D:displayname"))
        blocked = Dav(live, link, password="bcl_" + "9" * 32).propfind(dav.principal,
                                                                        "D:displayname")
        assert blocked.status_code == 429
        assert int(blocked.headers["Retry-After"]) > 0
        # The right token is served from a blocked address (feed fetchers share addresses).
        assert dav.propfind(dav.principal, "D:displayname").status_code == 207
        assert_challenge(dav.request("GET", dav.principal, auth=False))
        # Feeds count against the same address, and the JSON API is not limited.
        assert requests.get(f"{live.url}/feeds/bcl_{'9' * 32}.ics",
                            timeout=30).status_code == 429
        assert requests.get(link["feed_url"], timeout=30).status_code == 200
        api.ok("GET", f"/businesses/{salon.business}/links")


# --- tenant isolation ---------------------------------------------------------------------

BRAVO = ["Bravo", "Bmarker", "bravo-secret", "bruno.bmarker"]


@dataclass
class Tenants:
    a: Salon
    b: Salon
    a_link: dict[str, Any]
    b_link: dict[str, Any]
    a_slug: str
    b_slug: str
    a_items: list[str]
    b_items: list[str]
    b_ids: dict[str, int]


def make_tenants(api: Api) -> Tenants:
    a = make_salon(api)
    a_items = [book(api, a, "2026-12-01T10:00", client_id=a.client)["uid"],
               block(api, a, title="Lunch", start="2026-12-01T12:00",
                     end="2026-12-01T13:00")["uid"]]
    b_id = api.ok("POST", "/businesses", 201, json={"name": "Bravo Barbers",
                                                    "timezone": CPH})["id"]
    base = f"/businesses/{b_id}"
    b_cal = add_calendar(api, b_id, "Bravo Chair")
    b_service = api.ok("POST", f"{base}/services", 201,
                       json={"name": "Bravo Shave", "duration_minutes": 30})["id"]
    b_client = api.ok("POST", f"{base}/clients", 201, json={
        "name": "Bruno Bmarker", "email": "bruno.bmarker@example.net",
        "notes": "bravo-secret client"})["id"]
    b = Salon(b_id, b_cal["id"], b_service, b_client)
    b_booking = book(api, b, "2026-12-01T10:00", client_id=b_client, notes="bravo-secret note",
                     location="Bravo street 1")
    b_block = block(api, b, title="Bravo break", start="2026-12-01T12:00",
                    end="2026-12-01T13:00")
    b_extra_client = api.ok("POST", f"{base}/clients", 201, json={"name": "Bravo Spare"})["id"]
    b_link = make_link(api, b_id, profile="full")
    a_link = make_link(api, a.business, profile="full")
    b_key = api.ok("POST", f"{base}/keys", 201, json={"label": "bravo"})["id"]
    return Tenants(a, b, a_link, b_link, calendar_of(api, a.business, a.calendar)["slug"],
                   b_cal["slug"], a_items, [b_booking["uid"], b_block["uid"]],
                   {"calendar_id": b_cal["id"], "service_id": b_service,
                    "client_id": b_extra_client, "booking_id": b_booking["id"],
                    "blocked_id": b_block["id"], "link_id": b_link["id"], "key_id": b_key,
                    "source_id": 1, "account_id": 1})


def assert_no_bravo(what: str, response: requests.Response, sent: tuple[str, ...] = ()) -> None:
    """None of B's markers in the body or headers, apart from hrefs the request itself named
    (a multistatus echoes them with 404)."""
    text = response.content.decode("utf-8", "replace") + "\n" + "\n".join(
        f"{k}: {v}" for k, v in response.headers.items())
    for echoed in sent:
        text = text.replace(echoed, "")
    found = [m for m in BRAVO if m.lower() in unfold(text).lower()]
    assert found == [], (what, found, response.text[:300])


def test_a_link_sees_nothing_of_another_business_over_caldav(api: Api, live: LiveServer) -> None:
    t = make_tenants(api)
    assert t.a_slug != t.b_slug
    dav = Dav(live, t.a_link)
    b_home = f"/dav/link-{t.b_link['id']}/"
    b_cal = f"{b_home}{t.b_slug}/"
    targets = [b_home, b_cal, *(f"{b_cal}{uid}.ics" for uid in t.b_items),
               dav.calendar(t.b_slug), *(dav.item(t.a_slug, uid) for uid in t.b_items),
               *(f"{dav.calendar(t.b_slug)}{uid}.ics" for uid in t.b_items)]
    everything = (dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2028, 1, 1, tzinfo=UTC))
    for path in targets:
        attempts = {
            "PROPFIND 0": dav.propfind(path, "D:displayname", "D:getetag", depth="0"),
            "PROPFIND 1": dav.propfind(path, "D:displayname", "D:getetag", depth="1"),
            "allprop": dav.request("PROPFIND", path, '<D:propfind xmlns:D="DAV:"><D:allprop/>'
                                   "</D:propfind>", Depth="1"),
            "GET": dav.get(path),
            "HEAD": dav.request("HEAD", path),
            "sync": dav.report(path, sync_body(data=True)),
            "query": dav.report(path, query_body(*everything)),
            "multiget": dav.report(path, multiget_body([f"{b_cal}{u}.ics" for u in t.b_items])),
            "free-busy": dav.report(path, freebusy_body(*everything)),
        }
        for name, response in attempts.items():
            assert response.status_code in (403, 404), (name, path, response.status_code,
                                                        response.text[:300])
            assert_no_bravo(f"{name} {path}", response)
            assert b"BEGIN:VCALENDAR" not in response.content
    # Reports on A's own calendar naming B's hrefs give nothing of B.
    own = dav.calendar(t.a_slug)
    named = [f"{b_cal}{u}.ics" for u in t.b_items] + [dav.item(t.a_slug, u) for u in t.b_items]
    answer = dav.report(own, multiget_body(named))
    assert_no_bravo("multiget on A's calendar", answer, sent=tuple(named))
    assert b"BEGIN:VCALENDAR" not in answer.content
    if answer.status_code == 207:
        assert all(not e.found for e in multistatus(answer).entries.values())
    else:
        assert answer.status_code in (403, 404), answer.status_code
    # Listing from the root shows A's principal only, and A's calendar A's items only.
    root = dav.propfind("/dav/", "D:displayname", depth="1")
    assert set(multistatus(root).entries) == {"/dav/", dav.principal}
    listing = dav.propfind(dav.principal, "D:displayname", depth="1")
    assert set(multistatus(listing).entries) == {dav.principal, own}
    assert_no_bravo("own calendar", dav.report(own, query_body(*everything)))
    mine = multistatus(dav.report(own, query_body(*everything)))
    assert set(mine.entries) == {dav.item(t.a_slug, uid) for uid in t.a_items}
    # B's link still sees B.
    b_dav = Dav(live, t.b_link)
    assert set(multistatus(b_dav.report(b_cal, query_body(*everything))).entries) == {
        f"{b_cal}{uid}.ics" for uid in t.b_items}


def test_a_feed_shows_only_its_own_business(api: Api, live: LiveServer) -> None:
    t = make_tenants(api)
    a_feed = requests.get(t.a_link["feed_url"], headers=IDENTITY, timeout=30)
    assert a_feed.status_code == 200
    assert_no_bravo("A's feed", a_feed)
    assert all(uid in a_feed.text for uid in t.a_items)
    b_feed = requests.get(t.b_link["feed_url"], headers=IDENTITY, timeout=30)
    assert "Bravo" in b_feed.text
    # A's token with B's link id in the path is no feed at all.
    crafted = t.b_link["feed_url"].replace(t.b_link["token"], t.a_link["token"])
    assert crafted == t.a_link["feed_url"]
    # A's feed token is no CalDAV password for B's principal (nor for B's user name).
    dav = Dav(live, t.b_link, password=t.a_link["caldav"]["password"])
    response = dav.propfind(dav.principal, "D:displayname", depth="1")
    assert response.status_code == 401
    assert_no_bravo("A's token on B's principal", response)


def api_rules(live: LiveServer) -> list[tuple[str, str]]:
    app = create_flask_app(live.runtime, Metrics(), FailureLimiter(100))
    rules = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and "business_id" in rule.arguments:
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                rules.append((method, rule.rule))
    return rules


def fill_path(rule: str, business: int, ids: dict[str, int]) -> str:
    values = {"business_id": business, "day": "2026-12-24", "personal_id": 1, **ids}

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"no value for <{name}> in {rule}"
        return str(values[name])

    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", one, rule)


def request_for(method: str, rule: str, b: Salon) -> dict[str, Any]:
    """A valid request for each route that takes a body or query, so that a 403 comes from the
    ownership check and not from validation. A new route must be added here."""
    tail = rule.split("<int:business_id>", 1)[1]
    bodies: dict[tuple[str, str], Any] = {
        ("PATCH", ""): {"name": "Hijacked"},
        ("POST", "/keys"): {"label": "stolen"},
        ("POST", "/calendars"): {"name": "Intruder"},
        ("PATCH", "/calendars/<int:calendar_id>"): {"name": "Intruder"},
        ("PATCH", "/calendars/<int:calendar_id>/personal-calendars/<int:personal_id>"):
            {"blocks": False},
        ("PUT", "/calendars/<int:calendar_id>/opening-hours"): {"intervals": []},
        ("PUT", "/calendars/<int:calendar_id>/opening-exceptions/<day>"): {"intervals": []},
        ("POST", "/services"): {"name": "Intruder", "duration_minutes": 30},
        ("PATCH", "/services/<int:service_id>"): {"name": "Intruder"},
        ("POST", "/clients"): {"name": "Intruder"},
        ("PATCH", "/clients/<int:client_id>"): {"name": "Intruder"},
        ("POST", "/clients/<int:client_id>/erase"): None,
        ("POST", "/bookings"): {"calendar_id": b.calendar, "service_id": b.service,
                                "start": "2026-12-10T10:00"},
        ("PATCH", "/bookings/<int:booking_id>"): {"notes": "Intruder"},
        ("POST", "/bookings/<int:booking_id>/cancel"): None,
        ("POST", "/blocked-times"): {"calendar_id": b.calendar, "start": "2026-12-10T12:00",
                                     "end": "2026-12-10T13:00"},
        ("PATCH", "/blocked-times/<int:blocked_id>"): {"title": "Intruder"},
        ("POST", "/links"): {"scope": "all", "profile": "full"},
        ("PATCH", "/links/<int:link_id>"): {"label": "Intruder"},
        ("POST", "/links/<int:link_id>/rotate"): None,
        ("POST", "/google/connect"): None,
        ("PATCH", "/google/settings"): {"direction": "both"},
        ("POST", "/microsoft/connect"): None,
        ("PATCH", "/microsoft/settings"): {"direction": "both"},
        ("POST", "/microsoft/disconnect"): {"keep_copies": False},
        ("POST", "/ics-sources"): {"calendar_id": b.calendar,
                                   "url": "https://calendar.example.com/x.ics"},
        ("POST", "/ics-sources/<int:source_id>/refresh"): None,
        ("POST", "/caldav/accounts"): {"server_url": "https://caldav.example.com/",
                                       "username": "anna@example.com", "password": "secret"},
        ("PATCH", "/caldav/accounts/<int:account_id>"): {"direction": "both"},
        ("POST", "/caldav/accounts/<int:account_id>/sync"): None,
        ("POST", "/caldav/accounts/<int:account_id>/reconnect"): {"password": "secret"},
    }
    queries: dict[tuple[str, str], dict[str, str]] = {
        ("GET", "/bookings"): {"start": "2026-01-01T00:00:00Z", "end": "2028-01-01T00:00:00Z"},
    }
    if method in ("POST", "PUT", "PATCH"):
        assert (method, tail) in bodies, f"add a valid body for {method} {rule}"
        body = bodies[(method, tail)]
        return {} if body is None else {"json": body}
    return {"params": queries[(method, tail)]} if (method, tail) in queries else {}


def test_every_business_route_refuses_another_business_key(api: Api, live: LiveServer) -> None:
    t = make_tenants(api)
    a_key = api.ok("POST", f"/businesses/{t.a.business}/keys", 201, json={"label": "A"})["key"]
    a_api = Api(live.url, key=a_key)
    b_before = {
        "business": api.ok("GET", f"/businesses/{t.b.business}"),
        "calendars": api.ok("GET", f"/businesses/{t.b.business}/calendars"),
        "bookings": confirmed_uids(api, t.b.business),
        "blocked": blocked_uids(api, t.b.business),
        "links": api.ok("GET", f"/businesses/{t.b.business}/links"),
        "keys": api.ok("GET", f"/businesses/{t.b.business}/keys"),
        "clients": api.ok("GET", f"/businesses/{t.b.business}/clients"),
        "services": api.ok("GET", f"/businesses/{t.b.business}/services"),
    }
    rules = api_rules(live)
    assert len(rules) >= 40, rules
    # Deleting last, so that every other route meets B's resources still in place.
    rules.sort(key=lambda r: (r[0] == "DELETE", r[1].count("<") == 1 and r[0] == "DELETE"))
    answers = {}
    for method, rule in rules:
        path = fill_path(rule, t.b.business, t.b_ids)
        response = a_api.request(method, live.url + path, **request_for(method, rule, t.b))
        answers[(method, rule)] = response.status_code
        assert response.status_code != 500, (method, rule, response.text)
        assert_no_bravo(f"{method} {rule}", response)
        if response.status_code == 403:
            assert_error(response, 403, "forbidden")
    assert {k: v for k, v in answers.items() if v != 403} == {}
    # Nothing of B changed, and B's link still works.
    assert {
        "business": api.ok("GET", f"/businesses/{t.b.business}"),
        "calendars": api.ok("GET", f"/businesses/{t.b.business}/calendars"),
        "bookings": confirmed_uids(api, t.b.business),
        "blocked": blocked_uids(api, t.b.business),
        "links": api.ok("GET", f"/businesses/{t.b.business}/links"),
        "keys": api.ok("GET", f"/businesses/{t.b.business}/keys"),
        "clients": api.ok("GET", f"/businesses/{t.b.business}/clients"),
        "services": api.ok("GET", f"/businesses/{t.b.business}/services"),
    } == b_before
    b_dav = Dav(live, t.b_link)
    assert b_dav.propfind(b_dav.principal, "D:displayname", depth="1").status_code == 207
    # The business-wide routes show A only; creating businesses needs the host key.
    listed = a_api.ok("GET", "/businesses")
    assert [b["id"] for b in listed["items"]] == [t.a.business]
    assert_error(a_api.post("/businesses", json={"name": "Bravo 2", "timezone": CPH}), 403,
                 "forbidden")
    # The same key and link still work on A's own resources.
    assert a_api.ok("GET", f"/businesses/{t.a.business}")["id"] == t.a.business
    assert {b["uid"] for b in a_api.ok("GET", f"/businesses/{t.a.business}/bookings", params={
        "start": "2026-01-01T00:00:00Z", "end": "2028-01-01T00:00:00Z"})["items"]} == {
        t.a_items[0]}
    a_api.ok("PATCH", f"/businesses/{t.a.business}/calendars/{t.a.calendar}",
             json={"colour": "#112233"})
    a_dav = Dav(live, t.a_link)
    assert a_dav.prop(a_dav.calendar(t.a_slug), "I:calendar-color") == "#112233"
    assert set(multistatus(a_dav.report(a_dav.calendar(t.a_slug), query_body(
        dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2028, 1, 1, tzinfo=UTC)))).entries) == {
        a_dav.item(t.a_slug, uid) for uid in t.a_items}

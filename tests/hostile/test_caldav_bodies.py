"""Issue 12, item 4: CalDAV bodies that are well-formed XML but not what the method carries get
a 400 (RFC 4918/4791) before Radicale sees them, and any exception inside Radicale becomes the
incident-id 500 of our error handler, never Radicale's page. A catalogue of such bodies, sent to
every kind of path, gets no 5xx, no hang and leaves nothing of the request in any log."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import radicale.app.propfind

from caldav_helpers import (
    CAL_NS, assert_no_secrets, capture_logs, make_world, serving, signed_in,
)
from support import book

C = f'xmlns:C="{CAL_NS}"'
D = 'xmlns:D="DAV:"'
RANGE = 'start="20261101T000000Z" end="20261231T000000Z"'
# The issue's four cases, each (method, content type, body).
ISSUE_CASES = [
    ("PROPFIND", "application/xml", '<foo xmlns="DAV:"/>'),
    ("PROPFIND", "application/xml", '<propfind xmlns="DAV:"/>'),
    ("PROPFIND", "text/plain", "<x/>"),
    ("REPORT", "application/xml", f"<C:free-busy-query {C}/>"),
]


def query(inner: str) -> str:
    return f"<C:calendar-query {D} {C}><D:prop><D:getetag/></D:prop>{inner}</C:calendar-query>"


def comp(inner: str = "") -> str:
    return (f'<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">{inner}'
            f"</C:comp-filter></C:comp-filter></C:filter>")


# Well-formed, unexpected: wrong roots, missing or extra parts, bad attribute values, foreign
# namespaces, empty elements. Each must be answered without a 5xx.
CATALOGUE = {
    "PROPFIND": [
        '<foo xmlns="DAV:"/>', '<propfind xmlns="DAV:"/>', "<x/>", "<propfind/>",
        f"<D:propfind {D}><D:prop/></D:propfind>",
        f"<D:propfind {D}><D:foo/></D:propfind>",
        f"<D:propfind {D}><D:allprop/><D:prop><D:getetag/></D:prop></D:propfind>",
        f"<D:propfind {D}><D:propname/><D:propname/></D:propfind>",
        f'<D:propfind {D}><x:y xmlns:x="urn:x"/><D:prop><D:getetag/></D:prop></D:propfind>',
        f"<D:propfind {D}><D:prop><D:prop><D:getetag/></D:prop></D:prop></D:propfind>",
        f"<D:propfind {D}><D:prop>text<D:getetag/></D:prop></D:propfind>",
        f"<D:propfind {D}><D:prop><C:calendar-data {C}/><C:nope {C}/></D:prop></D:propfind>",
        f"<D:propfind {D}><D:allprop/><D:include/></D:propfind>",
        f"<D:propfind {D}>{'<D:prop><D:getetag/></D:prop>' * 50}</D:propfind>",
        f"<D:propfind {D}><D:prop>{'<D:getetag/>' * 2000}</D:prop></D:propfind>",
        f"<C:calendar-query {C}/>",
    ],
    "REPORT": [
        f"<C:free-busy-query {C}/>",
        f"<C:free-busy-query {C}><C:time-range/></C:free-busy-query>",
        f'<C:free-busy-query {C}><C:time-range start="x" end="y"/></C:free-busy-query>',
        f'<C:free-busy-query {C}><C:time-range start="20261231T000000Z" '
        f'end="20261101T000000Z"/></C:free-busy-query>',
        f"<C:free-busy-query {C}><C:time-range {RANGE}/><C:time-range {RANGE}/>"
        "</C:free-busy-query>",
        f'<C:free-busy-query {C}><C:time-range start="00010101T000000Z" '
        f'end="99991231T235959Z"/></C:free-busy-query>',
        f"<C:calendar-query {C}/>", query(""), query("<C:filter/>"),
        query('<C:filter><C:comp-filter name="VTODO"/></C:filter>'),
        query("<C:filter><C:comp-filter/></C:filter>"),
        query(comp("<C:time-range/>")), query(comp('<C:time-range start="garbage"/>')),
        query(comp('<C:time-range start="20261301T000000Z"/>')),
        query(comp('<C:time-range start="00010101T000000Z" end="99991231T235959Z"/>')),
        query(comp("<C:prop-filter/>")), query(comp('<C:prop-filter name="SUMMARY">'
                                                    "<C:text-match>x</C:text-match>"
                                                    "</C:prop-filter>")),
        query(comp('<C:prop-filter name="SUMMARY"><C:text-match collation="nope">x'
                   "</C:text-match></C:prop-filter>")),
        query(comp('<C:prop-filter name="DTSTART"><C:param-filter/></C:prop-filter>')),
        query(comp("<C:comp-filter/>")),
        f"<C:calendar-query {D} {C}><D:prop><C:calendar-data><C:expand/></C:calendar-data>"
        f"</D:prop>{comp()}</C:calendar-query>",
        f"<C:calendar-query {D} {C}><D:prop><C:calendar-data><C:expand start="
        f'"20261101T000000Z"/></C:calendar-data></D:prop>{comp()}</C:calendar-query>',
        f"<C:calendar-query {D} {C}><D:prop><C:calendar-data><C:limit-recurrence-set/>"
        f"</C:calendar-data></D:prop>{comp()}</C:calendar-query>",
        f"<C:calendar-query {D} {C}><D:prop><C:calendar-data><C:comp name='VCALENDAR'>"
        f"<C:prop/></C:comp></C:calendar-data></D:prop>{comp()}</C:calendar-query>",
        f"<C:calendar-multiget {C}/>",
        f"<C:calendar-multiget {D} {C}><D:prop><D:getetag/></D:prop><D:href/>"
        "</C:calendar-multiget>",
        f"<C:calendar-multiget {D} {C}><D:prop><D:getetag/></D:prop>"
        "<D:href>/elsewhere/../../x.ics</D:href><D:href>http://evil.example/x</D:href>"
        "<D:href>%zz</D:href></C:calendar-multiget>",
        f"<D:sync-collection {D}/>",
        f"<D:sync-collection {D}><D:sync-token>garbage</D:sync-token></D:sync-collection>",
        f"<D:sync-collection {D}><D:sync-token/><D:sync-level>infinite</D:sync-level>"
        "<D:prop/></D:sync-collection>",
        f"<D:sync-collection {D}><D:sync-token/><D:limit><D:nresults>x</D:nresults>"
        "</D:limit><D:prop><D:getetag/></D:prop></D:sync-collection>",
        f"<D:expand-property {D}/>", f"<D:principal-property-search {D}/>",
        f"<D:principal-search-property-set {D}/>", f"<D:foo {D}/>", "<x/>",
        f"<D:propfind {D}><D:allprop/></D:propfind>",
    ],
    "PROPPATCH": [f"<D:foo {D}/>", f"<D:propertyupdate {D}/>",
                  f"<D:propertyupdate {D}><D:set><D:prop><D:displayname>x</D:displayname>"
                  "</D:prop></D:set></D:propertyupdate>"],
    "MKCALENDAR": [f"<D:foo {D}/>", f"<C:mkcalendar {C}/>"],
    "MKCOL": [f"<D:foo {D}/>", f"<D:mkcol {D}/>"],
}


def test_the_issues_bodies_get_400_before_radicale(tmp_path: Path, database_url: str) -> None:
    with serving(tmp_path, database_url) as live, capture_logs() as logs:
        world = make_world(live)
        for method, content_type, body in ISSUE_CASES:
            for path in (world.calendar, world.principal, "/dav/"):
                response = signed_in(world, method, path, body, Depth="1",
                                     **{"Content-Type": content_type})
                assert response.status_code == 400, (method, body, path,
                                                     response.status_code, response.text)
                assert "server error" not in response.text.lower()
    assert_no_secrets(logs, world.token, "Traceback", world.slug)


def test_a_catalogue_of_unexpected_bodies_gets_no_5xx(tmp_path: Path, database_url: str) -> None:
    with serving(tmp_path, database_url) as live, capture_logs() as logs:
        world = make_world(live)
        booking = book(world.api, world.salon, "2026-12-01T10:00")
        paths = ["/dav/", world.principal, world.calendar,
                 f"{world.calendar}{booking['uid']}.ics", f"{world.calendar}missing.ics"]
        for method, bodies in CATALOGUE.items():
            for body in bodies:
                for path in paths:
                    for depth in ("0", "1", "infinity"):
                        response = signed_in(world, method, path, body, Depth=depth)
                        assert response.status_code < 500, (method, body, path, depth,
                                                            response.status_code)
                        assert "server error" not in response.text.lower()
        # Nothing was held: the calendar still answers, and the API still writes.
        query_ok = signed_in(world, "REPORT", world.calendar, query(comp(
            f"<C:time-range {RANGE}/>")), Depth="1")
        assert query_ok.status_code == 207 and booking["uid"] in query_ok.text
        book(world.api, world.salon, "2026-12-02T10:00")
    assert_no_secrets(logs, world.token, "Traceback", world.slug, booking["uid"])


def test_an_exception_inside_radicale_is_our_incident_500(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault injected into Radicale (the library, not our code): whatever fails in there is
    answered with our incident id, and the log holds that id, not the path or the token."""
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("injected fault inside Radicale")

    monkeypatch.setattr(radicale.app.propfind, "xml_propfind", broken)
    with serving(tmp_path, f"sqlite:///{tmp_path}/db.sqlite3") as live, \
            capture_logs() as logs:
        world = make_world(live)
        response = signed_in(world, "PROPFIND", world.calendar,
                             f"<D:propfind {D}><D:prop><D:getetag/></D:prop></D:propfind>",
                             Depth="1")
        assert response.status_code == 500, response.text
        assert response.headers["Content-Type"].startswith("application/json")
        error = response.json()["error"]
        incident = error["details"]["incident"]
        assert re.fullmatch(r"[0-9a-f]{12}", incident)
        assert incident in error["message"]
        # The server keeps answering (no lock or context left behind).
        assert signed_in(world, "GET", f"{world.calendar}missing.ics").status_code == 404
    assert incident in logs.text()
    assert_no_secrets(logs, world.token, world.slug, "A server error occurred")

"""Issue 12, item 7: paths under /dav/ that cannot name one of our resources (a space, a
non-ASCII character, bytes that are not UTF-8, punctuation) are answered like a missing
resource, as stock Radicale does (404 to reads, 403 to writes), never 400 or 5xx, and the path
never reaches a log."""

from __future__ import annotations

from pathlib import Path

from caldav_helpers import assert_no_secrets, capture_logs, dav, make_world, serving, signed_in

MARKER = "zqpathmarker"
NAMES = [f"{MARKER}%20x.ics", f"t%C3%A4st{MARKER}.ics", f"{MARKER}%FF.ics",
         f"{MARKER}%F0%9F%93%85.ics", f"{MARKER}%09.ics", f"{MARKER}%22%27.ics",
         f"{MARKER}*.ics", f"{MARKER}:x.ics", f"{MARKER}%3Cx%3E.ics", f"{MARKER}%25.ics",
         f"{MARKER},x", f"{MARKER}%3F.ics"]
READS = ("GET", "HEAD", "PROPFIND", "REPORT")
WRITES = ("PUT", "DELETE", "PROPPATCH", "MKCALENDAR", "MKCOL", "MOVE", "COPY")
PROPFIND = '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>'
SYNC = ('<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level>'
        '<D:prop><D:getetag/></D:prop></D:sync-collection>')
EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//x//EN\r\nBEGIN:VEVENT\r\nUID:x\r\n"
         "DTSTAMP:20200101T000000Z\r\nDTSTART:20200101T000000Z\r\nEND:VEVENT\r\n"
         "END:VCALENDAR\r\n")


def body_for(method: str) -> str | None:
    return {"PROPFIND": PROPFIND, "REPORT": SYNC, "PUT": EVENT,
            "PROPPATCH": '<D:propertyupdate xmlns:D="DAV:"/>'}.get(method)


def test_paths_no_resource_can_have_are_404_or_403(tmp_path: Path, database_url: str) -> None:
    with serving(tmp_path, database_url) as live, capture_logs() as logs:
        world = make_world(live)
        places = [world.calendar, world.principal, "/dav/"]
        for place in places:
            for name in NAMES:
                path = place + name
                for method in READS + WRITES:
                    headers = {"Depth": "1"}
                    if method in ("MOVE", "COPY"):
                        headers["Destination"] = live.url + world.calendar + "x.ics"
                    if method == "PUT":
                        headers["Content-Type"] = "text/calendar"
                    response = signed_in(world, method, path, body_for(method), **headers)
                    expected = 404 if method in READS else 403
                    assert response.status_code == expected, (method, path,
                                                              response.status_code)
                    assert MARKER not in response.text
                # Without credentials: the usual challenge, as for any other path.
                assert dav(live, "GET", path).status_code == 401
        # A folder name of the same kind (with the item below it) is missing alike.
        assert signed_in(world, "GET", f"{world.principal}t%C3%A4st/x.ics").status_code == 404
        # Long and deep paths of allowed characters are missing, or another principal's (403).
        for path in (world.calendar + "a" * 8000 + ".ics", "/dav/" + "a/" * 2000,
                     world.calendar + "x/" * 500 + "y.ics", world.principal + "~@_-" * 100):
            for method in ("GET", "PROPFIND", "REPORT"):
                body = body_for(method)
                response = signed_in(world, method, path, body, Depth="1")
                assert response.status_code in (403, 404), (method, path[:40],
                                                             response.status_code)
        # The good paths still work.
        assert signed_in(world, "PROPFIND", world.calendar, PROPFIND,
                         Depth="1").status_code == 207
        assert signed_in(world, "GET", f"{world.calendar}missing.ics").status_code == 404
        assert signed_in(world, "PUT", f"{world.calendar}missing.ics", EVENT,
                         **{"Content-Type": "text/calendar"}).status_code == 403
    assert_no_secrets(logs, MARKER, world.token)

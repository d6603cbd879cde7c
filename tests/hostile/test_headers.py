"""Hostile headers on feeds and CalDAV (part of issue 12's permanent hostile-input suite): odd
Authorization, Depth, Destination, If-*, Content-Type, Accept-Encoding, Range and forwarding
headers get no 5xx and no hang, leave nothing held, and put no token or credential in a log."""

from __future__ import annotations

import base64
from pathlib import Path

import requests

from caldav_helpers import (
    HANG_SECONDS, assert_no_secrets, basic, capture_logs, dav, make_world, serving, signed_in,
)
from support import book

PROPFIND = '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>'
ODD = ["", "garbage", "-1", "0" * 500, "ä", "a\tb", "infinity, 1", "1;x", "*", ",,,",
       "W/", '"' * 50, "Sun, 99 Xyz 9999 99:99:99 GMT", "x" * 4000]


def test_odd_headers_on_feeds_get_no_5xx(tmp_path: Path, database_url: str) -> None:
    with serving(tmp_path, database_url) as live, capture_logs() as logs:
        world = make_world(live)
        book(world.api, world.salon, "2026-12-01T10:00")
        url = world.link["feed_url"]
        for name in ("If-None-Match", "If-Modified-Since", "Accept-Encoding", "Range",
                     "If-Range", "If-Match", "Authorization", "Cookie", "X-Forwarded-For",
                     "Forwarded", "X-Forwarded-Host", "X-Script-Name", "Content-Type"):
            for value in ODD:
                response = requests.get(url, headers={name: value}, timeout=HANG_SECONDS)
                assert response.status_code in (200, 304, 400, 412, 416), (
                    name, value[:20], response.status_code)
                if response.status_code == 200:
                    assert response.text.rstrip().endswith("END:VCALENDAR")
        assert requests.get(url, timeout=HANG_SECONDS).status_code == 200
    assert_no_secrets(logs, world.token, world.link["feed_url"])


def test_odd_headers_on_caldav_get_no_5xx(tmp_path: Path, database_url: str) -> None:
    with serving(tmp_path, database_url) as live, capture_logs() as logs:
        world = make_world(live)
        booking = book(world.api, world.salon, "2026-12-01T10:00")
        item = f"{world.calendar}{booking['uid']}.ics"
        token = world.token
        authorizations = [
            "Basic", "Basic ", "Basic " + "A" * 10_000, "Basic ====",
            "Basic " + base64.b64encode(b"no-colon").decode(),
            "Basic " + base64.b64encode(f"{world.user}:{token}:extra".encode()).decode(),
            "Basic " + base64.b64encode(f"{world.user}:{token}\x00".encode()).decode(),
            "Basic " + base64.b64encode(f"{world.user}:{token}".encode("utf-16")).decode(),
            "basic " + base64.b64encode(f"{world.user}:{token}".encode()).decode(),
            f"Bearer {token}", "Negotiate abc", "Basic ä", basic(world.user, token) + " x",
            basic("\u00e4" * 300, token), basic(world.user, "bcl_" + "ä" * 30)]
        for header in authorizations:
            for method, body in (("PROPFIND", PROPFIND), ("GET", None)):
                response = dav(live, method, world.calendar, body, Authorization=header,
                               Depth="1")
                assert response.status_code in (200, 207, 400, 401, 429), (
                    header[:30], method, response.status_code)
        propfind = ("PROPFIND", world.calendar, PROPFIND)
        report = ("REPORT", world.calendar, None)
        get = ("GET", item, None)
        targets = {"Depth": (propfind, report), "Destination": (("MOVE", item, None),
                                                                 ("COPY", item, None)),
                   "Overwrite": (("COPY", item, None),), "If": (("DELETE", item, None), get),
                   "If-Match": (get, ("DELETE", item, None)), "If-None-Match": (get,),
                   "If-Modified-Since": (get,), "Content-Type": (propfind, report),
                   "Accept": (get, propfind), "Accept-Encoding": (get, propfind),
                   "Prefer": (propfind,), "Brief": (propfind,), "Lock-Token": (get,),
                   "X-Forwarded-Prefix": (propfind,), "X-Script-Name": (propfind,),
                   "Origin": (("OPTIONS", world.calendar, None),)}
        for name, requests_to in targets.items():
            for value in ODD:
                for method, path, body in requests_to:
                    response = signed_in(world, method, path, body, **{name: value})
                    assert response.status_code < 500, (name, value[:20], method,
                                                        response.status_code)
        # Nothing is held: reads answer and the API writes.
        assert signed_in(world, "GET", item).status_code == 200
        book(world.api, world.salon, "2026-12-02T10:00")
    assert_no_secrets(logs, token, base64.b64encode(f"{world.user}:{token}".encode()).decode())

"""The feed's body cache and its one-query validation, over real HTTP on SQLite and PostgreSQL:
a second subscriber of the same state gets the cached gzip body (and an identity request the
same body decompressed); a booking change, a profile change, a calendar leaving the link and the
window's daily move each give a new ETag and a fresh body; a revocation is seen at once, also
when another server process (its own app, pool and cache) on the same database made it. Bodies
the cache cannot hold are still served whole. How bodies were served is read from /metrics."""

from __future__ import annotations

import datetime as dt
import gzip
import re
from pathlib import Path

import pytest
import requests

from support import Api, LiveServer, Salon, book, make_link, make_runtime, make_salon, start_server


@pytest.fixture
def api(live: LiveServer) -> Api:
    return Api(live.url)


@pytest.fixture
def salon(api: Api) -> Salon:
    return make_salon(api)


def served(live: LiveServer) -> dict[str, int]:
    """How many feed bodies this server sent from the cache (hit), rendered and cached (miss)
    or rendered without caching (uncached)."""
    text = requests.get(f"{live.url}/metrics", timeout=30).text
    found = dict.fromkeys(("hit", "miss", "uncached"), 0)
    for result, value in re.findall(r'^bookingcal_feed_bodies_total\{result="(\w+)"\} (\S+)$',
                                    text, re.MULTILINE):
        found[result] = int(float(value))
    return found


def get(url: str, encoding: str = "gzip", **headers: str) -> tuple[requests.Response, bytes]:
    """The response and its body exactly as sent (no content decoding)."""
    response = requests.get(url, headers={"Accept-Encoding": encoding, **headers}, timeout=30,
                            stream=True)
    return response, response.raw.read(decode_content=False)


def test_a_second_request_is_served_from_the_cache_until_something_changes(
        api: Api, live: LiveServer, salon: Salon) -> None:
    booking = book(api, salon, "2026-12-01T10:00", client_id=salon.client)
    link = make_link(api, salon.business)
    url = link["feed_url"]

    first, zipped = get(url)
    assert first.status_code == 200 and served(live) == {"hit": 0, "miss": 1, "uncached": 0}
    again, rezipped = get(url)
    assert again.headers["ETag"] == first.headers["ETag"] and rezipped == zipped
    plain, body = get(url, "identity")
    assert served(live) == {"hit": 2, "miss": 1, "uncached": 0}
    assert body == gzip.decompress(zipped) and b"BEGIN:VEVENT" in body
    assert int(plain.headers["Content-Length"]) == len(body)
    assert int(again.headers["Content-Length"]) == len(rezipped)
    assert "Content-Encoding" not in plain.headers and plain.headers["ETag"] != first.headers[
        "ETag"]
    assert get(url, **{"If-None-Match": first.headers["ETag"]})[0].status_code == 304

    # A booking change: new ETag, new body rendered (the old one is not served).
    live.clock.advance(dt.timedelta(minutes=10))
    api.ok("PATCH", f"/businesses/{salon.business}/bookings/{booking['id']}",
           json={"start": "2026-12-01T11:00"})
    moved, moved_body = get(url)
    assert moved.headers["ETag"] != first.headers["ETag"] and moved_body != zipped
    assert b"DTSTART;TZID=Europe/Copenhagen:20261201T110000" in gzip.decompress(moved_body)
    assert served(live)["miss"] == 2

    # The link's profile: what the body may show changed, so did the ETag.
    api.ok("PATCH", f"/businesses/{salon.business}/links/{link['id']}", json={"profile": "busy"})
    busy, busy_body = get(url)
    assert busy.headers["ETag"] != moved.headers["ETag"]
    assert b"SUMMARY:Busy" in gzip.decompress(busy_body)
    assert served(live)["miss"] == 3

    # The window's daily move, on the injected clock, without any write.
    live.clock.advance(dt.timedelta(days=1))
    tomorrow, _ = get(url)
    assert tomorrow.headers["ETag"] != busy.headers["ETag"]
    assert served(live)["miss"] == 4

    # Revoked: 404 at once, with or without the ETag it had, though its body is cached.
    api.ok("DELETE", f"/businesses/{salon.business}/links/{link['id']}", 204)
    assert get(url)[0].status_code == 404
    assert get(url, **{"If-None-Match": tomorrow.headers["ETag"]})[0].status_code == 404
    assert served(live)["hit"] == 2


def test_a_calendar_leaving_an_all_link_changes_etag_and_body(api: Api, live: LiveServer,
                                                             salon: Salon) -> None:
    ours = book(api, salon, "2026-12-01T10:00")
    other = api.ok("POST", f"/businesses/{salon.business}/calendars", 201,
                   json={"name": "Bo Lund"})["id"]
    theirs = book(api, salon, "2026-12-01T10:00", calendar=other)
    url = make_link(api, salon.business)["feed_url"]
    both, body = get(url)
    assert theirs["uid"].encode() in gzip.decompress(body)
    api.ok("PATCH", f"/businesses/{salon.business}/calendars/{other}", json={"active": False})
    one, smaller = get(url)
    assert one.headers["ETag"] != both.headers["ETag"]
    assert theirs["uid"].encode() not in gzip.decompress(smaller)
    assert ours["uid"].encode() in gzip.decompress(smaller)
    # Back again: the cached body of the one-calendar state is not served for it.
    api.ok("PATCH", f"/businesses/{salon.business}/calendars/{other}", json={"active": True})
    back, again = get(url)
    assert back.headers["ETag"] != one.headers["ETag"]
    assert theirs["uid"].encode() in gzip.decompress(again)
    if back.headers["ETag"] == both.headers["ETag"]:
        assert again == body  # a strong ETag names one exact body


def test_renaming_the_business_changes_the_etag(api: Api, live: LiveServer,
                                               salon: Salon) -> None:
    """The calendar's name in the feed (X-WR-CALNAME) is the business's for an 'all' link."""
    url = make_link(api, salon.business)["feed_url"]
    before, _ = get(url)
    api.ok("PATCH", f"/businesses/{salon.business}", json={"name": "Salon Nord"})
    after, body = get(url)
    assert after.headers["ETag"] != before.headers["ETag"]
    assert b"X-WR-CALNAME:Salon Nord" in gzip.decompress(body)


def test_another_process_revoking_or_changing_is_seen_at_once(tmp_path: Path,
                                                             database_url: str) -> None:
    """Two servers on one database, as behind a load balancer: each has its own body cache
    and connection pool; what one writes, the other's next poll sees."""
    first = start_server(make_runtime(tmp_path, database_url))
    try:
        # The same configuration and keys, its own runtime: engine, pool, app and cache.
        second = start_server(make_runtime(tmp_path, database_url))
        try:
            api_a, api_b = Api(first.url), Api(second.url)
            salon = make_salon(api_a)
            booking = book(api_a, salon, "2026-12-01T10:00")
            link = make_link(api_a, salon.business)
            path = urlpath(link["feed_url"])
            seen, _ = get(first.url + path)
            etag = seen.headers["ETag"]
            assert get(first.url + path, **{"If-None-Match": etag})[0].status_code == 304
            api_b.ok("PATCH", f"/businesses/{salon.business}/bookings/{booking['id']}",
                     json={"notes": "moved by the other process"})
            changed, _ = get(first.url + path, **{"If-None-Match": etag})
            assert changed.status_code == 200 and changed.headers["ETag"] != etag
            api_b.ok("DELETE", f"/businesses/{salon.business}/links/{link['id']}", 204)
            gone, _ = get(first.url + path, **{"If-None-Match": changed.headers["ETag"]})
            assert gone.status_code == 404
            assert get(first.url + path)[0].status_code == 404
        finally:
            second.stop()
    finally:
        first.stop()


def urlpath(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_a_feed_too_big_for_the_cache_is_served_whole(tmp_path: Path,
                                                     database_url: str) -> None:
    live = start_server(make_runtime(tmp_path, database_url,
                                     extra="[feeds]\ncache_megabytes = 0\n"))
    try:
        api = Api(live.url)
        salon = make_salon(api)
        book(api, salon, "2026-12-01T10:00")
        url = make_link(api, salon.business)["feed_url"]
        zipped_response, zipped = get(url)
        plain_response, plain = get(url, "identity")
        assert gzip.decompress(zipped) == plain and plain.count(b"BEGIN:VEVENT") == 1
        assert int(zipped_response.headers["Content-Length"]) == len(zipped)
        assert int(plain_response.headers["Content-Length"]) == len(plain)
        assert served(live) == {"hit": 0, "miss": 0, "uncached": 2}
    finally:
        live.stop()

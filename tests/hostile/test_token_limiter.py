"""Issue 12, item 10: the failed-token limiter. Feed fetchers (Google "From URL", Outlook.com)
share a few addresses among all their users, so a stale subscription must never lock out the
valid ones: a valid token is always served; a revoked or expired token (one we know) is refused
without counting; only unknown tokens count, and the window runs on the injected clock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import requests

from caldav_helpers import HANG_SECONDS, dav, make_world, serving, signed_in
from support import NOW, make_link

PROPFIND = '<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop></D:propfind>'
LIMIT = 3


def fetch(url: str) -> requests.Response:
    return requests.get(url, timeout=HANG_SECONDS, headers={"Accept-Encoding": "identity"})


def test_valid_tokens_are_served_from_an_address_that_sent_unknown_ones(
        tmp_path: Path, database_url: str) -> None:
    with serving(tmp_path, database_url,
                 extra=f"[links]\nfailed_attempts_per_hour = {LIMIT}\n") as live:
        world = make_world(live)
        unknown = [f"{live.url}/feeds/bcl_{n:032d}.ics" for n in range(LIMIT + 3)]
        for url in unknown[:LIMIT]:
            assert fetch(url).status_code == 404
        blocked = fetch(unknown[LIMIT])
        assert blocked.status_code == 429
        assert 0 < int(blocked.headers["Retry-After"]) <= 3600
        # Unknown tokens on CalDAV are refused alike, from the same count.
        assert dav(live, "PROPFIND", world.principal, PROPFIND, user=world.user,
                   password="bcl_" + "7" * 32, Depth="0").status_code == 429
        # Every valid link keeps working, on feeds and CalDAV, however often it is used.
        for _ in range(3):
            feed = fetch(world.link["feed_url"])
            assert feed.status_code == 200 and b"BEGIN:VCALENDAR" in feed.content
            assert signed_in(world, "PROPFIND", world.principal, PROPFIND,
                             Depth="0").status_code == 207
        newcomer = make_link(world.api, world.salon.business, profile="busy")
        assert fetch(newcomer["feed_url"]).status_code == 200


def test_revoked_and_expired_tokens_do_not_count(tmp_path: Path, database_url: str) -> None:
    with serving(tmp_path, database_url,
                 extra=f"[links]\nfailed_attempts_per_hour = {LIMIT}\n") as live:
        world = make_world(live)
        base = f"/businesses/{world.salon.business}/links"
        revoked = make_link(world.api, world.salon.business)
        world.api.ok("DELETE", f"{base}/{revoked['id']}", 204)
        expired = make_link(world.api, world.salon.business,
                            expires_at=(NOW + dt.timedelta(hours=1)).isoformat())
        live.clock.advance(dt.timedelta(hours=2))
        for _ in range(4 * LIMIT):
            for link in (revoked, expired):
                assert fetch(link["feed_url"]).status_code == 404
                response = dav(live, "PROPFIND", f"/dav/{link['caldav']['username']}/",
                               PROPFIND, user=link["caldav"]["username"],
                               password=link["caldav"]["password"], Depth="0")
                assert response.status_code == 401
        # Nothing was counted: the first unknown tokens are still answered 404, not 429.
        for n in range(LIMIT):
            assert fetch(f"{live.url}/feeds/bcl_{n:032d}.ics").status_code == 404
        assert fetch(f"{live.url}/feeds/bcl_{'8' * 32}.ics").status_code == 429
        # And a revoked token from the blocked address is still just "not here".
        assert fetch(revoked["feed_url"]).status_code == 404


def test_the_window_runs_on_the_injected_clock(tmp_path: Path) -> None:
    with serving(tmp_path, f"sqlite:///{tmp_path}/db.sqlite3",
                 extra=f"[links]\nfailed_attempts_per_hour = {LIMIT}\n") as live:
        for n in range(LIMIT):
            assert fetch(f"{live.url}/feeds/bcl_{n:032d}.ics").status_code == 404
        blocked = fetch(f"{live.url}/feeds/bcl_{'9' * 32}.ics")
        assert blocked.status_code == 429
        live.clock.advance(dt.timedelta(seconds=int(blocked.headers["Retry-After"]) + 1))
        assert fetch(f"{live.url}/feeds/bcl_{'9' * 32}.ics").status_code == 404

"""/api/v1/businesses/{id}/ics-sources: add a calendar link, list it with its state after the
bridge read it from a real HTTP server on loopback, refresh, remove; mistakes are 4xx with a
message naming what to change; the URL never comes back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ics_world import IcsWorld, make_ics_world, vevent
from support import Api, assert_error, start_server


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[IcsWorld]:
    with make_ics_world(tmp_path, database_url) as made:
        yield made


def test_add_list_refresh_remove(world: IcsWorld) -> None:
    live = start_server(world.runtime)
    try:
        api = Api(live.url)
        base = f"/businesses/{world.business}/ics-sources"
        world.server.put("/team.ics", "\r\n".join([
            "BEGIN:VCALENDAR", "VERSION:2.0", vevent("x", world.at(9), world.at(10)),
            "END:VCALENDAR"]))
        url = world.server.url("/team.ics?key=V3RY-SECRET")
        made = api.ok("POST", base, 201, json={"calendar_id": world.anna, "url": url,
                                                "label": "Team", "interval_seconds": 600})
        assert made["state"] == "pending" and made["host"] == "127.0.0.1"
        assert made["interval_seconds"] == 600 and "V3RY" not in str(made)
        assert len(world.engine().run_once(force_pull=True)) == 2
        listed = api.ok("GET", base, params={"calendar_id": world.anna})["items"]
        # The world's own source is not published: 404, recorded on it; the new one is read.
        assert [(item["id"], item["state"], item["events"]) for item in listed] == [
            (world.source, "stale", 0), (made["id"], "ok", 1)]
        assert "404" in listed[0]["last_error"] and listed[1]["synced_at"]
        assert "V3RY" not in str(listed)
        assert api.ok("POST", f"{base}/{made['id']}/refresh")["id"] == made["id"]
        api.ok("DELETE", f"{base}/{made['id']}", 204)
        assert [item["id"] for item in api.ok("GET", base)["items"]] == [world.source]
        assert_error(api.delete(f"{base}/{made['id']}"), 404)
    finally:
        live.stop()


@pytest.mark.parametrize("url, words", [
    ("ftp://example.com/cal.ics", "only https://"),
    ("https://", "no host"),
    ("https://user:pw@example.com/cal.ics", "passwords"),
    ("https://10.0.0.1/cal.ics", "private"),
    ("https://[::ffff:169.254.169.254]/cal.ics", "metadata"),
    ("https://exa mple.com/cal.ics", "spaces"),
])
def test_mistakes_are_clear_4xx(world: IcsWorld, url: str, words: str) -> None:
    live = start_server(world.runtime)
    try:
        response = Api(live.url).post(f"/businesses/{world.business}/ics-sources",
                                      json={"calendar_id": world.anna, "url": url})
        assert_error(response, 422, "invalid", contains=words)
        other = Api(live.url).post(f"/businesses/{world.business}/ics-sources",
                                   json={"calendar_id": 999, "url": "https://example.com/x"})
        assert_error(other, 404, contains="calendar 999 does not exist")
    finally:
        live.stop()

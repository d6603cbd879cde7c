"""Open slots kept per state of their inputs (server/publishing/slotcache.py), over real HTTP, on SQLite
and PostgreSQL, on the FixedClock at support.NOW moved by the test: a repeated poll is served
from the cache (304 with the ETag) without computing; every input that changes the slots
(bookings, opening hours and exceptions, the service's rules) is seen at the next
request; and as the clock moves across notice and horizon boundaries and midnight, the cached
answer is always the one the availability engine gives at that instant (GET /availability,
computed afresh on every request)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests

from support import Api, LiveServer, Salon, book, make_link, make_salon


@pytest.fixture
def api(live: LiveServer) -> Api:
    return Api(live.url)


def prepared(api: Api) -> tuple[Salon, dict[str, Any]]:
    salon = make_salon(api)
    base = f"/businesses/{salon.business}"
    api.ok("PATCH", f"{base}/services/{salon.service}",
           json={"slot_step_minutes": 30, "max_horizon_days": 3, "min_notice_minutes": 90})
    api.ok("PUT", f"{base}/calendars/{salon.calendar}/opening-hours",
           json={"intervals": [{"weekday": d, "opens": "08:00", "closes": "18:00"}
                               for d in range(7)]})
    link = make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar],
                     profile="slots", service_id=salon.service)
    return salon, link


def json_url(link: dict[str, Any]) -> str:
    return link["feed_url"][:-len(".ics")] + ".json"


def slots_of(api: Api, link: dict[str, Any], salon: Salon) -> tuple[list[str], list[str]]:
    """(the link's slots, the engine's slots computed afresh for the same days)."""
    answer = requests.get(json_url(link), timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    [calendar] = body["calendars"]
    fresh = api.ok("GET", "/availability", params={
        "business_id": salon.business, "service_id": salon.service,
        "calendar_id": [salon.calendar], "start": body["from"], "end": body["until"]})
    return [s["start"] for s in calendar["slots"]], fresh["calendars"][0]["slots"]


def test_a_repeated_poll_is_served_from_the_cache(api: Api, live: LiveServer) -> None:
    salon, link = prepared(api)
    cache = live.runtime.slot_cache
    first = requests.get(link["feed_url"], timeout=30)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    hits, misses = cache.hits, cache.misses
    for _ in range(3):
        again = requests.get(link["feed_url"], timeout=30)
        assert again.content == first.content and again.headers["ETag"] == etag
        assert requests.get(link["feed_url"], headers={"If-None-Match": etag},
                            timeout=30).status_code == 304
    assert cache.hits == hits + 6 and cache.misses == misses


def test_every_input_is_seen_at_the_next_request(api: Api, live: LiveServer) -> None:
    salon, link = prepared(api)
    base = f"/businesses/{salon.business}"
    cache = live.runtime.slot_cache
    seen = []

    def poll() -> str:
        response = requests.get(link["feed_url"], timeout=30)
        assert response.status_code == 200
        ours, fresh = slots_of(api, link, salon)
        assert ours == fresh
        seen.append(response.headers["ETag"])
        return response.headers["ETag"]

    poll()
    misses = cache.misses
    # A booking in open hours (the journal), new weekly hours, an exception closing a day,
    # the service's step: each changes the answer.
    book(api, salon, "2026-11-25T10:00:00")
    poll()
    api.ok("PUT", f"{base}/calendars/{salon.calendar}/opening-hours",
           json={"intervals": [{"weekday": d, "opens": "09:00", "closes": "17:00"}
                               for d in range(7)]})
    poll()
    api.ok("PUT", f"{base}/calendars/{salon.calendar}/opening-exceptions/2026-11-26",
           json={"intervals": []})
    poll()
    api.ok("DELETE", f"{base}/calendars/{salon.calendar}/opening-exceptions/2026-11-26", 204)
    poll()
    api.ok("PATCH", f"{base}/services/{salon.service}", json={"slot_step_minutes": 60})
    poll()
    # The exception removed again: the earlier answer, with its ETag; all others differ.
    assert seen[4] == seen[2] and len(set(seen)) == len(seen) - 1
    assert cache.misses >= misses + 5


def test_the_cached_answer_follows_the_clock(api: Api, live: LiveServer) -> None:
    """Minute by minute across notice boundaries, in steps across the horizon and midnight:
    the link's slots equal the engine's at every instant, and most polls are cache hits."""
    salon, link = prepared(api)
    cache = live.runtime.slot_cache
    hits, misses = cache.hits, cache.misses
    changes = 0
    previous = None
    for step in [7] * 30 + [1] * 20 + [53] * 20 + [181] * 10:
        ours, fresh = slots_of(api, link, salon)
        assert ours == fresh, live.clock.now()
        changes += previous is not None and ours != previous
        previous = ours
        live.clock.advance(dt.timedelta(minutes=step))
    assert changes >= 10  # slots left and entered as the time moved
    assert cache.hits - hits >= 20 and cache.misses - misses >= changes

"""A new link's feed is rendered in the background (server/publishing/prerender.py): once the pre-render
is done, rendered_items holds, for the link's profile, exactly the text the first request
would have rendered for every item of the feed window (and nothing outside it), so that request
renders nothing; a profile change renders the new profile; `[feeds] prerender = false` turns it
off. SQLite and PostgreSQL, real HTTP, the injected clock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import select

from server.db.models import BlockedTime, Booking, Calendar, RenderedItem
from server.domain import journal
from server.publishing.ical import RENDER_VERSION
from server.publishing.publish import Publisher
from support import NOW, Api, LiveServer, block, book, make_link, make_runtime, make_salon, \
    start_server


def _stored(live: LiveServer, profile: str) -> dict[tuple[str, int], tuple[int, str]]:
    with live.runtime.db.read() as session:
        rows = session.execute(select(RenderedItem).where(RenderedItem.profile == profile))
        return {(r.kind, r.item_id): (r.seq, r.text) for r in rows.scalars()
                if r.version == RENDER_VERSION}


def _cold_texts(live: LiveServer, profile: Any, bookings: list[int], blocked: list[int]
                ) -> dict[tuple[str, int], tuple[int, str]]:
    """What the first request would render, rendered now without storing it."""
    with live.runtime.db.read() as session:
        business = session.execute(select(Booking.business_id).where(
            Booking.id == bookings[0])).scalar_one()
        publisher = Publisher(session, journal.epoch(session), profile, business_id=business)
        texts = {("booking", i): t for i, t in publisher._render_bookings(bookings).items()}
        texts.update({("blocked", i): t for i, t in publisher._render_blocked(blocked).items()})
        seqs = {("booking", b.id): b.seq for b in session.execute(
            select(Booking).where(Booking.id.in_(bookings))).scalars()}
        seqs.update({("blocked", b.id): b.seq for b in session.execute(
            select(BlockedTime).where(BlockedTime.id.in_(blocked))).scalars()})
    return {key: (seqs[key], text) for key, text in texts.items()}


def _serve(tmp_path: Path, database_url: str, extra: str = "") -> LiveServer:
    return start_server(make_runtime(tmp_path, database_url, extra=extra))


def _salon_with_items(live: LiveServer) -> tuple[Any, list[int], list[int], int]:
    api = Api(live.url)
    salon = make_salon(api)
    day = NOW.date() + dt.timedelta(days=2)
    bookings = [book(api, salon, f"{day + dt.timedelta(days=n)}T10:00",
                     client_id=salon.client, notes=f"Visit {n}; bring, things")["id"]
                for n in range(8)]
    blocked = [block(api, salon, title="Lunch", start=f"{day}T12:00", end=f"{day}T13:00",
                     rrule="FREQ=WEEKLY;BYDAY=MO,TU", exdates=[f"{day + dt.timedelta(days=7)}"
                                                              "T12:00"])["id"],
               block(api, salon, title="Holiday", all_day=True,
                     start=f"{day + dt.timedelta(days=20)}",
                     end=f"{day + dt.timedelta(days=22)}")["id"]]
    # Far outside the feed window (730 days ahead by default): not pre-rendered.
    far = book(api, salon, f"{day + dt.timedelta(days=1000)}T10:00")["id"]
    return salon, bookings, blocked, far


def test_a_new_link_is_rendered_in_the_background(tmp_path: Path, database_url: str) -> None:
    live = _serve(tmp_path, database_url)
    try:
        api = Api(live.url)
        salon, bookings, blocked, far = _salon_with_items(live)
        assert _stored(live, "full") == {}
        link = make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar])
        assert live.runtime.prerender.wait(30)
        stored = _stored(live, "full")
        assert stored == _cold_texts(live, "full", bookings, blocked)
        assert ("booking", far) not in stored

        # The first request finds every text stored: it renders nothing and stores nothing.
        response = requests.get(link["feed_url"], timeout=30)
        assert response.status_code == 200
        assert response.content.count(b"BEGIN:VEVENT") == len(bookings) + len(blocked)
        assert _stored(live, "full") == stored

        # A new profile is rendered for the link as well.
        api.ok("PATCH", f"/businesses/{salon.business}/links/{link['id']}", 200,
               json={"profile": "busy"})
        assert live.runtime.prerender.wait(30)
        assert _stored(live, "busy") == _cold_texts(live, "busy", bookings, blocked)
        assert live.runtime.prerender.finished == 2
    finally:
        live.stop()


def test_prerendering_can_be_turned_off(tmp_path: Path, database_url: str) -> None:
    live = _serve(tmp_path, database_url, extra="[feeds]\nprerender = false\n")
    try:
        api = Api(live.url)
        salon, bookings, blocked, _ = _salon_with_items(live)
        link = make_link(api, salon.business)
        assert live.runtime.prerender.wait(30)
        assert live.runtime.prerender.finished == 0 and _stored(live, "full") == {}
        # The first request renders and stores them itself, the same texts.
        assert requests.get(link["feed_url"], timeout=30).status_code == 200
        assert _stored(live, "full") == _cold_texts(live, "full", bookings, blocked)
    finally:
        live.stop()


def test_a_revoked_or_missing_link_is_skipped(tmp_path: Path, database_url: str) -> None:
    from server.publishing.prerender import prerender_link

    live = _serve(tmp_path, database_url)
    try:
        api = Api(live.url)
        salon, _, _, _ = _salon_with_items(live)
        link = make_link(api, salon.business)
        assert live.runtime.prerender.wait(30)
        api.ok("DELETE", f"/businesses/{salon.business}/links/{link['id']}", 204)
        with live.runtime.db.write() as session:
            session.execute(RenderedItem.__table__.delete())
        assert prerender_link(live.runtime, salon.business, link["id"]) == 0
        assert prerender_link(live.runtime, salon.business, 10_000) == 0
        assert _stored(live, "full") == {}
        with live.runtime.db.read() as session:
            assert session.get(Calendar, salon.calendar) is not None
    finally:
        live.stop()

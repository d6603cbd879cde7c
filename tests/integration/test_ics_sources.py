"""ICS URL sources against a real HTTP server on loopback serving files that change: the
engine's conditional GET (ETag: 304, nothing rewritten), a changed feed reconciled (what is
gone stops blocking), failures that keep the last good copy and mark the source stale (500, a
server that never answers, a body too large, redirects to private addresses), the refresh
interval within bounds, the URL's secret never logged, and busy time blocking online booking
through the availability API as Google's does."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ics_world import IcsWorld, make_ics_world, vevent
from server.db.models import IcsMirroredEvent, IcsSource
from support import Api, LiveServer, assert_error, start_server


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[IcsWorld]:
    with make_ics_world(tmp_path, database_url) as made:
        yield made


def mirrored(world: IcsWorld) -> dict[str, Any]:
    with world.runtime.db.read() as session:
        return {row.event_id: (row.blocks, row.updated_at) for row in session.execute(
            select(IcsMirroredEvent).where(
                IcsMirroredEvent.connection_id == world.source)).scalars()}


def test_unchanged_feed_is_answered_304_and_nothing_is_rewritten(world: IcsWorld) -> None:
    world.publish(vevent("dentist", world.at(10), world.at(11), "SUMMARY:Dentist"))
    first = world.read()
    assert first.error is None and first.pulled is not None and first.pulled.imported == 1
    before = mirrored(world)
    [hit] = world.server.hits(world.path)
    assert hit["if_none_match"] is None and "gzip" in hit["accept_encoding"]
    world.runtime.clock.advance(dt.timedelta(hours=1))  # type: ignore[attr-defined]
    second = world.read()
    assert second.error is None and second.pulled is not None
    assert (second.pulled.imported, second.pulled.removed) == (0, 0)
    last = world.server.hits(world.path)[-1]
    assert last["if_none_match"] and last["status"] == 304
    assert mirrored(world) == before  # same rows, same updated_at: nothing rewritten
    assert world.status().state == "ok"


def test_a_changed_feed_is_read_once_and_reconciled(world: IcsWorld) -> None:
    world.publish(vevent("a", world.at(10), world.at(11)), vevent("b", world.at(13), world.at(14)))
    world.read()
    world.publish(vevent("b", world.at(14), world.at(15)))
    requests = len(world.server.hits(world.path))
    report = world.read()
    assert report.error is None and report.pulled is not None
    assert len(world.server.hits(world.path)) == requests + 1  # the changed body read once
    assert set(mirrored(world)) == {"b"}
    with world.runtime.db.read() as session:
        row = session.execute(select(IcsMirroredEvent)).scalar_one()
    assert row.start_utc == world.at(14).astimezone(dt.timezone.utc)


def test_server_error_keeps_the_last_copy_and_marks_the_source_stale(world: IcsWorld) -> None:
    world.publish(vevent("a", world.at(10), world.at(11)))
    world.read()
    world.server.set_mode(world.path, "error")
    report = world.read()
    assert report.error is not None and "500" in report.error
    assert set(mirrored(world)) == {"a"}  # nothing dropped
    status = world.status()
    assert status.state == "stale" and status.last_error and "500" in status.last_error
    assert status.synced_at == world.now and status.events == 1
    world.server.set_mode(world.path, "ok")
    world.runtime.clock.advance(dt.timedelta(minutes=5))  # type: ignore[attr-defined]
    assert world.read().error is None
    assert world.status().state == "ok" and world.status().last_error is None


def test_a_server_that_never_answers_is_given_up_on(world: IcsWorld) -> None:
    world.publish(vevent("a", world.at(10), world.at(11)))
    world.read()
    world.server.set_mode(world.path, "hang")
    report = world.read()
    assert report.error is not None and "did not answer within 1 s" in report.error
    assert set(mirrored(world)) == {"a"} and world.status().state == "stale"


def test_a_huge_body_is_aborted(world: IcsWorld) -> None:
    world.publish(vevent("a", world.at(10), world.at(11)))
    world.read()
    world.server.set_mode(world.path, "huge")
    report = world.read()
    assert report.error is None  # a feed problem, recorded on the source's read state
    status = world.status()
    assert status.state == "stale" and status.last_error is not None
    assert "larger than 1 MB" in status.last_error and set(mirrored(world)) == {"a"}


@pytest.mark.parametrize("target", [
    "http://10.1.2.3/cal.ics", "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.2:1/cal.ics", "http://[::ffff:10.0.0.1]/x.ics",
    "http://[fd00:ec2::254]/latest",
])
def test_redirects_to_private_addresses_are_refused(world: IcsWorld, target: str) -> None:
    world.server.set_mode(world.path, "redirect", target)
    world.read()
    status = world.status()
    assert status.state == "stale" and status.last_error is not None
    assert "not fetched" in status.last_error and mirrored(world) == {}


def test_a_redirect_to_an_allowed_address_is_followed(world: IcsWorld) -> None:
    world.server.put("/moved.ics", "")
    world.server.put("/moved.ics", "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", vevent("x", world.at(9), world.at(10)),
        "END:VCALENDAR"]))
    world.server.set_mode(world.path, "redirect", "/moved.ics")
    assert world.read().error is None and set(mirrored(world)) == {"x"}


def test_refresh_interval_is_honoured_within_bounds(world: IcsWorld) -> None:
    world.publish(vevent("a", world.at(10), world.at(11)), head="REFRESH-INTERVAL;VALUE=DURATION:PT2H")
    engine = world.engine()
    [first] = engine.run_once()
    assert first.error is None
    with world.runtime.db.read() as session:
        source = session.get(IcsSource, world.source)
        assert source is not None
        assert source.next_poll_at == world.now + dt.timedelta(hours=2)
    world.runtime.clock.advance(dt.timedelta(minutes=119))  # type: ignore[attr-defined]
    assert engine.run_once() == []  # not due: no request
    assert len(world.server.hits(world.path)) == 1
    world.runtime.clock.advance(dt.timedelta(minutes=1))  # type: ignore[attr-defined]
    [again] = engine.run_once()
    assert again.pulled is not None and len(world.server.hits(world.path)) == 2
    # A feed asking for a minute gets the configured minimum (60 s here, ics.min_...).
    world.publish(vevent("a", world.at(10), world.at(11)), head="X-PUBLISHED-TTL:PT10S")
    world.runtime.clock.advance(dt.timedelta(hours=2))  # type: ignore[attr-defined]
    engine.run_once()
    with world.runtime.db.read() as session:
        source = session.get(IcsSource, world.source)
        assert source is not None and source.feed_interval_seconds == 10
        assert source.next_poll_at == world.now + dt.timedelta(seconds=60)


def test_the_url_is_stored_encrypted_and_never_logged(
        world: IcsWorld, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    world.server.set_mode(world.path, "error")
    world.read()
    world.server.set_mode(world.path, "redirect", "http://10.0.0.1/x?token=s3cr3t-T0KEN")
    world.read()
    assert "s3cr3t-T0KEN" not in caplog.text and "127.0.0.1" in caplog.text
    with world.runtime.db.read() as session:
        source = session.get(IcsSource, world.source)
        assert source is not None and "s3cr3t" not in source.url_encrypted
        assert source.host == "127.0.0.1"
    assert "s3cr3t" not in repr(world.status())


def slots(live: LiveServer, world: IcsWorld) -> list[str]:
    answer: dict[str, Any] = Api(live.url).ok("GET", "/availability", params={
        "business_id": world.business, "service_id": world.service,
        "calendar_id": world.anna, "start": world.first_day.isoformat()})
    return [slot[11:16] for slot in answer["calendars"][0]["slots"]]


def test_a_feed_event_blocks_online_booking_and_unblocks_when_removed(
        world: IcsWorld) -> None:
    live = start_server(world.runtime)
    try:
        world.publish(vevent("dentist", world.at(10), world.at(11), "SUMMARY:Dentist"),
                      vevent("free", world.at(13), world.at(14), "TRANSP:TRANSPARENT"),
                      vevent("oof", world.at(15), world.at(16),
                             "X-MICROSOFT-CDO-BUSYSTATUS:OOF"))
        before = slots(live, world)
        assert {"10:00", "13:00", "15:00"} <= set(before)
        assert world.read().error is None
        blocked = slots(live, world)
        assert "10:00" not in blocked and "09:15" not in blocked  # 9:15-10:15 would overlap
        assert "09:00" in blocked and "11:00" in blocked
        assert "13:00" in blocked and "15:00" not in blocked
        body = {"calendar_id": world.anna, "service_id": world.service,
                "start": f"{world.first_day.isoformat()}T10:00:00", "source": "online"}
        refused = assert_error(Api(live.url).post(f"/businesses/{world.business}/bookings",
                                                  json=body), 409,
                               contains="calendar link event")
        assert refused["details"]["reasons"][0]["id"] == "dentist"
        world.publish(vevent("free", world.at(13), world.at(14), "TRANSP:TRANSPARENT"))
        world.runtime.clock.advance(dt.timedelta(minutes=5))  # type: ignore[attr-defined]
        assert world.read().error is None
        assert slots(live, world) == before
    finally:
        live.stop()


def test_a_failing_feed_keeps_blocking_and_says_so(world: IcsWorld) -> None:
    live = start_server(world.runtime)
    try:
        world.publish(vevent("dentist", world.at(10), world.at(11)))
        world.read()
        world.server.set_mode(world.path, "error")
        world.read()
        answer = Api(live.url).ok("GET", "/availability", params={
            "business_id": world.business, "service_id": world.service,
            "calendar_id": world.anna, "start": world.first_day.isoformat(), "explain": "true"})
        calendar = answer["calendars"][0]
        assert not any(slot[11:16] == "10:00" for slot in calendar["slots"])
        explain = calendar["explain"]
        assert any("could not be read" in warning for warning in explain["warnings"])
        [reason] = [r for r in explain["unavailable"] if r["type"] == "ics_event"]
        assert reason["id"] == "dentist" and reason["google_calendar"] == "127.0.0.1"
    finally:
        live.stop()


def test_weekly_recurrence_blocks_every_week(world: IcsWorld) -> None:
    world.publish(vevent("weekly", world.at(10), world.at(11), "RRULE:FREQ=WEEKLY;COUNT=4"))
    world.read()
    assert set(mirrored(world)) == {
        "weekly/" + f"{world.at(10, day=7 * week).astimezone(dt.timezone.utc):%Y%m%dT%H%M%SZ}"
        for week in range(4)}

"""Freshness of the sources that block online booking, in every availability answer, and the
business's stale-data policy (offer / hide / recheck) before an online booking: the Google
source read through the fake Google, a Microsoft source from its own rows (its live check is
another provider's work: without one, `recheck` refuses on doubt). SQLite and PostgreSQL, on
the injected clock."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

import pytest
from sqlalchemy import event, update

from fakes import FaultKind
from google_world import World
from server.sync.tables import BY_PROVIDER
from server.db.models import (
    GoogleConnection, GoogleReadState, MicrosoftCalendarMap, MicrosoftConnection,
    MicrosoftReadState,
)
from server.domain import businesses, calendars, hours, services
from server.google import settings
from server.google.pull import pull
from server.sync.freshness import blocking_sources
from support import NOW, Api, LiveServer, assert_error, start_server


@pytest.fixture
def live(world: World) -> Iterator[LiveServer]:
    with world.runtime.db.write() as session:
        hours.set_weekly(session, world.business, world.anna, [
            hours.Interval(day, dt.time(8), dt.time(17)) for day in range(7)])
        services.update_service(session, world.business, world.service, now=NOW,
                                duration_minutes=60, slot_step_minutes=60)
        settings.update_settings(session, world.business, now=NOW, block_online_booking=True)
    pull(world.runtime.db, world.api, world.connection, NOW,
         rules=world.runtime.config.availability)
    server = start_server(world.runtime)
    yield server
    server.stop()


def policy(world: World, name: str) -> None:
    with world.runtime.db.write() as session:
        businesses.update_business(session, world.business, stale_policy=name)


def calendar(live: LiveServer, world: World, key: bool = True, **extra: Any) -> dict[str, Any]:
    api = Api(live.url) if key else Api(live.url, key=None)
    answer: dict[str, Any] = api.ok(
        "GET", "/availability", params={
            "business_id": world.business, "service_id": world.service,
            "calendar_id": world.anna, "start": str(world.first_day), **extra})
    return answer["calendars"][0]


def online(live: LiveServer, world: World, hour: int) -> Any:
    start = dt.datetime.combine(world.first_day, dt.time(hour)).isoformat()
    return Api(live.url).post(f"/businesses/{world.business}/bookings", json={
        "calendar_id": world.anna, "service_id": world.service, "start": start,
        "source": "online"})


def test_every_answer_carries_each_sources_freshness(world: World, live: LiveServer) -> None:
    fresh = calendar(live, world)
    [source] = fresh["sources"]
    assert source["provider"] == "google" and source["calendar"] == "primary"
    assert source["state"] == "ok" and source["age_seconds"] == 0
    assert source["synced_at"].startswith(NOW.strftime("%Y-%m-%dT%H:%M"))
    assert fresh["hidden"] is False and len(fresh["slots"]) == 9
    # The public answer says how fresh, never which calendar nor the error.
    [public] = calendar(live, world, key=False)["sources"]
    assert public["state"] == "ok" and public["calendar"] is None and public["error"] is None
    # Past the push-backed target (health.push_stale_minutes, 15): stale, times still offered
    # (policy "offer"), with a warning in the explanation.
    live.clock.advance(dt.timedelta(minutes=16))
    stale = calendar(live, world, explain="true")
    [source] = stale["sources"]
    assert source["state"] == "stale" and "more than the 15 min expected" in source["reason"]
    assert len(stale["slots"]) == 9
    assert any("Google busy time may be out of date" in w
               for w in stale["explain"]["warnings"])
    # A calendar whose reading fails: error, with the recorded error for key holders.
    with world.runtime.db.write() as session:
        session.execute(update(GoogleReadState).values(
            last_error="the Google calendar primary is gone", last_error_at=NOW))
    [source] = calendar(live, world)["sources"]
    assert source["state"] == "error" and source["error"] == "the Google calendar primary is gone"
    assert "reading the Google calendar fails" in source["reason"]
    [public] = calendar(live, world, key=False)["sources"]
    assert public["error"] is None and "gone" not in public["reason"]
    with world.runtime.db.write() as session:
        session.execute(update(GoogleConnection).values(status="needs_reconnect"))
    [source] = calendar(live, world)["sources"]
    assert source["state"] == "needs_reconnecting"
    # A business that does not let Google block booking has no source.
    with world.runtime.db.write() as session:
        settings.update_settings(session, world.business, now=NOW, block_online_booking=False)
    assert calendar(live, world)["sources"] == []


def test_the_target_is_configurable_per_provider_kind(tmp_path: Any, database_url: str) -> None:
    from server.sync.sources import KINDS
    from support import make_config
    config = make_config(tmp_path, database_url, "[health]\npush_stale_minutes = 30\n"
                         "poll_slack_minutes = 2\n[google]\npush_notifications = false\n"
                         "poll_seconds = 120\n")
    assert KINDS["google"].stale_after(config) == dt.timedelta(minutes=4)  # polled: 2 + 2
    assert KINDS["microsoft"].stale_after(config) == dt.timedelta(minutes=30)  # push-backed


def test_policy_hide_offers_nothing_and_refuses_online_bookings(world: World,
                                                               live: LiveServer) -> None:
    policy(world, "hide")
    assert len(calendar(live, world)["slots"]) == 9  # fresh: nothing hidden
    live.clock.advance(dt.timedelta(minutes=16))
    hidden = calendar(live, world, explain="true")
    assert hidden["slots"] == [] and hidden["hidden"] is True
    assert any("policy is 'hide'" in w for w in hidden["explain"]["warnings"])
    assert calendar(live, world, key=False)["slots"] == []
    world.fake.clear_log()
    refused = assert_error(online(live, world, 10), 409, code="stale_source")
    assert "policy is 'hide'" in refused["message"] and refused["details"]["state"] == "stale"
    assert world.fake.count() == 0  # hide does not ask the provider
    # Staff bookings are not online: not held to the policy.
    start = dt.datetime.combine(world.first_day, dt.time(10)).isoformat()
    Api(live.url).ok("POST", f"/businesses/{world.business}/bookings", 201, json={
        "calendar_id": world.anna, "service_id": world.service, "start": start,
        "source": "staff"})
    # Read again: offered again.
    pull(world.runtime.db, world.api, world.connection, live.clock.now(),
         rules=world.runtime.config.availability)
    assert calendar(live, world)["hidden"] is False


def test_policy_recheck_asks_google_live_and_refuses_on_doubt(world: World,
                                                             live: LiveServer) -> None:
    policy(world, "recheck")
    live.clock.advance(dt.timedelta(minutes=16))
    assert len(calendar(live, world)["slots"]) == 9  # offered: the booking will check
    # Made in Google since the last read: the live check sees it and the booking is refused
    # for the event itself, not for doubt.
    day = world.first_day
    world.fake.user_insert_event("primary", {
        "summary": "Dentist", "start": {"dateTime": f"{day}T10:00:00",
                                        "timeZone": "Europe/Copenhagen"},
        "end": {"dateTime": f"{day}T11:00:00", "timeZone": "Europe/Copenhagen"}})
    world.fake.clear_log()
    assert_error(online(live, world, 10), 409, contains="Google event")
    assert world.fake.count("calendar.events.list") == 1
    live.clock.advance(dt.timedelta(minutes=16))
    made = online(live, world, 14)
    assert made.status_code == 201 and made.json()["warnings"] == []
    # Google unreachable: refused, not booked on old data.
    live.clock.advance(dt.timedelta(minutes=16))
    world.fake.inject_fault(FaultKind.UNAVAILABLE, endpoint="calendar.events.list", times=5)
    refused = assert_error(online(live, world, 15), 409, code="stale_source")
    assert "Google could not be reached" in refused["message"]
    # To be reconnected: refused without a call.
    with world.runtime.db.write() as session:
        session.execute(update(GoogleConnection).values(status="needs_reconnect"))
    world.fake.clear_log()
    assert_error(online(live, world, 16), 409, code="stale_source")
    assert world.fake.count() == 0


def test_policy_offer_books_with_a_warning(world: World, live: LiveServer) -> None:
    live.clock.advance(dt.timedelta(minutes=16))
    world.fake.inject_fault(FaultKind.UNAVAILABLE, endpoint="calendar.events.list", times=5)
    made = online(live, world, 10)
    assert made.status_code == 201
    assert made.json()["warnings"][0].startswith("Google could not be reached")


def _microsoft_source(world: World, synced_at: dt.datetime | None) -> None:
    with world.runtime.db.write() as session:
        connection = MicrosoftConnection(
            business_id=world.business, account_email="", refresh_token_encrypted="x",
            block_online_booking=True, created_at=NOW, updated_at=NOW)
        session.add(connection)
        session.flush()
        session.add(MicrosoftCalendarMap(business_id=world.business, connection_id=connection.id,
                                         calendar_id=world.anna, write_calendar="AAMk",
                                         read_calendar="AAMk"))
        session.add(MicrosoftReadState(business_id=world.business, connection_id=connection.id,
                                       google_calendar="AAMk", synced_at=synced_at))


def test_a_live_check_in_doubt_refuses_under_recheck_and_warns_under_offer(
        world: World, live: LiveServer) -> None:
    # Microsoft's live check (server/microsoft/freshness.py, registered in
    # server/api/stale_policy.py) cannot read a connection that needs reconnecting: a doubt.
    _microsoft_source(world, NOW)
    sources = calendar(live, world)["sources"]
    assert [(s["provider"], s["state"]) for s in sources] == [("google", "ok"),
                                                              ("microsoft", "ok")]
    policy(world, "recheck")
    assert online(live, world, 9).status_code == 201  # both fresh
    live.clock.advance(dt.timedelta(minutes=16))
    with world.runtime.db.write() as session:
        session.execute(update(MicrosoftConnection).values(status="needs_reconnect"))
    refused = assert_error(online(live, world, 11), 409, code="stale_source")
    assert "needs reconnecting" in refused["message"]
    policy(world, "offer")
    made = online(live, world, 12)
    assert made.status_code == 201
    assert any("needs reconnecting" in w for w in made.json()["warnings"])


def test_freshness_costs_one_query_per_provider_whatever_the_calendars(
        world: World, live: LiveServer) -> None:
    with world.runtime.db.write() as session:
        more = [calendars.create_calendar(session, world.business, name=f"Staff {n}",
                                          now=NOW).id for n in range(12)]
        settings.update_settings(session, world.business, now=NOW, calendars=[
            settings.CalendarChoice(c, "primary") for c in [world.anna, *more]])
    _microsoft_source(world, None)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    engine = world.runtime.db.engine
    for ids in ([world.anna], [world.anna, *more]):
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            with world.runtime.db.read() as session:
                found = blocking_sources(session, world.business, ids, NOW,
                                         world.runtime.config)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert len(found) == len(ids)
        assert all(found[c] for c in ids)
        # one query per registered provider (server/sync/tables.py BY_PROVIDER)
        assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == \
            len(BY_PROVIDER)


def test_the_policy_is_set_through_the_json_api(world: World, live: LiveServer) -> None:
    api = Api(live.url)
    path = f"/businesses/{world.business}"
    assert api.ok("GET", path)["stale_policy"] == "offer"
    assert api.ok("PATCH", path, json={"stale_policy": "recheck"})["stale_policy"] == "recheck"
    assert_error(api.patch(path, json={"stale_policy": "ignore"}), 422)
    assert api.ok("GET", path)["stale_policy"] == "recheck"

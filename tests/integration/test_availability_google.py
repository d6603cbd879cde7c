"""Google busy time blocks online booking: events made in the fake Google Calendar reach the
mirror through the bridge's pull, and availability and the online booking check follow the one
blocking policy — only when the business turned the option on. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

import pytest
from sqlalchemy import select, update

from fakes import FaultKind
from server.db.models import GoogleConnection, MirroredEvent
from server.domain import calendars, hours, services
from server.google import settings
from server.google.pull import pull
from support import NOW, Api, LiveServer, assert_error, start_server
from google_world import World

TZ = "Europe/Copenhagen"


def timed(day: int, start: str, end: str, end_day: int | None = None,
          **extra: Any) -> dict[str, Any]:
    return {"summary": extra.pop("summary", f"Event {day} {start}"),
            "start": {"dateTime": f"2026-12-{day:02d}T{start}:00", "timeZone": TZ},
            "end": {"dateTime": f"2026-12-{end_day or day:02d}T{end}:00", "timeZone": TZ},
            **extra}


def all_day(first: str, end: str, **extra: Any) -> dict[str, Any]:
    return {"summary": extra.pop("summary", f"All day {first}"), "start": {"date": first},
            "end": {"date": end}, **extra}


@pytest.fixture
def live(world: World) -> Iterator[LiveServer]:  # noqa: F811
    with world.runtime.db.write() as session:
        for calendar in (world.anna,):
            hours.set_weekly(session, world.business, calendar, [
                hours.Interval(day, dt.time(8), dt.time(17)) for day in range(7)])
        services.update_service(session, world.business, world.service, now=NOW,
                                duration_minutes=60, buffer_after_minutes=30,
                                slot_step_minutes=60)
    server = start_server(world.runtime)
    yield server
    server.stop()


def blocking(world: World, on: bool) -> None:
    with world.runtime.db.write() as session:
        settings.update_settings(session, world.business, now=NOW, block_online_booking=on)


def pull_now(world: World, when: dt.datetime = NOW) -> None:
    pull(world.runtime.db, world.api, world.connection, when,
         rules=world.runtime.config.availability)


def slots(live: LiveServer, world: World, day: str, calendar: int | None = None,
          **extra: Any) -> dict[str, Any]:
    answer: dict[str, Any] = Api(live.url).ok("GET", "/availability", params={
        "business_id": world.business, "service_id": world.service,
        "calendar_id": calendar or world.anna, "start": day, **extra})
    return answer["calendars"][0]


def hours_of(calendar: dict[str, Any]) -> list[str]:
    return [slot[11:16] for slot in calendar["slots"]]


ALL = [f"{h:02d}:00" for h in range(8, 17)]


def test_the_option_decides_and_the_policy_is_the_bridges(world: World,  # noqa: F811
                                                          live: LiveServer) -> None:
    fake = world.fake
    fake.user_insert_event("primary", timed(1, "10:00", "11:00", summary="Dentist"))
    fake.user_insert_event("primary", timed(1, "13:00", "14:00", transparency="transparent"))
    fake.user_insert_event("primary", timed(1, "15:00", "16:00", attendees=[
        {"email": "user@example.com", "self": True, "responseStatus": "declined"}]))
    fake.user_insert_event("primary", all_day("2026-12-02", "2026-12-03"))
    fake.user_insert_event("primary", all_day("2026-12-04", "2026-12-07", summary="Trip"))
    fake.user_insert_event("primary", timed(8, "15:00", "10:00", end_day=9))
    pull_now(world)
    blocking(world, False)
    assert hours_of(slots(live, world, "2026-12-01")) == ALL
    assert hours_of(slots(live, world, "2026-12-02")) == ALL
    blocking(world, True)
    # Busy 10-11 blocks 10:00 and, with the 30-minute buffer after, 09:00; the free and the
    # declined events block nothing.
    assert hours_of(slots(live, world, "2026-12-01")) == [
        "08:00", "11:00", "12:00", "13:00", "14:00", "15:00", "16:00"]
    assert hours_of(slots(live, world, "2026-12-02")) == []
    for day in ("2026-12-04", "2026-12-05", "2026-12-06"):
        assert hours_of(slots(live, world, day)) == [], day
    assert hours_of(slots(live, world, "2026-12-07")) == ALL
    # A timed event over midnight blocks the end of one day and the start of the next.
    assert hours_of(slots(live, world, "2026-12-08"))[-1] == "13:00"
    assert hours_of(slots(live, world, "2026-12-09"))[0] == "10:00"


def test_one_google_calendar_blocks_every_employee_reading_it_in_their_own_zone(
        world: World, live: LiveServer) -> None:  # noqa: F811
    with world.runtime.db.write() as session:
        bo = calendars.create_calendar(session, world.business, name="Bo", now=NOW,
                                       timezone="America/New_York").id
        hours.set_weekly(session, world.business, bo, [
            hours.Interval(day, dt.time(0), dt.time(23, 59)) for day in range(7)])
        settings.update_settings(session, world.business, now=NOW, block_online_booking=True,
                                 calendars=[settings.CalendarChoice(world.anna, "primary"),
                                            settings.CalendarChoice(bo, "primary")])
    world.fake.user_insert_event("primary", all_day("2026-12-02", "2026-12-03"))
    world.fake.user_insert_event("primary", timed(3, "10:00", "11:00"))
    pull_now(world)
    assert hours_of(slots(live, world, "2026-12-02")) == []
    # Bo's whole local day of 2 December (New York) is blocked, not a Copenhagen day.
    assert slots(live, world, "2026-12-02", bo)["slots"] == []
    around = slots(live, world, "2026-12-01", bo)["slots"] + \
        slots(live, world, "2026-12-03", bo)["slots"]
    assert len(around) > 30
    # 10:00-11:00 Copenhagen is 04:00-05:00 in New York: 03:00 (buffer) and 04:00 are taken.
    assert {"03:00", "04:00"}.isdisjoint(hours_of(slots(live, world, "2026-12-03", bo)))
    assert {"02:00", "05:00"} <= set(hours_of(slots(live, world, "2026-12-03", bo)))


def test_a_repeating_event_with_a_cancelled_instance(world: World,  # noqa: F811
                                                     live: LiveServer) -> None:
    blocking(world, True)
    series = world.fake.user_insert_event("primary", {
        **timed(1, "12:00", "13:00", summary="Lunch"), "recurrence": ["RRULE:FREQ=DAILY;COUNT=3"]})
    pull_now(world)
    with world.runtime.db.read() as session:
        instances = list(session.execute(select(MirroredEvent).order_by(
            MirroredEvent.start_utc)).scalars())
    assert [row.recurring_event_id for row in instances] == [series["id"]] * 3
    world.fake.user_delete_event("primary", instances[1].event_id)
    pull_now(world)
    for day, lunch_free in (("2026-12-01", False), ("2026-12-02", True), ("2026-12-03", False)):
        assert ("12:00" in hours_of(slots(live, world, day))) is lunch_free, day


def test_online_bookings_are_refused_staff_bookings_are_not(world: World,  # noqa: F811
                                                           live: LiveServer) -> None:
    blocking(world, True)
    event = world.fake.user_insert_event("primary", timed(1, "10:00", "11:00",
                                                          summary="Dentist"))
    pull_now(world)
    api = Api(live.url)
    body = {"calendar_id": world.anna, "service_id": world.service,
            "start": "2026-12-01T09:00:00", "source": "online"}
    refused = assert_error(api.post(f"/businesses/{world.business}/bookings", json=body), 409,
                           contains="buffer around Google event")
    assert refused["details"]["reasons"][0]["id"] == event["id"]
    assert refused["details"]["reasons"][0]["google_calendar"] == "primary"
    staff = api.ok("POST", f"/businesses/{world.business}/bookings", 201,
                   json={**body, "source": "staff"})
    assert staff["warnings"] == []
    # Outside opening hours: online refused, staff fine.
    late = {**body, "start": "2026-12-01T18:00:00"}
    assert_error(api.post(f"/businesses/{world.business}/bookings", json=late), 409,
                 contains="outside opening hours")
    api.ok("POST", f"/businesses/{world.business}/bookings", 201, json={**late,
                                                                        "source": "staff"})


def test_stale_mirror_is_synced_before_an_online_booking(world: World,  # noqa: F811
                                                         live: LiveServer) -> None:
    blocking(world, True)
    pull_now(world)
    api = Api(live.url)
    # Made in Google after the bridge's last look; the mirror is still fresh: not seen.
    world.fake.user_insert_event("primary", timed(2, "10:00", "11:00", summary="New"))
    body = {"calendar_id": world.anna, "service_id": world.service,
            "start": "2026-12-02T10:00:00", "source": "online"}
    world.fake.clear_log()
    first = api.ok("POST", f"/businesses/{world.business}/bookings", 201, json=body)
    assert world.fake.count("calendar.events.list") == 0
    api.ok("DELETE", f"/businesses/{world.business}/bookings/{first['id']}", 204)
    # Older than availability.google_max_age_seconds: one sync first, and the event blocks.
    live.clock.advance(dt.timedelta(minutes=10))
    assert_error(api.post(f"/businesses/{world.business}/bookings", json=body), 409,
                 contains="Google event")
    assert world.fake.count("calendar.events.list") == 1
    explain = slots(live, world, "2026-12-02", explain="true")["explain"]
    assert explain["google"]["text"] == "synced 0 s ago"
    titles = {r["title"] for r in explain["unavailable"] if r["type"] == "google_event"}
    assert titles == {"New"}


def test_unreachable_google_falls_back_to_the_mirror_and_says_so(world: World,  # noqa: F811
                                                                 live: LiveServer) -> None:
    blocking(world, True)
    world.fake.user_insert_event("primary", timed(2, "10:00", "11:00"))
    pull_now(world)
    live.clock.advance(dt.timedelta(minutes=10))
    world.fake.inject_fault(FaultKind.UNAVAILABLE, endpoint="calendar.events.list", times=5)
    api = Api(live.url)
    body = {"calendar_id": world.anna, "service_id": world.service,
            "start": "2026-12-02T14:00:00", "source": "online"}
    made = api.ok("POST", f"/businesses/{world.business}/bookings", 201, json=body)
    assert made["warnings"] == ["Google could not be reached; checked against the Google "
                                "events mirrored before (synced 10 min ago)"]
    refused = assert_error(api.post(f"/businesses/{world.business}/bookings", json={
        **body, "start": "2026-12-02T10:00:00"}), 409, contains="Google event")
    assert "Google could not be reached" in refused["details"]["warnings"][0]


def test_explain_warns_of_free_all_day_events_and_a_connection_to_reconnect(
        world: World, live: LiveServer) -> None:  # noqa: F811
    blocking(world, True)
    world.fake.user_insert_event("primary", all_day("2026-12-03", "2026-12-04",
                                                    summary="Holiday",
                                                    transparency="transparent"))
    pull_now(world)
    calendar = slots(live, world, "2026-12-03", explain="true")
    assert hours_of(calendar) == ALL
    [warning] = calendar["explain"]["warnings"]
    assert "marked free" in warning and "'Holiday'" in warning and "2026-12-03" in warning
    public = Api(live.url, key=None).ok("GET", "/availability", params={
        "business_id": world.business, "service_id": world.service,
        "calendar_id": world.anna, "start": "2026-12-03"})
    assert "Holiday" not in str(public)
    with world.runtime.db.write() as session:
        session.execute(update(GoogleConnection).values(status="needs_reconnect"))
    warnings = slots(live, world, "2026-12-03", explain="true")["explain"]["warnings"]
    assert any("needs reconnecting" in w for w in warnings)


def test_a_free_all_day_event_warns_only_on_days_it_leaves_bookable(
        world: World, live: LiveServer) -> None:  # noqa: F811
    """The warning is for a day that looks like a day off in Google Calendar yet still offers
    times; on a day that is closed or blocked anyway the free event changes nothing."""
    blocking(world, True)
    with world.runtime.db.write() as session:
        hours.set_exception(session, world.business, world.anna, dt.date(2026, 12, 5),
                            intervals=[])  # closed all day
    world.fake.user_insert_event("primary", all_day("2026-12-04", "2026-12-08",
                                                    summary="Holiday",
                                                    transparency="transparent"))
    world.fake.user_insert_event("primary", all_day("2026-12-06", "2026-12-07",
                                                    summary="Trip"))  # busy: blocks the 6th
    world.fake.user_insert_event("primary", all_day("2026-12-05", "2026-12-06",
                                                    summary="Inventory",
                                                    transparency="transparent"))
    world.fake.user_insert_event("primary", all_day("2026-12-10", "2026-12-11",
                                                    summary="Gala", transparency="transparent"))
    pull_now(world)
    calendar = slots(live, world, "2026-12-04", end="2026-12-08", explain="true")
    assert {slot[:10] for slot in calendar["slots"]} == {"2026-12-04", "2026-12-07"}
    [warning] = calendar["explain"]["warnings"]
    assert "'Holiday'" in warning and "marked free" in warning and "Inventory" not in warning
    assert "on 2026-12-04, 2026-12-07 is marked free" in warning
    # Closed (the 5th, Inventory too) or blocked by a busy event (the 6th): nothing to warn of.
    for quiet in ("2026-12-05", "2026-12-06"):
        assert slots(live, world, quiet, explain="true")["explain"]["warnings"] == []
    # The free event on the 10th is outside the range asked for.
    assert "Gala" not in str(calendar)


def test_no_google_call_while_paused_or_to_be_reconnected(world: World,  # noqa: F811
                                                          live: LiveServer) -> None:
    blocking(world, True)
    pull_now(world)
    live.clock.advance(dt.timedelta(minutes=10))
    api = Api(live.url)
    world.fake.clear_log()
    for status, paused_until, says in (
            ("paused", NOW + dt.timedelta(hours=1), "Google sync is paused (quota)"),
            ("needs_reconnect", None, "the Google connection needs reconnecting")):
        with world.runtime.db.write() as session:
            session.execute(update(GoogleConnection).values(status=status,
                                                            paused_until=paused_until))
        made = api.ok("POST", f"/businesses/{world.business}/bookings", 201, json={
            "calendar_id": world.anna, "service_id": world.service, "source": "online",
            "start": "2026-12-02T14:00:00" if status == "paused" else "2026-12-03T14:00:00"})
        assert len(made["warnings"]) == 1 and made["warnings"][0].startswith(says)
        assert "(synced 10 min ago)" in made["warnings"][0]
    assert world.fake.count() == 0


def test_the_freshness_sync_is_bounded_and_leaves_full_reads_to_the_bridge(
        world: World, live: LiveServer) -> None:  # noqa: F811
    """Before an online booking only a short incremental sync runs: never a full read (after a
    restore the bridge's full read must adopt unknown copies of ours, which this sync cannot),
    never a resync after 410, never more than freshness.MAX_PAGES pages; the booking is checked
    against the mirror and the note says why."""
    from server.db.models import GoogleReadState
    from server.google.freshness import MAX_PAGES
    from server.google.pull import PAGE_SIZE, WHOLE_HISTORY

    blocking(world, True)
    world.fake.user_insert_event("primary", timed(2, "10:00", "11:00"))
    pull_now(world)
    api = Api(live.url)
    body = {"calendar_id": world.anna, "service_id": world.service, "source": "online"}

    def book_online(start: str) -> list[str]:
        live.clock.advance(dt.timedelta(minutes=10))  # the mirror is stale again
        made = api.ok("POST", f"/businesses/{world.business}/bookings", 201,
                      json={**body, "start": start})
        warnings: list[str] = made["warnings"]
        return warnings

    def token() -> str | None:
        with world.runtime.db.read() as session:
            return session.execute(select(GoogleReadState.sync_token)).scalar_one()

    # The sync token expired: one incremental list answered 410, no full read after it.
    world.fake.invalidate_sync_tokens("primary")
    world.fake.clear_log()
    [note] = book_online("2026-12-02T13:00:00")
    assert note.startswith("Google events were not refreshed (the Google sync token expired")
    assert [r.status for r in world.fake.requests("calendar.events.list")] == [410]
    pull_now(world)  # the bridge reads it again
    # Restored from backup: the whole history is the bridge's to read; no Google call at all.
    with world.runtime.db.write() as session:
        session.execute(update(GoogleReadState).values(sync_token=WHOLE_HISTORY))
    world.fake.clear_log()
    [note] = book_online("2026-12-03T10:00:00")
    assert "has not finished its first read" in note and "checked against" in note
    assert world.fake.count("calendar.events.list") == 0 and token() == WHOLE_HISTORY
    pull_now(world)
    # More changes than MAX_PAGES pages: stops there, the sync token is not moved.
    for index in range(MAX_PAGES * PAGE_SIZE + 1):
        world.fake.user_insert_event("primary", {
            "summary": "Bulk", "start": {"date": "2025-01-01"}, "end": {"date": "2025-01-02"},
            "transparency": "transparent"})
    before = token()
    world.fake.clear_log()
    [note] = book_online("2026-12-04T10:00:00")
    assert f"more than {MAX_PAGES} pages of Google changes" in note
    assert world.fake.count("calendar.events.list") == MAX_PAGES and token() == before

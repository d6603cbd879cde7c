"""GET /api/v1/availability over real HTTP, on SQLite and PostgreSQL, with a fixed clock: opening
hours and exceptions, buffers, notice and horizon, DST days, the public view, explain, and the
online booking check that refuses what availability does not offer."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from support import (
    HOST_KEY, Api, LiveServer, Salon, assert_error, block, book, make_runtime, make_salon,
    start_server,
)

DAY = "2026-11-26"  # a Thursday, two days after NOW


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    live = start_server(make_runtime(tmp_path, database_url))
    yield live
    live.stop()


@pytest.fixture
def api(server: LiveServer) -> Api:
    return Api(server.url)


def open_all_week(api: Api, salon: Salon, opens: str = "09:00", closes: str = "17:00",
                  calendar: int | None = None) -> None:
    api.ok("PUT", f"/businesses/{salon.business}/calendars/{calendar or salon.calendar}"
           "/opening-hours", json={"intervals": [
               {"weekday": day, "opens": opens, "closes": closes} for day in range(7)]})


def set_service(api: Api, salon: Salon, **fields: Any) -> None:
    api.ok("PATCH", f"/businesses/{salon.business}/services/{salon.service}", json=fields)


def availability(api: Api, salon: Salon, start: str, end: str | None = None,
                 calendars: list[int] | None = None, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"business_id": salon.business, "service_id": salon.service,
                              "calendar_id": calendars or [salon.calendar], "start": start,
                              **extra}
    if end:
        params["end"] = end
    answer: dict[str, Any] = api.ok("GET", "/availability", params=params)
    return answer


def local_times(answer: dict[str, Any], index: int = 0) -> list[str]:
    return [slot[11:16] for slot in answer["calendars"][index]["slots"]]


def online(api: Api, salon: Salon, start: str, **fields: Any) -> Any:
    return api.post(f"/businesses/{salon.business}/bookings", json={
        "calendar_id": salon.calendar, "service_id": salon.service, "start": start,
        "source": "online", **fields})


def test_slots_follow_hours_step_buffers_and_bookings(api: Api) -> None:
    salon = make_salon(api, buffer_after=15)  # 45 min + 15 min after
    open_all_week(api, salon, "09:00", "12:00")
    set_service(api, salon, slot_step_minutes=30)
    answer = availability(api, salon, DAY)
    assert answer["duration_minutes"] == 45
    assert local_times(answer) == ["09:00", "09:30", "10:00", "10:30", "11:00"]
    assert all(slot.endswith("+01:00") for slot in answer["calendars"][0]["slots"])
    book(api, salon, f"{DAY}T10:00:00")  # occupies 10:00-11:00 with its buffer
    # 09:30 + 45 + 15 reaches 10:30: refused; 11:00 starts when the buffer ends.
    assert local_times(availability(api, salon, DAY)) == ["09:00", "11:00"]


def test_exceptions_close_a_day_or_change_its_hours(api: Api) -> None:
    salon = make_salon(api)
    open_all_week(api, salon)
    set_service(api, salon, slot_step_minutes=60)
    base = f"/businesses/{salon.business}/calendars/{salon.calendar}/opening-exceptions"
    api.ok("PUT", f"{base}/2026-11-26", json={"intervals": [], "note": "closed"})
    api.ok("PUT", f"{base}/2026-11-27", json={"intervals": [
        {"opens": "13:00", "closes": "15:00"}]})
    answer = availability(api, salon, "2026-11-26", "2026-11-28")
    assert [s[:16] for s in answer["calendars"][0]["slots"]] == [
        "2026-11-27T13:00", "2026-11-27T14:00"]


def test_notice_and_horizon(api: Api) -> None:
    salon = make_salon(api)
    open_all_week(api, salon, "08:00", "20:00")
    set_service(api, salon, slot_step_minutes=60, min_notice_minutes=180, max_horizon_days=2)
    # NOW is 09:00 Copenhagen on 24 November: notice until 12:00.
    today = local_times(availability(api, salon, "2026-11-24"))
    assert today[0] == "12:00"
    # The horizon ends 26 November 09:00: that day offers 08:00 and 09:00 only.
    assert local_times(availability(api, salon, "2026-11-26")) == ["08:00", "09:00"]
    assert availability(api, salon, "2026-11-27")["calendars"][0]["slots"] == []
    refused = online(api, salon, "2026-11-24T10:00:00")
    assert_error(refused, 409, "conflict", "notice")
    assert_error(online(api, salon, "2026-11-26T10:00:00"), 409, "conflict", "bookings open")
    assert online(api, salon, "2026-11-24T12:00:00").status_code == 201
    # Staff may book in the past and far ahead.
    book(api, salon, "2026-11-20T10:00:00")
    book(api, salon, "2027-06-01T10:00:00")


def test_copenhagen_dst_days(api: Api) -> None:
    salon = make_salon(api)
    set_service(api, salon, slot_step_minutes=60, max_horizon_days=400)
    api.ok("PATCH", f"/businesses/{salon.business}/services/{salon.service}",
           json={"duration_minutes": 60})
    open_all_week(api, salon, "09:00", "17:00")
    for day in ("2027-03-28", "2027-10-31"):  # clocks forward, back
        slots = availability(api, salon, day)["calendars"][0]["slots"]
        assert [s[11:16] for s in slots] == [f"{h:02d}:00" for h in range(9, 17)], day
    open_all_week(api, salon, "00:00", "06:00")
    spring = availability(api, salon, "2027-03-28")["calendars"][0]["slots"]
    assert spring == ["2027-03-28T00:00:00+01:00", "2027-03-28T01:00:00+01:00",
                      "2027-03-28T03:00:00+02:00", "2027-03-28T04:00:00+02:00",
                      "2027-03-28T05:00:00+02:00"]
    autumn = availability(api, salon, "2027-10-31")["calendars"][0]["slots"]
    assert autumn == ["2027-10-31T00:00:00+02:00", "2027-10-31T01:00:00+02:00",
                      "2027-10-31T02:00:00+02:00", "2027-10-31T02:00:00+01:00",
                      "2027-10-31T03:00:00+01:00", "2027-10-31T04:00:00+01:00",
                      "2027-10-31T05:00:00+01:00"]
    # Every slot offered on the change days can be booked online, the repeated hour too.
    for slot in spring + autumn:
        assert online(api, salon, slot).status_code == 201, slot


def test_new_york_dst_days(api: Api) -> None:
    salon = make_salon(api, tz="America/New_York")
    set_service(api, salon, slot_step_minutes=30, max_horizon_days=400)
    open_all_week(api, salon, "09:00", "17:00")
    for day, offset in (("2027-03-14", "-04:00"), ("2027-11-07", "-05:00")):
        slots = availability(api, salon, day)["calendars"][0]["slots"]
        # 8 hours of 45-minute appointments every 30 minutes: 09:00 to 16:00.
        assert len(slots) == 15 and slots[0] == f"{day}T09:00:00{offset}", slots
        assert slots[-1] == f"{day}T16:00:00{offset}"
    open_all_week(api, salon, "01:00", "04:00")
    spring = availability(api, salon, "2027-03-14")["calendars"][0]["slots"]
    assert all("T02:" not in slot for slot in spring)  # 02:00-03:00 does not exist
    assert len(spring) == 3  # two real hours: 01:00, 01:30 (-05:00) and 03:00 (-04:00)


def test_blocked_time_repeating_and_several_calendars(api: Api) -> None:
    salon = make_salon(api)
    open_all_week(api, salon)
    other = api.ok("POST", f"/businesses/{salon.business}/calendars", 201,
                   json={"name": "Bo"})["id"]
    open_all_week(api, salon, calendar=other)
    set_service(api, salon, slot_step_minutes=60)
    block(api, salon, start="2026-11-24T12:00:00", end="2026-11-24T13:00:00",
          rrule="FREQ=DAILY", title="Lunch")
    answer = availability(api, salon, DAY, calendars=[salon.calendar, other])
    assert [c["calendar_id"] for c in answer["calendars"]] == [salon.calendar, other]
    assert "12:00" not in local_times(answer, 0) and "11:00" in local_times(answer, 0)
    assert "12:00" in local_times(answer, 1)


def test_public_view_shows_times_only(api: Api, server: LiveServer) -> None:
    salon = make_salon(api)
    open_all_week(api, salon)
    book(api, salon, f"{DAY}T10:00:00")
    public = Api(server.url, key=None)
    answer = availability(public, salon, DAY)
    assert answer["calendars"][0]["explain"] is None
    assert len(answer["calendars"][0]["slots"]) == 25  # 30 starts, 09:30-10:30 taken
    assert "booking" not in public.get("/availability", params={
        "business_id": salon.business, "service_id": salon.service,
        "calendar_id": salon.calendar, "start": DAY}).text
    assert_error(public.get("/availability", params={
        "business_id": salon.business, "service_id": salon.service,
        "calendar_id": salon.calendar, "start": DAY, "explain": "true"}), 401)
    # Inactive calendars do not exist for the public.
    api.ok("PATCH", f"/businesses/{salon.business}/calendars/{salon.calendar}",
           json={"active": False})
    assert_error(public.get("/availability", params={
        "business_id": salon.business, "service_id": salon.service,
        "calendar_id": salon.calendar, "start": DAY}), 404)


def test_bad_input_is_a_clear_4xx(api: Api) -> None:
    salon = make_salon(api)
    base = {"business_id": salon.business, "service_id": salon.service,
            "calendar_id": salon.calendar}
    assert_error(api.get("/availability", params={**base, "start": DAY, "end": DAY}), 422,
                 contains="end must be after start")
    assert_error(api.get("/availability", params={**base, "start": "2026-11-01",
                                                  "end": "2027-11-01"}), 422,
                 contains="at most 62 days")
    assert_error(api.get("/availability", params={**base, "start": "yesterday"}), 422)
    for start, end in (("9999-12-31", None), ("9999-12-30", "9999-12-31"),
                       ("0001-01-01", "0001-01-02")):  # the window's margins overflow a date
        params = {**base, "start": start, **({"end": end} if end else {})}
        assert_error(api.get("/availability", params=params), 422, contains="between")
        assert_error(Api(api.base, key=None).get("/availability", params=params), 422,
                     contains="between")
    for start in ("0001-01-01T00:00:00", "9999-12-31T23:00:00+00:00"):  # bookings too
        for source in ("online", "staff"):
            assert_error(api.post(f"/businesses/{salon.business}/bookings", json={
                "calendar_id": salon.calendar, "service_id": salon.service, "start": start,
                "source": source}), 422, contains="dates must lie between 1900-01-01 and")
    assert api.ok("GET", f"/businesses/{salon.business}/bookings", params={
        "start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"})["items"] == []
    assert_error(api.get("/availability", params={**base, "start": DAY, "calendar_id": 999}),
                 404)
    # Calendars x days is bounded too (availability.max_calendar_days, 620): the public page
    # cannot ask for 50 calendars x 62 days of slots in one request.
    many = [salon.calendar] + [api.ok("POST", f"/businesses/{salon.business}/calendars", 201,
                                      json={"name": f"Chair {n}"})["id"] for n in range(10)]
    for key in (None, HOST_KEY):
        assert_error(Api(api.base, key=key).get("/availability", params={
            **base, "calendar_id": many, "start": "2026-12-01", "end": "2027-02-01"}), 422,
            contains="at most 620 calendar-days")
    answer = api.ok("GET", "/availability", params={**base, "calendar_id": many,
                                                     "start": "2026-12-01",
                                                     "end": "2027-01-26"})  # 11 x 56 = 616
    assert len(answer["calendars"]) == 11
    other = api.ok("POST", "/businesses", 201, json={"name": "B", "timezone": "UTC"})["id"]
    key = api.ok("POST", f"/businesses/{other}/keys", 201, json={"label": "x"})["key"]
    assert_error(Api(api.base, key=key).get("/availability", params={**base, "start": DAY}),
                 403)


def test_explain_names_every_reason(api: Api) -> None:
    salon = make_salon(api, buffer_after=15)
    open_all_week(api, salon, "09:00", "13:00")
    set_service(api, salon, slot_step_minutes=60, buffer_before_minutes=30)
    booking = book(api, salon, f"{DAY}T10:00:00")
    blocked = block(api, salon, start=f"{DAY}T12:00:00", end=f"{DAY}T13:00:00")
    answer = availability(api, salon, DAY, explain="true")
    calendar = answer["calendars"][0]
    assert [s[11:16] for s in calendar["slots"]] == []
    explain = calendar["explain"]
    kinds = {(r["type"], r["id"]) for r in explain["unavailable"]}
    assert ("booking", str(booking["id"])) in kinds
    assert ("buffer", str(booking["id"])) in kinds
    assert ("blocked_time", str(blocked["id"])) in kinds
    assert ("outside_hours", None) in kinds
    refused = {run["first"][11:16]: [(r["type"], r["id"]) for r in run["reasons"]]
               for run in explain["refused"]}
    # The booking takes 09:30-11:00 with its buffers: a start at 09:00 or 11:00 would only
    # touch them with buffers, one at 10:00 the appointment itself.
    assert refused["09:00"] == [("buffer", str(booking["id"]))]
    assert refused["10:00"] == [("booking", str(booking["id"]))]
    assert refused["11:00"] == [("buffer", str(booking["id"]))]
    assert refused["12:00"] == [("blocked_time", str(blocked["id"]))]
    assert explain["google"] is None and explain["warnings"] == []


def test_service_rules_default_from_the_configuration(api: Api) -> None:
    salon = make_salon(api)
    path = f"/businesses/{salon.business}/services/{salon.service}"
    assert {k: api.ok("GET", path)[k] for k in ("slot_step_minutes", "min_notice_minutes",
                                                "max_horizon_days")} == {
        "slot_step_minutes": None, "min_notice_minutes": None, "max_horizon_days": None}
    open_all_week(api, salon)
    assert len(availability(api, salon, DAY)["calendars"][0]["slots"]) == 30  # every 15 min
    api.ok("PATCH", path, json={"slot_step_minutes": 60, "max_horizon_days": 30})
    assert len(availability(api, salon, DAY)["calendars"][0]["slots"]) == 8
    changed = api.ok("PATCH", path, json={"slot_step_minutes": None})
    assert (changed["slot_step_minutes"], changed["max_horizon_days"]) == (None, 30)
    assert len(availability(api, salon, DAY)["calendars"][0]["slots"]) == 30
    assert_error(api.patch(path, json={"slot_step_minutes": 0}), 422)

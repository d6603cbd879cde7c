"""The JSON API over real HTTP, on SQLite and PostgreSQL: CRUD of every resource, paging, keys,
and every error status in the documented shape."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import pytest

from support import (
    HOST_KEY, Api, LiveServer, assert_error, iter_pages, make_runtime, make_salon, start_server,
)


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    live = start_server(make_runtime(tmp_path, database_url,
                                     extra="[server]\nmax_body_bytes = 65536\n"))
    yield live
    live.stop()


@pytest.fixture
def api(server: LiveServer) -> Api:
    return Api(server.url)


def test_business_calendar_service_client_crud(api: Api) -> None:
    business = api.ok("POST", "/businesses", 201,
                      json={"name": "Salon Vita", "timezone": "Europe/Copenhagen"})
    base = f"/businesses/{business['id']}"
    assert api.ok("GET", base)["name"] == "Salon Vita"
    assert api.ok("PATCH", base, json={"name": "Salon Vita ApS"})["name"] == "Salon Vita ApS"
    assert [b["id"] for b in api.ok("GET", "/businesses")["items"]] == [business["id"]]

    calendar = api.ok("POST", f"{base}/calendars", 201,
                      json={"name": "Søren Ågård", "colour": "#112233"})
    assert calendar["slug"] == "s-ren-g-rd"
    assert calendar["timezone"] == "Europe/Copenhagen"
    changed = api.ok("PATCH", f"{base}/calendars/{calendar['id']}",
                     json={"slug": "soeren", "timezone": "America/New_York"})
    assert (changed["slug"], changed["timezone"]) == ("soeren", "America/New_York")
    assert changed["sync_token"] != calendar["sync_token"]
    assert api.ok("GET", f"{base}/calendars")["items"][0]["id"] == calendar["id"]

    service = api.ok("POST", f"{base}/services", 201,
                     json={"name": "Colour", "duration_minutes": 90,
                           "buffer_before_minutes": 10})
    assert api.ok("PATCH", f"{base}/services/{service['id']}",
                  json={"duration_minutes": 60})["duration_minutes"] == 60
    assert len(api.ok("GET", f"{base}/services")["items"]) == 1

    client = api.ok("POST", f"{base}/clients", 201,
                    json={"name": "Ida Jensen", "phone": "+45 12 34 56 78"})
    assert api.ok("GET", f"{base}/clients/{client['id']}")["phone"] == "+45 12 34 56 78"
    assert api.ok("PATCH", f"{base}/clients/{client['id']}",
                  json={"notes": "Prefers mornings"})["notes"] == "Prefers mornings"

    api.ok("DELETE", f"{base}/clients/{client['id']}", 204)
    api.ok("DELETE", f"{base}/services/{service['id']}", 204)
    api.ok("DELETE", f"{base}/calendars/{calendar['id']}", 204)
    assert_error(api.get(f"{base}/calendars/{calendar['id']}"), 404, "not_found")
    assert api.ok("GET", f"{base}/calendars")["items"] == []
    api.ok("DELETE", base, 204)
    assert_error(api.get(base), 404, "not_found")


def test_booking_lifecycle(api: Api) -> None:
    salon = make_salon(api, buffer_after=15)
    base = f"/businesses/{salon.business}"
    booking = api.ok("POST", f"{base}/bookings", 201, json={
        "calendar_id": salon.calendar, "service_id": salon.service, "client_id": salon.client,
        "start": "2026-12-01T10:00", "location": "Chair 2", "notes": "First visit"})
    assert booking["start"] == "2026-12-01T10:00:00+01:00"
    assert booking["end"] == "2026-12-01T10:45:00+01:00"
    assert booking["occupied_end"] == "2026-12-01T11:00:00+01:00"
    assert booking["start_local"] == "2026-12-01T10:00:00"
    assert (booking["status"], booking["source"]) == ("confirmed", "staff")

    moved = api.ok("PATCH", f"{base}/bookings/{booking['id']}",
                   json={"start": "2026-12-01T14:00:00+01:00", "notes": None})
    assert (moved["start"], moved["end"]) == ("2026-12-01T14:00:00+01:00",
                                              "2026-12-01T14:45:00+01:00")
    assert moved["notes"] is None and moved["location"] == "Chair 2"
    assert moved["revision"] == 1 and moved["sequence"] > booking["sequence"]
    assert moved["uid"] == booking["uid"]

    # The old time is free again, the new one is not.
    other = api.ok("POST", f"{base}/bookings", 201, json={
        "calendar_id": salon.calendar, "service_id": salon.service,
        "start": "2026-12-01T10:00"})
    cancelled = api.ok("POST", f"{base}/bookings/{booking['id']}/cancel")
    assert cancelled["status"] == "cancelled"
    # A cancelled booking blocks nothing.
    api.ok("POST", f"{base}/bookings", 201, json={
        "calendar_id": salon.calendar, "service_id": salon.service,
        "start": "2026-12-01T14:00"})
    assert api.ok("GET", f"{base}/bookings/{booking['id']}")["status"] == "cancelled"
    api.ok("DELETE", f"{base}/bookings/{other['id']}", 204)
    assert_error(api.get(f"{base}/bookings/{other['id']}"), 404, "not_found")


def test_overlap_is_refused_naming_what_it_hits(api: Api) -> None:
    salon = make_salon(api, buffer_after=15)
    base = f"/businesses/{salon.business}"
    first = api.ok("POST", f"{base}/bookings", 201, json={
        "calendar_id": salon.calendar, "service_id": salon.service,
        "start": "2026-12-01T10:00"})
    # 10:45 is free of the booking itself but inside its 15-minute buffer.
    body = assert_error(api.post(f"{base}/bookings", json={
        "calendar_id": salon.calendar, "service_id": salon.service,
        "start": "2026-12-01T10:50"}), 409, "conflict", f"booking {first['id']}")
    assert body["details"]["conflicts"][0] == {
        "type": "booking", "id": first["id"], "start": "2026-12-01T09:00:00+00:00",
        "end": "2026-12-01T10:00:00+00:00"}
    # Exactly at the end of the buffer is fine.
    api.ok("POST", f"{base}/bookings", 201, json={
        "calendar_id": salon.calendar, "service_id": salon.service,
        "start": "2026-12-01T11:00"})
    lunch = api.ok("POST", f"{base}/blocked-times", 201, json={
        "calendar_id": salon.calendar, "title": "Lunch", "start": "2026-12-02T12:00",
        "end": "2026-12-02T12:30", "rrule": "FREQ=DAILY;COUNT=30"})
    body = assert_error(api.post(f"{base}/bookings", json={
        "calendar_id": salon.calendar, "service_id": salon.service,
        "start": "2026-12-20T11:30"}), 409, "conflict", f"blocked time {lunch['id']}")
    assert body["details"]["conflicts"][0]["type"] == "blocked_time"
    # Blocked time may not be laid over a booking either.
    assert_error(api.post(f"{base}/blocked-times", json={
        "calendar_id": salon.calendar, "start": "2026-12-01T08:00",
        "end": "2026-12-01T18:00"}), 409, "conflict", f"booking {first['id']}")
    # Moving into a taken slot is refused and leaves the booking where it was.
    second = api.ok("POST", f"{base}/bookings", 201, json={
        "calendar_id": salon.calendar, "service_id": salon.service,
        "start": "2026-12-03T09:00"})
    assert_error(api.patch(f"{base}/bookings/{second['id']}",
                           json={"start": "2026-12-01T10:30"}), 409, "conflict")
    assert api.ok("GET", f"{base}/bookings/{second['id']}")["start"] == \
        "2026-12-03T09:00:00+01:00"


def test_blocked_time_and_opening_hours(api: Api) -> None:
    salon = make_salon(api)
    base = f"/businesses/{salon.business}"
    item = api.ok("POST", f"{base}/blocked-times", 201, json={
        "calendar_id": salon.calendar, "title": "Team meeting", "start": "2026-12-07T09:00",
        "end": "2026-12-07T10:00", "rrule": "FREQ=WEEKLY;BYDAY=MO",
        "exdates": ["2026-12-14T09:00"]})
    assert item["rrule"] == "FREQ=WEEKLY;BYDAY=MO" and item["exdates"] == ["2026-12-14T09:00:00"]
    # The excluded Monday is bookable, the next one is not.
    api.ok("POST", f"{base}/bookings", 201, json={
        "calendar_id": salon.calendar, "service_id": salon.service, "start": "2026-12-14T09:00"})
    assert_error(api.post(f"{base}/bookings", json={
        "calendar_id": salon.calendar, "service_id": salon.service,
        "start": "2026-12-21T09:00"}), 409)
    holiday = api.ok("POST", f"{base}/blocked-times", 201, json={
        "calendar_id": salon.calendar, "title": "Holiday", "all_day": True,
        "start": "2026-12-24", "end": "2026-12-27"})
    assert holiday["start"] == "2026-12-24T00:00:00+01:00"
    assert holiday["end"] == "2026-12-27T00:00:00+01:00"
    changed = api.ok("PATCH", f"{base}/blocked-times/{item['id']}", json={"rrule": None})
    assert changed["rrule"] is None and changed["revision"] == 1
    api.ok("POST", f"{base}/bookings", 201, json={
        "calendar_id": salon.calendar, "service_id": salon.service, "start": "2026-12-21T09:00"})
    assert len(api.ok("GET", f"{base}/blocked-times",
                      params={"calendar_id": salon.calendar})["items"]) == 2
    api.ok("DELETE", f"{base}/blocked-times/{holiday['id']}", 204)

    cal = f"{base}/calendars/{salon.calendar}"
    weekly = api.ok("PUT", f"{cal}/opening-hours", json={"intervals": [
        {"weekday": 0, "opens": "09:00", "closes": "12:00"},
        {"weekday": 0, "opens": "13:00", "closes": "17:00"},
        {"weekday": 5, "opens": "10:00", "closes": "14:00"}]})
    assert [(i["weekday"], i["opens"]) for i in weekly["intervals"]] == [
        (0, "09:00:00"), (0, "13:00:00"), (5, "10:00:00")]
    assert len(api.ok("GET", f"{cal}/opening-hours")["intervals"]) == 3
    assert_error(api.put(f"{cal}/opening-hours", json={"intervals": [
        {"weekday": 0, "opens": "09:00", "closes": "12:00"},
        {"weekday": 0, "opens": "11:00", "closes": "17:00"}]}), 422, "invalid", "overlap")
    assert_error(api.put(f"{cal}/opening-hours", json={"intervals": [
        {"weekday": 7, "opens": "09:00", "closes": "12:00"}]}), 422, "invalid")
    closed = api.ok("PUT", f"{cal}/opening-exceptions/2026-12-24", json={"note": "Christmas"})
    assert closed["items"][0]["closed"] is True
    api.ok("PUT", f"{cal}/opening-exceptions/2026-12-23",
           json={"intervals": [{"opens": "09:00", "closes": "13:00"}]})
    days = api.ok("GET", f"{cal}/opening-exceptions")["items"]
    assert [(d["day"], d["closed"]) for d in days] == [("2026-12-23", False),
                                                       ("2026-12-24", True)]
    api.ok("DELETE", f"{cal}/opening-exceptions/2026-12-24", 204)
    assert_error(api.delete(f"{cal}/opening-exceptions/2026-12-24"), 404)


def test_listing_pages_through_a_range(api: Api) -> None:
    salon = make_salon(api)
    base = f"/businesses/{salon.business}"
    ids = [api.ok("POST", f"{base}/bookings", 201, json={
        "calendar_id": salon.calendar, "service_id": salon.service,
        "start": f"2026-12-{1 + n // 5:02d}T{9 + n % 5:02d}:00"})["id"] for n in range(23)]
    params = {"start": "2026-12-01T00:00:00+01:00", "end": "2026-12-31T00:00:00+01:00",
              "calendar_id": salon.calendar, "limit": 5}
    seen = [b["id"] for b in iter_pages(api, f"{base}/bookings", params)]
    assert seen == ids
    # A range that cuts through a booking includes it; one that ends at its start does not.
    inside = api.ok("GET", f"{base}/bookings", params={
        "start": "2026-12-01T09:30:00+01:00", "end": "2026-12-01T09:31:00+01:00"})
    assert [b["id"] for b in inside["items"]] == [ids[0]]
    before = api.ok("GET", f"{base}/bookings", params={
        "start": "2026-12-01T08:00:00+01:00", "end": "2026-12-01T09:00:00+01:00"})
    assert before["items"] == []
    assert_error(api.get(f"{base}/bookings", params={**params, "cursor": "garbage"}), 400,
                 "bad_request", "cursor")
    clients = [api.ok("POST", f"{base}/clients", 201, json={"name": f"Client {n}"})["id"]
               for n in range(4)]
    listed = [c["id"] for c in iter_pages(api, f"{base}/clients", {"limit": 2})]
    assert listed == [salon.client] + clients


def test_business_keys_are_scoped_and_revocable(api: Api, server: LiveServer) -> None:
    salon = make_salon(api)
    other = make_salon(api)
    created = api.ok("POST", f"/businesses/{salon.business}/keys", 201,
                     json={"label": "booking system"})
    assert created["key"].startswith("bk_")
    keyed = Api(server.url, created["key"])
    assert [b["id"] for b in keyed.ok("GET", "/businesses")["items"]] == [salon.business]
    keyed.ok("GET", f"/businesses/{salon.business}/calendars")
    assert_error(keyed.get(f"/businesses/{other.business}/calendars"), 403, "forbidden")
    assert_error(keyed.get(f"/businesses/{other.business}/bookings/1"), 403, "forbidden")
    assert_error(keyed.post("/businesses", json={"name": "X", "timezone": "UTC"}), 403)
    assert_error(keyed.post(f"/businesses/{salon.business}/keys", json={}), 403)
    listed = api.ok("GET", f"/businesses/{salon.business}/keys")["items"]
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]
    api.ok("DELETE", f"/businesses/{salon.business}/keys/{created['id']}", 204)
    assert_error(keyed.get("/businesses"), 401, "unauthorized", "revoked")


def test_resources_of_another_business_are_not_found(api: Api) -> None:
    salon = make_salon(api)
    other = make_salon(api)
    base = f"/businesses/{other.business}"
    for path in (f"/calendars/{salon.calendar}", f"/services/{salon.service}",
                 f"/clients/{salon.client}"):
        assert_error(api.get(base + path), 404, "not_found")
    assert_error(api.post(f"{base}/bookings", json={
        "calendar_id": salon.calendar, "service_id": other.service,
        "start": "2026-12-01T10:00"}), 404, "not_found", f"calendar {salon.calendar}")


def test_every_error_status_has_the_documented_shape(api: Api, server: LiveServer) -> None:
    salon = make_salon(api)
    base = f"/businesses/{salon.business}"
    # 400: malformed JSON; 415: not JSON at all.
    assert_error(api.post("/businesses", data="{'name': ", headers={
        "Content-Type": "application/json"}), 400, "bad_request", "not valid JSON")
    assert_error(api.post("/businesses", data="name=x", headers={
        "Content-Type": "application/x-www-form-urlencoded"}), 415)
    # 401: no key, a wrong key.
    assert_error(Api(server.url, None).get("/businesses"), 401, "unauthorized")
    response = Api(server.url, "wrong").get("/businesses")
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    # 404: unknown route and unknown id; 405: wrong method.
    assert_error(api.get("/nothing-here"), 404, "not_found")
    assert_error(api.get(f"{base}/bookings/999999"), 404, "not_found", "999999")
    assert_error(api.put(f"{base}"), 405)
    # 409: a taken slug.
    assert_error(api.post(f"{base}/calendars", json={"name": "Anna Berg"}), 409, "conflict",
                 "slug")
    # 413: a body over server.max_body_bytes (64 KiB here).
    assert_error(api.post(f"{base}/clients", json={"name": "x", "notes": "n" * 70_000}), 413,
                 "payload_too_large")
    # 422: wrong types, unknown fields, impossible values.
    body = assert_error(api.post(f"{base}/services", json={
        "name": "X", "duration_minutes": "long", "colour": 1}), 422, "invalid")
    fields = {e["field"] for e in body["details"]["errors"]}
    assert {"duration_minutes", "colour"} <= fields
    assert_error(api.post(f"{base}/bookings", json={
        "calendar_id": salon.calendar, "service_id": salon.service,
        "start": "2026-12-01T10:00", "end": "2026-12-01T09:00"}), 422, "invalid", "after")
    assert_error(api.post(f"{base}/calendars", json={"name": "X", "slug": "Not Safe!"}), 422,
                 "invalid", "URL-safe")
    assert_error(api.post(f"{base}/blocked-times", json={
        "calendar_id": salon.calendar, "start": "2026-12-01T10:00", "end": "2026-12-01T11:00",
        "rrule": "FREQ=SOMETIMES"}), 422, "invalid", "RRULE")
    assert_error(api.get(f"{base}/bookings", params={"start": "2026-12-01T00:00",
                                                     "end": "2026-12-02T00:00"}), 422)
    # 409 for deleting what is still in use.
    api.ok("POST", f"{base}/bookings", 201, json={
        "calendar_id": salon.calendar, "service_id": salon.service, "client_id": salon.client,
        "start": "2026-12-01T10:00"})
    assert_error(api.delete(f"{base}/clients/{salon.client}"), 409, "conflict", "erase")
    assert_error(api.delete(f"{base}/services/{salon.service}"), 409, "conflict")
    # Nothing was written by any of the refused requests.
    assert len(api.ok("GET", f"{base}/calendars")["items"]) == 1
    assert len(api.ok("GET", f"{base}/services")["items"]) == 1
    assert len(api.ok("GET", f"{base}/clients")["items"]) == 1


def test_inactive_calendar_takes_no_bookings(api: Api) -> None:
    salon = make_salon(api)
    base = f"/businesses/{salon.business}"
    api.ok("PATCH", f"{base}/calendars/{salon.calendar}", json={"active": False})
    assert_error(api.post(f"{base}/bookings", json={
        "calendar_id": salon.calendar, "service_id": salon.service,
        "start": "2026-12-01T10:00"}), 409, "conflict", "inactive")


def test_openapi_document_declares_the_api(api: Api, server: LiveServer) -> None:
    document = Api(server.url, None).ok("GET", "/openapi.json")
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path in ("/api/v1/businesses", "/api/v1/businesses/{business_id}/bookings",
                 "/api/v1/businesses/{business_id}/clients/{client_id}/erase",
                 "/api/v1/businesses/{business_id}/calendars/{calendar_id}/changes",
                 "/api/v1/businesses/{business_id}/caldav/accounts",
                 "/api/v1/businesses/{business_id}/caldav/accounts/{account_id}",
                 "/api/v1/businesses/{business_id}/caldav/accounts/{account_id}/calendars",
                 "/api/v1/businesses/{business_id}/caldav/accounts/{account_id}/sync",
                 "/api/v1/businesses/{business_id}/caldav/accounts/{account_id}/reconnect"):
        assert path in paths, path
    accounts = paths["/api/v1/businesses/{business_id}/caldav/accounts/{account_id}"]
    assert set(accounts) >= {"get", "patch", "delete"}
    assert accounts["patch"]["responses"]["422"]["content"]["application/json"]["schema"][
        "$ref"].endswith("ErrorResponse")
    schemas = document["components"]["schemas"]
    assert "password" in schemas["CalDAVConnectIn"]["properties"]
    for model in ("CalDAVAccountOut", "CalDAVConnectedOut", "CalDAVCalendarStatus",
                  "CalDAVRemoteCalendar"):  # no answer carries a password
        assert not [name for name in schemas[model]["properties"] if "password" in name], model
    create = paths["/api/v1/businesses/{business_id}/bookings"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "BookingIn")
    assert create["responses"]["409"]["content"]["application/json"]["schema"][
        "$ref"].endswith("ErrorResponse")
    assert "ErrorResponse" in document["components"]["schemas"]


def test_access_log_and_metrics_never_hold_tokens_or_client_data(
        api: Api, server: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    salon = make_salon(api)
    marker = "Zebulon Quixote-Marker"
    base = f"/businesses/{salon.business}"
    client = api.ok("POST", f"{base}/clients", 201, json={"name": marker, "email": "z@q.example"})
    api.ok("GET", f"{base}/clients/{client['id']}")
    api.post(f"{base}/clients", json={"name": marker, "bogus": marker})
    Api(server.url, "guess-" + marker).get("/businesses")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "/api/v1/businesses/<int:business_id>/clients" in text
    for secret in (marker, "z@q.example", HOST_KEY, "guess-"):
        assert secret not in text
    response = Api(server.url, None).get(server.url + "/metrics")
    assert response.status_code == 200, response.text
    assert 'route="/api/v1/businesses/<int:business_id>/clients/<int:client_id>"' in response.text
    assert f"/businesses/{salon.business}/" not in response.text
    assert marker not in response.text

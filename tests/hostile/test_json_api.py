"""Hostile JSON bodies over real HTTP (issue 12, item 5): objects and arrays nested hundreds to
a hundred thousand levels deep, with any valid key, are refused with 400 in the documented error
shape, quickly, and leave the server answering; a body at the depth limit is read as usual."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import pytest

from server.api.body import MAX_DEPTH
from support import (
    HOST_KEY, Api, LiveServer, assert_error, make_runtime, make_salon, start_server,
)



@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    live = start_server(make_runtime(tmp_path, database_url,
                                     extra="[server]\nmax_body_bytes = 1048576\n"))
    yield live
    live.stop()


@pytest.fixture
def api(server: LiveServer) -> Api:
    return Api(server.url)


def nested(levels: int, kind: str) -> str:
    """A JSON text whose arrays or objects nest `levels` deep."""
    if kind == "array":
        return "[" * levels + "]" * levels
    return '{"a":' * (levels - 1) + "{}" + "}" * (levels - 1)


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 900, 1000, 100_000])
@pytest.mark.parametrize("kind", ["array", "object"])
def test_deeply_nested_bodies_are_refused_with_400(api: Api, levels: int, kind: str,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    salon = make_salon(api)
    base = f"/businesses/{salon.business}"
    deep = nested(levels, kind)
    targets = [
        ("POST", "/businesses", deep),
        ("POST", "/businesses", '{"name": "Salon", "timezone": ' + deep + "}"),
        ("PATCH", f"{base}/clients/{salon.client}", '{"notes": ' + deep + "}"),
        ("PUT", f"{base}/calendars/{salon.calendar}/opening-hours",
         '{"intervals": [' + deep + "]}"),
        ("POST", f"{base}/blocked-times", '{"calendar_id": 1, "exdates": ' + deep + "}"),
    ]
    for method, path, text in targets:
        # A parser that recursed or spun would fail on the client's timeout (no stopwatch here).
        answer = api.request(method, path, data=text,
                             headers={"Content-Type": "application/json"})
        assert_error(answer, 400, "bad_request", f"more than {MAX_DEPTH} levels deep")
    # The server is fine, and nothing was written.
    assert api.ok("GET", f"{base}/clients/{salon.client}")["notes"] is None
    assert len(api.ok("GET", "/businesses")["items"]) == 1
    assert caplog.text.count("\n") > 5, caplog.text  # the access log is captured
    assert HOST_KEY not in caplog.text and "Jens Hansen" not in caplog.text
    assert "incident" not in caplog.text  # no unexpected error was logged either


def test_a_body_at_the_depth_limit_is_read(api: Api) -> None:
    salon = make_salon(api)
    # At the limit the body reaches the model, which names the field it cannot take.
    body = '{"notes": ' + nested(MAX_DEPTH - 1, "array") + "}"
    assert_error(api.patch(f"/businesses/{salon.business}/clients/{salon.client}", data=body,
                           headers={"Content-Type": "application/json"}), 422, "invalid",
                 "notes")


@pytest.mark.parametrize("path, field, value", [
    ("/services", "duration_minutes", "30"),
    ("/services", "duration_minutes", True),
    ("/services", "duration_minutes", 30.5),
    ("/services", "active", "true"),
    ("/services", "active", 1),
    ("/bookings", "start", 1800000000),
    ("/bookings", "start", 1800000000.5),
    ("/bookings", "calendar_id", "1"),
    ("/links", "expires_at", 1800000000),
    ("/clients", "name", 42),
    ("/blocked-times", "start", 1800000000),
])
def test_json_values_of_the_wrong_type_are_not_coerced(api: Api, path: str, field: str,
                                                       value: object) -> None:
    salon = make_salon(api)
    bodies: dict[str, dict[str, object]] = {
        "/services": {"name": "Colour", "duration_minutes": 30},
        "/bookings": {"calendar_id": salon.calendar, "service_id": salon.service,
                      "start": "2026-12-01T10:00"},
        "/links": {"scope": "all", "profile": "busy"},
        "/clients": {"name": "Ida"},
        "/blocked-times": {"calendar_id": salon.calendar, "start": "2026-12-02T10:00",
                           "end": "2026-12-02T11:00"},
    }
    body = {**bodies[path], field: value}
    found = assert_error(api.post(f"/businesses/{salon.business}{path}", json=body), 422,
                         "invalid", field)
    assert [problem["field"] for problem in found["details"]["errors"]] == [field]
    # The same body with the value as the document declares it is taken.
    assert api.post(f"/businesses/{salon.business}{path}", json=bodies[path]).status_code == 201


@pytest.mark.parametrize("opens", ["07:00:00+01:00", "07:00Z", "7:00", "07:00:00.5", 700, "25:00"])
def test_opening_hours_take_a_wall_clock_time_of_day(api: Api, opens: object) -> None:
    salon = make_salon(api)
    path = f"/businesses/{salon.business}/calendars/{salon.calendar}/opening-hours"
    assert_error(api.put(path, json={"intervals": [
        {"weekday": 0, "opens": opens, "closes": "17:00"}]}), 422, "invalid", "opens")
    answer = api.ok("PUT", path, json={"intervals": [
        {"weekday": 0, "opens": "07:00", "closes": "17:00:00"}]})
    assert answer["intervals"] == [{"weekday": 0, "opens": "07:00:00", "closes": "17:00:00"}]


def test_the_document_declares_what_the_answers_hold(api: Api) -> None:
    document = api.ok("GET", "/openapi.json")
    schemas = document["components"]["schemas"]
    for model in ("BookingOut", "BlockedOut"):
        for field in ("start_local", "end_local"):
            declared = schemas[model]["properties"][field]
            assert "format" not in declared and declared["pattern"], (model, field, declared)
    for model in ("WeeklyIntervalOut", "IntervalIn"):
        assert "format" not in schemas[model]["properties"]["opens"], model
    changes = document["paths"][
        "/api/v1/businesses/{business_id}/calendars/{calendar_id}/changes"]["get"]
    assert "410" in changes["responses"]
    assert {"200", "503"} <= set(document["paths"]["/healthz"]["get"]["responses"])
    assert {"200", "403", "404"} <= set(document["paths"]["/metrics"]["get"]["responses"])


@pytest.mark.parametrize("text", [
    '"{\\"name\\": \\"Salon\\", \\"timezone\\": \\"Europe/Copenhagen\\"}"',
    '"' + "[" * 5000 + "]" * 5000 + '"', "[]", "5", "null", "true"])
def test_a_body_that_is_not_an_object_is_refused(api: Api, text: str) -> None:
    answer = api.post("/businesses", data=text, headers={"Content-Type": "application/json"})
    assert_error(answer, 422, "invalid", "JSON object")
    assert api.ok("GET", "/businesses")["items"] == []

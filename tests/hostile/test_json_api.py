"""Hostile JSON bodies over real HTTP (issue 12, item 5): objects and arrays nested hundreds to
a hundred thousand levels deep, with any valid key, are refused with 400 in the documented error
shape, quickly, and leave the server answering; a body at the depth limit is read as usual."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest

from server.api.body import MAX_DEPTH
from support import Api, LiveServer, assert_error, make_runtime, make_salon, start_server

PROMPT = 5.0


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
def test_deeply_nested_bodies_are_refused_with_400(api: Api, levels: int, kind: str) -> None:
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
        began = time.monotonic()
        answer = api.request(method, path, data=text,
                             headers={"Content-Type": "application/json"})
        assert time.monotonic() - began < PROMPT
        assert_error(answer, 400, "bad_request", f"more than {MAX_DEPTH} levels deep")
    # The server is fine, and nothing was written.
    assert api.ok("GET", f"{base}/clients/{salon.client}")["notes"] is None
    assert len(api.ok("GET", "/businesses")["items"]) == 1


def test_a_body_at_the_depth_limit_is_read(api: Api) -> None:
    salon = make_salon(api)
    # At the limit the body reaches the model, which names the field it cannot take.
    body = '{"notes": ' + nested(MAX_DEPTH - 1, "array") + "}"
    assert_error(api.patch(f"/businesses/{salon.business}/clients/{salon.client}", data=body,
                           headers={"Content-Type": "application/json"}), 422, "invalid",
                 "notes")

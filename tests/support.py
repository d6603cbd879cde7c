"""Test helpers: a configuration in a temporary folder, a real server on an ephemeral loopback
port (waitress in a thread, as `bookingcal serve` runs it), and an API client speaking HTTP."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import pytest
import requests
import waitress

from pgbouncer import DIRECT_URLS  # imported as one module by `support` and `tests.support`
from server.api.schemas.base import ErrorResponse
from server.app import create_app
from server.clock import FixedClock
from server.config import Config, load
from server.db.migrate import upgrade
from server.runtime import Runtime, build_runtime

HOST_KEY = "test-host-key-0123456789"
# The injected clock of the tests that run entirely on one (make_runtime, start_server): a Tuesday
# in late November; both DST changes of 2027 lie within the default windows. Only a test whose
# every part reads this clock may book a literal date (see tests/README.md).
NOW = dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.timezone.utc)


def real_now() -> dt.datetime:
    """The real current instant (UTC): the clock of every process a test cannot hand a clock."""
    return dt.datetime.now(dt.timezone.utc)


def monday_after_next(tz: str = "Europe/Copenhagen", now: dt.datetime | None = None) -> dt.date:
    """The Monday after next in `tz`, seen from the real now (or `now`): 8 to 14 days ahead, so
    every booking made in the week it starts is in the future for every process of the test,
    whatever the date the suite runs on."""
    today = (now or real_now()).astimezone(ZoneInfo(tz)).date()
    return today + dt.timedelta(days=14 - today.weekday())


def local_time(day: dt.date, hour: int, minute: int = 0,
               tz: str = "Europe/Copenhagen") -> dt.datetime:
    """`hour:minute` wall-clock time of `day` in `tz`, as an aware datetime."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ZoneInfo(tz))


def local_iso(day: dt.date, hour: int, minute: int = 0, tz: str = "Europe/Copenhagen") -> str:
    """`local_time` as the API takes it: ISO 8601 with the zone's offset of that day."""
    return local_time(day, hour, minute, tz).isoformat()


# `pytestmark = WITH_PGBOUNCER` in a module: its tests using `database_url` also run through
# PgBouncer in transaction pooling mode (tests/pgbouncer.py).
WITH_PGBOUNCER = pytest.mark.parametrize("database_url", [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    pytest.param("pgbouncer", id="pgbouncer", marks=pytest.mark.postgres),
], indirect=True)


def make_config(folder: Path, database_url: str, extra: str = "", **environ: str) -> Config:
    """A configuration file in `folder` (data under folder/data), loaded with the given
    database and host key in its environment (and the direct URL when it is a pooler's)."""
    path = folder / "bookingcal.toml"
    path.write_text('data_dir = "data"\n' + extra, encoding="utf-8")
    env = {"BOOKINGCAL_DATABASE_URL": database_url, "BOOKINGCAL_HOST_KEY": HOST_KEY, **environ}
    if database_url in DIRECT_URLS:
        env.setdefault("BOOKINGCAL_DATABASE_DIRECT_URL", DIRECT_URLS[database_url])
    return load(path, environ=env)


def make_runtime(folder: Path, database_url: str, now: dt.datetime = NOW,
                 extra: str = "") -> Runtime:
    runtime = build_runtime(make_config(folder, database_url, extra), FixedClock(now))
    upgrade(runtime.db.engine)
    return runtime


@dataclass
class LiveServer:
    url: str
    runtime: Runtime
    _server: Any
    _thread: threading.Thread

    @property
    def clock(self) -> FixedClock:
        assert isinstance(self.runtime.clock, FixedClock)
        return self.runtime.clock

    def stop(self) -> None:
        """Stop serving, also while clients hold keep-alive connections: close every channel,
        so waitress's loop (which runs while any channel is open) ends at once."""
        server = self._server

        def close_all() -> None:  # runs inside waitress's loop thread, between selects
            for channel in list(server._map.values()):
                if channel is not server.trigger:
                    channel.close()
            server.trigger.close()

        server.task_dispatcher.shutdown(timeout=5)
        try:
            server.trigger.pull_trigger(close_all)
        except OSError:  # the trigger is closed already: the loop is ending on its own
            pass
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "the test server did not stop"
        # Links' feeds pre-rendered in the background (server/publishing/prerender.py) finish first.
        assert self.runtime.prerender.wait(30), "the feed pre-rendering did not finish"
        self.runtime.db.dispose()


def start_server(runtime: Runtime, threads: int = 4, keep_public_url: bool = False) -> LiveServer:
    """Serve on an ephemeral port. Unless `keep_public_url`, public_url becomes the served
    address, so the links the server prints are fetchable."""
    apps: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        return apps[0](environ, start_response)

    server = waitress.create_server(app, host="127.0.0.1", port=0,
                                    threads=threads, asyncore_loop_timeout=0.1,
                                    max_request_body_size=runtime.config.max_body_bytes + (1 << 20),
                                    clear_untrusted_proxy_headers=False)
    url = f"http://127.0.0.1:{server.effective_port}"
    if not keep_public_url:
        runtime = dataclasses.replace(runtime, config=dataclasses.replace(
            runtime.config, public_url=url + "/"))
    apps.append(create_app(runtime))
    thread = threading.Thread(target=server.run, name="test-server", daemon=True)
    thread.start()
    return LiveServer(url, runtime, server, thread)


class Api:
    """A small HTTP client for the JSON API: `api.post("/businesses", json=...)`."""

    def __init__(self, base: str, key: str | None = HOST_KEY) -> None:
        self.base = base.rstrip("/")
        self.session = requests.Session()
        if key is not None:
            self.session.headers["Authorization"] = f"Bearer {key}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = path if path.startswith("http") else f"{self.base}/api/v1{path}"
        return self.session.request(method, url, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        assert response.status_code == status, (response.status_code, response.text)
        return response.json() if response.content else None


def assert_error(response: requests.Response, status: int, code: str | None = None,
                 contains: str | None = None) -> dict[str, Any]:
    """The response is an error of the documented shape with this status (and code/message)."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    body = ErrorResponse.model_validate(response.json()).error
    assert body.status == status
    if code is not None:
        assert body.code == code, body
    if contains is not None:
        assert contains in body.message, body.message
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body.model_dump()


@dataclass
class Salon:
    """A small business made through the API: one calendar, one service, one client."""

    business: int
    calendar: int
    service: int
    client: int


def make_salon(api: Api, tz: str = "Europe/Copenhagen", buffer_after: int = 0) -> Salon:
    business = api.ok("POST", "/businesses", 201, json={"name": "Salon", "timezone": tz})["id"]
    base = f"/businesses/{business}"
    calendar = api.ok("POST", f"{base}/calendars", 201, json={"name": "Anna Berg"})["id"]
    service = api.ok("POST", f"{base}/services", 201,
                     json={"name": "Haircut", "duration_minutes": 45,
                           "buffer_after_minutes": buffer_after})["id"]
    client = api.ok("POST", f"{base}/clients", 201,
                    json={"name": "Jens Hansen", "email": "jens@example.com"})["id"]
    return Salon(business, calendar, service, client)


def iter_pages(api: Api, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    cursor = None
    while True:
        page = api.ok("GET", path, params={**params, **({"cursor": cursor} if cursor else {})})
        yield from page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return


def book(api: Api, salon: Salon, start: str, calendar: int | None = None,
         **fields: Any) -> dict[str, Any]:
    body = {"calendar_id": calendar or salon.calendar, "service_id": salon.service,
            "start": start, **fields}
    booking: dict[str, Any] = api.ok("POST", f"/businesses/{salon.business}/bookings", 201,
                                     json=body)
    return booking


def block(api: Api, salon: Salon, calendar: int | None = None, **fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = api.ok("POST", f"/businesses/{salon.business}/blocked-times", 201,
                                  json={"calendar_id": calendar or salon.calendar, **fields})
    return item


def make_link(api: Api, business: int, scope: str = "all", profile: str = "full",
              calendar_ids: list[int] | None = None, **fields: Any) -> dict[str, Any]:
    link: dict[str, Any] = api.ok("POST", f"/businesses/{business}/links", 201, json={
        "scope": scope, "profile": profile, "calendar_ids": calendar_ids or [], **fields})
    return link


def google_toml(fake: Any, secret_file: Path) -> str:
    """The [google] section pointing at a FakeGoogle (tests/fakes), its secret in a file."""
    return (f'[google]\nclient_id = "{fake.client_id}"\n'
            f'client_secret_file = "{secret_file}"\n'
            f'api_url = "{fake.url}/"\nbatch_url = "{fake.batch_uri}"\n'
            f'auth_url = "{fake.auth_uri}"\ntoken_url = "{fake.token_uri}"\n'
            f'revoke_url = "{fake.revoke_uri}"\n')


def microsoft_toml(fake: Any, secret_file: Path) -> str:
    """The [microsoft] section pointing at a FakeMicrosoft (tests/fakes), its secret in a
    file."""
    return (f'[microsoft]\nclient_id = "{fake.client_id}"\n'
            f'client_secret_file = "{secret_file}"\n'
            f'authority = "{fake.authority}"\ngraph_url = "{fake.graph}"\n'
            f'ca_file = "{fake.ca_file}"\n')

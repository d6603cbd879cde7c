"""Shared helpers of the hostile-input tests: a served runtime, raw CalDAV requests signed in as
a link, and a capture of every log record (ours and every library's) to search for secrets."""

from __future__ import annotations

import base64
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import requests

from support import Api, LiveServer, Salon, make_link, make_runtime, make_salon, start_server

CAL_NS = "urn:ietf:params:xml:ns:caldav"
# "Does not hang": generous, far above any honest answer on a loaded two-core machine.
HANG_SECONDS = 30.0
# The tests' own HTTP clients log the URLs they fetch; the server's logs are what is checked.
CLIENT_LOGGERS = ("urllib3", "requests", "caldav")


@contextlib.contextmanager
def serving(tmp_path: Path, database_url: str, extra: str = "") -> Iterator[LiveServer]:
    server = start_server(make_runtime(tmp_path, database_url, extra=extra))
    try:
        yield server
    finally:
        server.stop()


@dataclass
class World:
    """A salon made through the API with one 'all' link (full profile)."""

    live: LiveServer
    api: Api
    salon: Salon
    link: dict[str, Any]
    slug: str

    @property
    def token(self) -> str:
        return str(self.link["caldav"]["password"])

    @property
    def user(self) -> str:
        return str(self.link["caldav"]["username"])

    @property
    def principal(self) -> str:
        return f"/dav/{self.user}/"

    @property
    def calendar(self) -> str:
        return f"{self.principal}{self.slug}/"


def make_world(live: LiveServer) -> World:
    api = Api(live.url)
    salon = make_salon(api)
    link = make_link(api, salon.business)
    slug = api.ok("GET", f"/businesses/{salon.business}/calendars/{salon.calendar}")["slug"]
    return World(live, api, salon, link, slug)


def basic(user: str | bytes, password: str) -> str:
    raw = user if isinstance(user, bytes) else user.encode("utf-8")
    return "Basic " + base64.b64encode(raw + b":" + password.encode("utf-8")).decode("ascii")


def dav(live: LiveServer, method: str, path: str, body: str | bytes | None = None, *,
        user: str | bytes | None = None, password: str | None = None,
        **headers: str) -> requests.Response:
    """One raw request; signed in when a password is given. Asserts it does not hang."""
    if password is not None:
        headers.setdefault("Authorization", basic(user if user is not None else "", password))
    if body is not None:
        headers.setdefault("Content-Type", "application/xml; charset=utf-8")
    data = body.encode("utf-8") if isinstance(body, str) else body
    started = time.monotonic()
    response = requests.request(method, live.url + path, data=data, timeout=HANG_SECONDS * 3,
                                headers={"Accept-Encoding": "identity", **headers},
                                allow_redirects=False)
    assert time.monotonic() - started < HANG_SECONDS, (method, path, "took too long")
    return response


def signed_in(world: World, method: str, path: str, body: str | bytes | None = None,
              **headers: str) -> requests.Response:
    return dav(world.live, method, path, body, user=world.user, password=world.token,
               **headers)


class LogCapture(logging.Handler):
    """Every record any logger emits while active (root at DEBUG, so the access log and
    waitress's INFO lines are in too), formatted as a handler would write it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.formatter_ = logging.Formatter("%(name)s %(levelname)s %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(CLIENT_LOGGERS):
            self.records.append(record)

    def lines(self) -> list[str]:
        return [self.formatter_.format(record) for record in self.records]

    def text(self) -> str:
        return "\n".join(self.lines())


@contextlib.contextmanager
def capture_logs() -> Iterator[LogCapture]:
    root = logging.getLogger()
    capture = LogCapture()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(level)


def assert_no_secrets(capture: LogCapture, *secrets: str) -> None:
    """No secret (token, client data, path) in any log line or traceback written."""
    text = capture.text()
    found = [secret for secret in secrets if secret and secret.lower() in text.lower()]
    assert found == [], (found, [line[:300] for line in capture.lines()
                                 if any(s.lower() in line.lower() for s in found)][:5])

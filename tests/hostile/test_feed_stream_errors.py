"""Issue 12, item 8: a large feed fetched again and again over real HTTP from the real server
on PostgreSQL while every backend of its database is killed (pg_terminate_backend) every 0.2 s.
Every answer is either the whole calendar (200, every event, its Content-Length) or a clean
error (503 or our incident-id 500, JSON): never a 200 cut short, never waitress's page. CalDAV
under the same storm answers whole or 503. No log line of ours or of any library (waitress
included) holds the token or the feed's path. Then the shield and the log redaction alone."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import psycopg
import pytest
import requests
import waitress
from sqlalchemy.engine import make_url

from caldav_helpers import CAL_NS, HANG_SECONDS, assert_no_secrets, capture_logs
from server import logsafety
from server.domain import bookings
from server.web.shield import Shield
from support import Api, LiveServer, Salon, make_link, make_runtime, make_salon, start_server

BOOKINGS = 1000
STORM_SECONDS = 45.0


def killer(dsn: str, stop: threading.Event, kills: list[int]) -> None:
    """Terminate every other backend of the database every 0.2 s until stopped."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        while not stop.wait(0.2):
            rows = connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchall()
            kills[0] += sum(1 for (done,) in rows if done)


@contextlib.contextmanager
def killing(pg_url: str) -> Iterator[list[int]]:
    """While inside: the killer runs. Yields its count of terminated backends."""
    dsn = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    stop, kills = threading.Event(), [0]
    thread = threading.Thread(target=killer, args=(dsn, stop, kills), daemon=True)
    thread.start()
    try:
        yield kills
    finally:
        stop.set()
        thread.join(timeout=10)


@dataclass
class Seeded:
    live: LiveServer
    api: Api
    salon: Salon
    first: dt.datetime


@contextlib.contextmanager
def seeded(tmp_path: Path, pg_url: str, count: int = BOOKINGS) -> Iterator[Seeded]:
    """A served salon with `count` bookings (made by the domain layer, in one transaction)."""
    live = start_server(make_runtime(tmp_path, pg_url))
    try:
        api = Api(live.url)
        salon = make_salon(api)
        first = dt.datetime.combine(live.clock.now().date(), dt.time(7, 0))
        with live.runtime.db.write() as session:
            for n in range(count):
                start = first + dt.timedelta(days=n // 10, hours=n % 10)
                bookings.create_booking(session, salon.business, calendar_id=salon.calendar,
                                        service_id=salon.service, start=start,
                                        client_id=salon.client, now=live.clock.now(),
                                        notes=f"Note {n}")
        yield Seeded(live, api, salon, first)
    finally:
        live.stop()


def storm(kills: list[int], attempt: Callable[[], str]) -> Counter[str]:
    """Outcomes of `attempt` repeated until both kinds were seen often enough (or time ran out)."""
    outcomes: Counter[str] = Counter()
    deadline = time.monotonic() + STORM_SECONDS
    while time.monotonic() < deadline and (outcomes["error"] < 5 or outcomes["whole"] < 5):
        outcomes[attempt()] += 1
    return outcomes


def assert_nothing_held(world: Seeded) -> None:
    world.api.ok("POST", f"/businesses/{world.salon.business}/bookings", 201, json={
        "calendar_id": world.salon.calendar, "service_id": world.salon.service,
        "start": (world.first - dt.timedelta(days=1)).isoformat()})


def whole(response: requests.Response, expected: int) -> bool:
    text = response.text
    return (text.startswith("BEGIN:VCALENDAR") and text.rstrip().endswith("END:VCALENDAR")
            and text.count("BEGIN:VEVENT") == expected)


def fetch(url: str, encoding: str, tokens: list[str]) -> str:
    """One GET, classified: "whole", "error" (clean), or what went wrong."""
    started = time.monotonic()
    try:
        response = requests.get(url, timeout=60, headers={"Accept-Encoding": encoding})
    except requests.RequestException as exc:
        return f"broken connection ({type(exc).__name__})"
    assert time.monotonic() - started < HANG_SECONDS * 3, "the feed hung"
    if response.status_code == 200:
        return "whole" if whole(response, BOOKINGS) else "200 cut short"
    if response.status_code not in (500, 503) or not response.headers.get(
            "Content-Type", "").startswith("application/json"):
        return f"foreign {response.status_code} ({response.text[:40]!r})"
    error = response.json()["error"]
    if error["status"] != response.status_code or any(t in response.text for t in tokens):
        return "unclean error body"
    return "error"


def test_killed_connections_give_whole_feeds_or_clean_errors_and_no_token_in_logs(
        tmp_path: Path, pg_url: str) -> None:
    with seeded(tmp_path, pg_url) as world:
        full = make_link(world.api, world.salon.business)
        limited = make_link(world.api, world.salon.business, profile="limited")
        tokens = [full["token"], limited["token"]]
        for link in (full, limited):
            warm = requests.get(link["feed_url"], timeout=120)
            assert warm.status_code == 200 and whole(warm, BOOKINGS)
        rounds = itertools.cycle([(link["feed_url"], encoding) for link in (full, limited)
                                  for encoding in ("gzip", "identity")])
        with capture_logs() as logs, killing(pg_url) as kills:
            outcomes = storm(kills, lambda: fetch(*next(rounds), tokens))
        # First what the issue saw: the token (and the feed's path) in a log line.
        assert_no_secrets(logs, *tokens, "/feeds/bcl_", "while serving /")
        # Then what the clients saw: only whole feeds and clean errors. The storm hit the
        # server's connections (every backend but the killer's is the server's) and feeds kept
        # coming whole; clean errors may or may not happen: the feed's one query is retried
        # once on a dropped connection (server/db/quickread.py) and a warm feed needs no other.
        assert set(outcomes) <= {"whole", "error"}, outcomes
        assert kills[0] > 0 and outcomes["whole"] > 0, (kills, outcomes)
        # Nothing is held afterwards: the feed is whole again and the API writes.
        after = requests.get(full["feed_url"], timeout=60)
        assert after.status_code == 200 and whole(after, BOOKINGS)
        assert_nothing_held(world)


def test_killed_connections_give_whole_caldav_answers_or_clean_errors(
        tmp_path: Path, pg_url: str) -> None:
    with seeded(tmp_path, pg_url, count=100) as world:
        link = make_link(world.api, world.salon.business)
        slug = world.api.ok("GET", f"/businesses/{world.salon.business}/calendars/"
                                   f"{world.salon.calendar}")["slug"]
        path = f"{world.live.url}/dav/{link['caldav']['username']}/{slug}/"
        auth = (link["caldav"]["username"], link["caldav"]["password"])
        # Three days of bookings (30): short enough for some queries to get through the storm.
        days = 3
        start = world.first.strftime("%Y%m%dT000000Z")
        end = (world.first + dt.timedelta(days=days)).strftime("%Y%m%dT000000Z")
        body = (f'<C:calendar-query xmlns:D="DAV:" xmlns:C="{CAL_NS}"><D:prop><D:getetag/>'
                "<C:calendar-data/></D:prop><C:filter><C:comp-filter name=\"VCALENDAR\">"
                f'<C:comp-filter name="VEVENT"><C:time-range start="{start}" end="{end}"/>'
                "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>")

        # The whole calendar too, as a phone's first sync asks for it (the fast path's
        # spooled answers): every member's <response> or a clean error.
        listing = ('<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>')
        first_sync = ('<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1'
                      "</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>")
        requests_made = itertools.count()

        def query() -> str:
            method, data, expected, marker = [
                ("REPORT", body, days * 10, "BEGIN:VEVENT"),
                ("PROPFIND", listing, 100 + 1, "<response>"),
                ("REPORT", first_sync, 100, "<response>")][next(requests_made) % 3]
            try:
                response = requests.request(method, path, data=data, auth=auth, timeout=60,
                                            headers={"Depth": "1",
                                                     "Content-Type": "application/xml"})
            except requests.RequestException as exc:
                return f"broken connection ({type(exc).__name__})"
            if response.status_code == 207:
                complete = response.text.count(marker) == expected and \
                    response.text.rstrip().endswith("</multistatus>")
                return "whole" if complete else "207 cut short"
            if response.status_code == 503 and response.headers.get("Retry-After"):
                return "error"
            if response.status_code == 500 and "incident" in response.text:
                return "incident"
            return f"foreign {response.status_code} ({response.text[:40]!r})"

        assert query() == "whole"
        with capture_logs() as logs, killing(pg_url) as kills:
            outcomes = storm(kills, query)
        assert_no_secrets(logs, link["caldav"]["password"], "while serving /", slug)
        # A lost connection is "try again" (503), not an incident.
        assert set(outcomes) <= {"whole", "error"}, outcomes
        assert kills[0] > 0 and outcomes["error"] > 0 and outcomes["whole"] > 0, (kills,
                                                                                   outcomes)
        assert query() == "whole"
        assert_nothing_held(world)


# --- the mechanisms on their own: the outermost shield and the log-record redaction ---------

SECRET_PATH = "/feeds/bcl_ShieldTestToken0123456789abcdefghij.ics"


def failing_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
    """A stand-in application whose body breaks: before its first byte for ?early, after it
    otherwise, as a feed would if the database went away mid-body."""
    start_response("200 OK", [("Content-Type", "text/calendar")])
    if environ.get("QUERY_STRING") == "early":
        raise RuntimeError("broken before the first byte " + environ["PATH_INFO"])
    yield b"BEGIN:VCALENDAR\r\n" * 1000
    raise RuntimeError("broken after the first bytes " + environ["PATH_INFO"])


def serve(app: Any) -> tuple[Any, threading.Thread, str]:
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=2,
                                    asyncore_loop_timeout=0.1)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return server, thread, f"http://127.0.0.1:{server.effective_port}"


def stop(server: Any, thread: threading.Thread) -> None:
    """Close every channel from inside waitress's loop, as LiveServer.stop does."""
    def close_all() -> None:
        for channel in list(server._map.values()):
            if channel is not server.trigger:
                channel.close()
        server.trigger.close()

    server.task_dispatcher.shutdown(timeout=5)
    server.trigger.pull_trigger(close_all)
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_the_shield_answers_an_incident_or_cuts_the_connection_and_names_no_path() -> None:
    logsafety.install()
    server, thread, url = serve(Shield(failing_app))
    try:
        with capture_logs() as logs:
            early = requests.get(url + SECRET_PATH + "?early", timeout=HANG_SECONDS)
            assert early.status_code == 500
            incident = early.json()["error"]["details"]["incident"]
            assert "waitress" not in early.text.lower() and "bcl_" not in early.text
            # After the first bytes: the connection is closed without ending the chunked body,
            # so the client knows it did not get the whole answer.
            with pytest.raises(requests.exceptions.ChunkedEncodingError):
                requests.get(url + SECRET_PATH, timeout=HANG_SECONDS).content
        assert incident in logs.text()
        assert "cut short" in logs.text()
        assert_no_secrets(logs, "ShieldTestToken", "/feeds/bcl_", "while serving /")
    finally:
        stop(server, thread)


def test_no_log_line_of_any_library_holds_a_token_or_credentials() -> None:
    logsafety.install()
    token = "bcl_LogTestToken0123456789abcdefghijkl"
    with capture_logs() as logs:
        logging.getLogger("waitress").info("Client disconnected while serving /feeds/%s.ics",
                                           token)
        logging.getLogger("waitress").error("Exception while serving /feeds/" + token + ".ics")
        logging.getLogger("sqlalchemy.engine").warning("parameters: %r", {"token": token})
        logging.getLogger("somelibrary").critical("Authorization: Basic %s",
                                               "bGluay0xOmJjbF9zZWNyZXQ=")
        try:
            raise ValueError(f"bad link {token}")
        except ValueError:
            logging.getLogger("bookingcal.test").exception("failed at /feeds/x%s", "y.ics")
    assert_no_secrets(logs, token, "LogTestToken", "bGluay0xOmJjbF9zZWNyZXQ", "/feeds/xy")
    assert len(logs.records) == 5

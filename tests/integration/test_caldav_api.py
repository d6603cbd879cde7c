"""/api/v1/businesses/{id}/caldav/accounts over real HTTP, against real CalDAV servers (stock
Radicale and Xandikos on loopback, tests/caldav_servers.py): connecting finds the calendars,
the settings choose one, a requested read is done at the bridge's next pass, the bridge writes a
booking's copy there and the status shows the calendar read by sync-collection, disconnecting
deletes the copy (or keeps it when asked); a refused password is a 422 that says to make an
app-specific one, and a new one reconnects the account; another business's account is a 404;
mistakes are 4xx of the one error shape; no answer ever carries the password."""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from caldav_servers import SERVERS, Quirks, Server, proxy, radicale
from caldav_world import CALDAV_TOML, TZ
from server.caldav.provider import CalDAVProvider, make_client
from server.db.models import CalDAVConnection, CalDAVMirroredEvent
from server.domain import bookings, businesses, calendars, services
from server.runtime import Runtime
from server.sync.engine import Engine
from support import NOW, Api, LiveServer, assert_error, make_runtime, start_server


@dataclass
class Setup:
    live: LiveServer
    server: Server
    business: int
    other: int  # a second business
    anna: int
    service: int
    answers: list[str] = field(default_factory=list)  # every answer body seen

    @property
    def runtime(self) -> Runtime:
        return self.live.runtime

    @property
    def base(self) -> str:
        return f"/businesses/{self.business}/caldav/accounts"

    def call(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.raw(method, path, **kwargs)
        assert response.status_code == status, (response.status_code, response.text)
        return response.json() if response.content else None

    def raw(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = Api(self.live.url).request(method, path, **kwargs)
        self.answers.append(response.text)
        return response

    def connect(self, password: str | None = None, **extra: Any) -> Any:
        return self.call("POST", self.base, 201, json={
            "server_url": self.server.url, "username": self.server.user,
            "password": password or self.server.password, **extra})

    def book(self, day: int, hour: int = 10) -> int:
        first = NOW.date() + dt.timedelta(days=7 + day)
        with self.runtime.db.write() as session:
            return bookings.create_booking(
                session, self.business, calendar_id=self.anna, service_id=self.service,
                start=dt.datetime.combine(first, dt.time(hour)), now=NOW).id

    def provider(self) -> CalDAVProvider:
        def quick(runtime: Runtime, credentials: str) -> Any:
            client = make_client(runtime, credentials)
            client.sleep = lambda seconds: None
            return client
        return CalDAVProvider(self.runtime, client_factory=quick)

    def copies_there(self) -> list[str]:
        """Our copies in the server's calendar, read with python-caldav as a phone would."""
        found = self.server.dav().calendar(url=self.server.calendar_url).events()
        return [event.data for event in found if "X-BOOKINGCAL-ITEM" in event.data]

    def delete_copies_by_hand(self) -> None:
        for event in self.server.dav().calendar(url=self.server.calendar_url).events():
            if "X-BOOKINGCAL-ITEM" in event.data:
                event.delete()
        assert self.copies_there() == []

    def phone_event(self, uid: str, hour: int) -> None:
        day = (NOW + dt.timedelta(days=9)).strftime("%Y%m%d")
        self.server.dav().calendar(url=self.server.calendar_url).save_event("\r\n".join([
            "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//phone//EN", "BEGIN:VEVENT",
            f"UID:{uid}", "DTSTAMP:20200101T000000Z", f"DTSTART:{day}T{hour:02d}0000Z",
            f"DTEND:{day}T{hour + 1:02d}0000Z", "SUMMARY:Dentist", "END:VEVENT",
            "END:VCALENDAR", ""]))

    def mirrored(self) -> list[str]:
        with self.runtime.db.read() as session:
            return sorted(session.execute(select(CalDAVMirroredEvent.event_id)).scalars())

    def assert_no_password(self) -> None:
        for text in self.answers:
            assert self.server.password not in text, text


def _setup(tmp_path: Path, database_url: str, server: Server) -> Iterator[Setup]:
    runtime = make_runtime(tmp_path, database_url, now=NOW, extra=CALDAV_TOML)
    with runtime.db.write() as session:
        business = businesses.create_business(session, name="Salon", timezone=TZ, now=NOW).id
        other = businesses.create_business(session, name="Other", timezone=TZ, now=NOW).id
        anna = calendars.create_calendar(session, business, name="Anna", now=NOW).id
        service = services.create_service(session, business, name="Haircut",
                                          duration_minutes=45, now=NOW).id
    live = start_server(runtime)
    try:
        yield Setup(live, server, business, other, anna, service)
    finally:
        live.stop()


@pytest.fixture(params=["radicale", "xandikos"])
def setup(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Iterator[Setup]:
    with SERVERS[request.param](tmp_path / "server") as server:
        yield from _setup(tmp_path, database_url, server)


@pytest.fixture
def on_radicale(tmp_path: Path, database_url: str) -> Iterator[Setup]:
    """Radicale only: Xandikos as it comes checks no password, so it refuses none."""
    with radicale(tmp_path / "server") as server:
        yield from _setup(tmp_path, database_url, server)


def test_connect_choose_sync_and_disconnect(setup: Setup,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    made = setup.connect(label="Anna's phone")
    account = made["id"]
    assert made["label"] == "Anna's phone" and made["status"] == "connected"
    assert made["home_url"] and setup.server.calendar_url.startswith(made["home_url"])
    assert made["calendars"] == [] and made["direction"] == "both"
    [found] = [c for c in made["remote_calendars"] if c["url"] == setup.server.calendar_url]
    assert found["writable"] is True and found["sync_collection"] is True
    assert [a["id"] for a in setup.call("GET", setup.base)["items"]] == [account]
    # The calendar chosen for Anna, and the settings changed, in one PATCH.
    changed = setup.call("PATCH", f"{setup.base}/{account}", json={
        "calendars": [{"calendar_id": setup.anna, "write_calendar": found["url"]}],
        "block_tentative": False, "hide_client_details": True})
    assert changed["block_tentative"] is False and changed["hide_client_details"] is True
    assert changed["block_all_day"] is True
    [mapped] = changed["calendars"]
    assert (mapped["calendar_id"], mapped["name"], mapped["write_calendar"],
            mapped["read_calendar"], mapped["read_mode"]) == (
        setup.anna, "Anna", found["url"], found["url"], "not read yet")

    # The bridge writes the booking's copy there and reads the calendar.
    setup.book(2)
    engine = Engine(setup.runtime, worker="t", providers=[setup.provider()])
    [report] = engine.run_once()
    assert report.error is None and report.pushed is not None and report.pushed.inserted == 1
    assert len(setup.copies_there()) == 1
    shown = setup.call("GET", f"{setup.base}/{account}")
    assert shown["last_sync_at"] and shown["last_error"] is None
    assert shown["pending_changes"] == 0
    [mapped] = shown["calendars"]
    assert mapped["read_mode"] == "sync-collection" and mapped["synced_at"]
    assert mapped["write_error"] is None and mapped["failing_items"] == 0

    # A phone's event is not read before the poll interval, unless a read is asked for.
    setup.phone_event("dentist", 13)
    engine.run_once()
    assert setup.mirrored() == []
    asked = setup.call("POST", f"{setup.base}/{account}/sync")
    assert asked["id"] == account
    [report] = engine.run_once()
    assert report.pulled is not None and report.error is None
    assert len(setup.mirrored()) == 1

    # Disconnecting and keeping the copies: the copy stays there.
    kept = setup.call("DELETE", f"{setup.base}/{account}", params={"keep_copies": "true"})
    assert kept == {"copies_deleted": 0, "copies_kept": 1, "note": ""}
    assert len(setup.copies_there()) == 1 and setup.mirrored() == []
    assert setup.call("GET", setup.base)["items"] == []
    assert_error(setup.raw("GET", f"{setup.base}/{account}"), 404, "not_found")

    # The kept copy is the user's now: they delete it by hand. Connected again, the booking
    # gets a copy again; disconnecting deletes it there.
    setup.delete_copies_by_hand()
    again = setup.connect()["id"]
    setup.call("PATCH", f"{setup.base}/{again}", json={
        "calendars": [{"calendar_id": setup.anna, "write_calendar": found["url"]}]})
    [report] = engine.run_once()
    assert report.error is None and len(setup.copies_there()) == 1
    gone = setup.call("DELETE", f"{setup.base}/{again}")
    assert gone == {"copies_deleted": 1, "copies_kept": 0, "note": ""}
    assert setup.copies_there() == [] and setup.call("GET", setup.base)["items"] == []
    setup.assert_no_password()
    # Nor does any log line, at any level (nor its Basic authorization form).
    basic = base64.b64encode(f"{setup.server.user}:{setup.server.password}".encode()).decode()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/caldav/accounts" in logged  # the access log was captured
    assert setup.server.password not in logged and basic not in logged


def test_another_business_sees_no_account(setup: Setup) -> None:
    account = setup.connect()["id"]
    elsewhere = f"/businesses/{setup.other}/caldav/accounts"
    assert setup.call("GET", elsewhere)["items"] == []
    missing = f"{setup.base}/{account + 100}"
    for path in (f"{elsewhere}/{account}", missing):
        assert_error(setup.raw("GET", path), 404, "not_found")
        assert_error(setup.raw("GET", f"{path}/calendars"), 404, "not_found")
        assert_error(setup.raw("PATCH", path, json={"direction": "from_caldav"}), 404)
        assert_error(setup.raw("POST", f"{path}/sync"), 404, "not_found")
        assert_error(setup.raw("POST", f"{path}/reconnect",
                               json={"password": setup.server.password}), 404)
        assert_error(setup.raw("DELETE", path), 404, "not_found")
    # Another business's employee calendar cannot be chosen either.
    with setup.runtime.db.write() as session:
        theirs = calendars.create_calendar(session, setup.other, name="Bo", now=NOW).id
    assert_error(setup.raw("PATCH", f"{setup.base}/{account}", json={"calendars": [
        {"calendar_id": theirs, "write_calendar": setup.server.calendar_url}]}), 404)
    shown = setup.call("GET", f"{setup.base}/{account}")
    assert shown["direction"] == "both" and shown["calendars"] == []
    assert_error(setup.raw("POST", "/businesses/999/caldav/accounts", json={
        "server_url": setup.server.url, "username": setup.server.user,
        "password": setup.server.password}), 404, "not_found")
    setup.assert_no_password()


def test_mistakes_are_clear_4xx(setup: Setup) -> None:
    account = setup.connect()["id"]
    one = f"{setup.base}/{account}"
    bad = setup.raw("POST", setup.base, data="{not json",
                    headers={"Content-Type": "application/json"})
    assert 400 <= bad.status_code < 500
    assert_error(bad, bad.status_code)
    for body, words in [
        ({"server_url": 5, "username": "a", "password": "b"}, "server_url"),
        ({"server_url": setup.server.url, "username": "a", "password": "x" * 1025},
         "password"),
        ({"server_url": setup.server.url, "username": "a"}, "password"),
        ({"server_url": setup.server.url, "username": "a", "password": "b",
          "direction": "sideways"}, "direction"),
        ({"server_url": setup.server.url, "username": "a", "password": "b", "extra": 1},
         "extra"),
    ]:
        assert_error(setup.raw("POST", setup.base, json=body), 422, "invalid", words)
    # Discovery's own refusals name the field to change.
    refused = assert_error(setup.raw("POST", setup.base, json={
        "server_url": "ftp://caldav.example.com/", "username": "a", "password": "b"}),
        422, "invalid")
    assert refused["details"] == {"field": "server_url"}
    for body, words in [
        ({"colour": "red"}, "colour"),
        ({"hide_client_details": "yes"}, "hide_client_details"),
        ({"calendars": [{"calendar_id": setup.anna,
                         "write_calendar": "https://elsewhere.example/cal/"}]},
         "one of the account's calendars"),
    ]:
        assert_error(setup.raw("PATCH", one, json=body), 422, "invalid", words)
    assert_error(setup.raw("DELETE", one, params={"keep_copies": "perhaps"}), 422, "invalid")
    # Connecting the same account again with the same password is a conflict.
    assert_error(setup.raw("POST", setup.base, json={
        "server_url": setup.server.url, "username": setup.server.user,
        "password": setup.server.password}), 409, "conflict", "connected already")
    assert len(setup.call("GET", setup.base)["items"]) == 1
    setup.assert_no_password()


def test_a_refused_password_asks_for_an_app_specific_one(on_radicale: Setup) -> None:
    setup = on_radicale
    refused = assert_error(setup.raw("POST", setup.base, json={
        "server_url": setup.server.url, "username": setup.server.user,
        "password": "wrong-one"}), 422, "invalid", "app-specific password")
    assert refused["details"] == {"field": "password"}
    assert setup.call("GET", setup.base)["items"] == []
    account = setup.connect()["id"]
    setup.call("PATCH", f"{setup.base}/{account}", json={
        "calendars": [{"calendar_id": setup.anna,
                       "write_calendar": setup.server.calendar_url}]})
    # The password changes on the server's side: the bridge marks the account.
    with setup.runtime.db.write() as session:
        row = session.get(CalDAVConnection, account)
        assert row is not None
        row.password_encrypted = setup.runtime.keyring.encrypt("revoked-since")
    Engine(setup.runtime, worker="t", providers=[setup.provider()]).run_once(force_pull=True)
    shown = setup.call("GET", f"{setup.base}/{account}")
    assert shown["status"] == "needs_reconnect" and "app-specific" in shown["last_error"]
    assert_error(setup.raw("POST", f"{setup.base}/{account}/reconnect",
                           json={"password": "still-wrong"}), 422, "invalid", "app-specific")
    renewed = setup.call("POST", f"{setup.base}/{account}/reconnect",
                         json={"password": setup.server.password})
    assert renewed["id"] == account and renewed["status"] == "connected"
    assert [c["calendar_id"] for c in renewed["calendars"]] == [setup.anna]
    setup.book(1)
    [report] = Engine(setup.runtime, worker="t", providers=[setup.provider()]).run_once()
    assert report.error is None and len(setup.copies_there()) == 1
    listed = setup.call("GET", f"{setup.base}/{account}/calendars")["items"]
    assert setup.server.calendar_url in [c["url"] for c in listed]
    setup.assert_no_password()
    assert "revoked-since" not in "".join(setup.answers)


def test_copies_that_cannot_be_deleted_stop_the_disconnection(tmp_path: Path,
                                                               database_url: str) -> None:
    """A calendar turned read-only (403 on DELETE, through the quirk proxy): nothing is
    forgotten, the error says how to go on; keeping the copies disconnects."""
    quirks = Quirks()
    with radicale(tmp_path / "server") as real, proxy(real, quirks) as server:
        for setup in _setup(tmp_path, database_url, server):
            account = setup.connect()["id"]
            setup.call("PATCH", f"{setup.base}/{account}", json={"calendars": [
                {"calendar_id": setup.anna, "write_calendar": server.calendar_url}]})
            setup.book(1)
            [report] = Engine(setup.runtime, worker="t", providers=[setup.provider()]).run_once()
            assert report.error is None and len(setup.copies_there()) == 1
            quirks.forbid_writes = True
            refused = assert_error(setup.raw("DELETE", f"{setup.base}/{account}"), 400,
                                   contains="could not be deleted")
            assert "keeping the copies" in refused["message"]
            assert [a["id"] for a in setup.call("GET", setup.base)["items"]] == [account]
            kept = setup.call("DELETE", f"{setup.base}/{account}",
                              params={"keep_copies": "true"})
            assert kept["copies_kept"] == 1 and setup.call("GET", setup.base)["items"] == []
            assert len(setup.copies_there()) == 1
            setup.assert_no_password()

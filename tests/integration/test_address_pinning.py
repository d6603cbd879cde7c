"""Connections go to the address the SSRF guard checked, never to a second DNS answer (DNS
rebinding): the CalDAV client (niquests under python-caldav, server/sync/pinning.py) against a
real Radicale, and ICS fetching (server/ics/fetch.py) against a real HTTP server, each reached
by a name that only the test's resolver knows. DNS is not our code, so the name's answers come
from a resolver double handed to the guard (first a loopback address the configuration
allows, then another loopback address it does not); a listener on that second address proves
that nothing ever connects to it."""

from __future__ import annotations

import ipaddress
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from caldav_servers import radicale
from fakes.ics_server import IcsServer
from ics_world import calendar_text
from server.caldav import dav
from server.caldav.client import CalDAVClient
from server.config import IcsConfig
from server.ics.fetch import FetchError, fetch
from server.sync.addresses import Address, RefusedAddress, UrlGuard
from server.sync.errors import SyncError
from server.sync.pinning import pinned_session

NAME = "calendar.rebind.test"  # resolvable by the double only (the system's DNS has no .test)
ALLOWED = (ipaddress.ip_network("127.0.0.1/32"),)
CHECKED, REBOUND = "127.0.0.1", "127.0.0.2"


class Rebinding:
    """A resolver double: the first lookup of a name answers CHECKED, every later one
    REBOUND (a public address first, a private one at connect time, in real life)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[Address]:
        self.calls.append((host, port))
        return [ipaddress.ip_address(CHECKED if len(self.calls) == 1 else REBOUND)]


@contextmanager
def trap(port: int) -> Iterator[list[tuple[str, int]]]:
    """A listener on REBOUND:port; the peers of the connections it accepts (none, we hope)."""
    accepted: list[tuple[str, int]] = []
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((REBOUND, port))
    listener.listen(8)
    listener.settimeout(0.1)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                peer, where = listener.accept()
            except (TimeoutError, OSError):
                continue
            accepted.append(where)
            peer.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield accepted
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def named(url: str) -> str:
    return url.replace(f"//{CHECKED}:", f"//{NAME}:")


def test_caldav_connects_to_the_checked_address_only(tmp_path: Path) -> None:
    with radicale(tmp_path / "radicale") as server:
        port = urllib.parse.urlsplit(server.url).port
        assert port is not None
        dns, clock = Rebinding(), [0.0]
        guard = UrlGuard(ALLOWED, allow_http=True, lookup=dns, ttl=300.0,
                         monotonic=lambda: clock[0])
        calendar = named(server.calendar_url)
        with trap(port) as hits:
            client = CalDAVClient(calendar, server.user, server.password, timeout=5,
                                  guard=guard)
            try:
                # A whole read (authentication negotiated, sync-collection): every request
                # goes to the address checked, though the name now answers REBOUND.
                dav.sync_collection(client, calendar, "", 1)
                assert dav.collection_tag(client, calendar, 1) is not None
                assert client.requests >= 3
                assert dns.calls == [(NAME, port)]  # one lookup: the library asked none
                # The pin expires: the name is resolved again and its answer refused before
                # anything connects to it.
                clock[0] = 301.0
                with pytest.raises(SyncError) as caught:
                    dav.collection_tag(client, calendar, 1)
                assert caught.value.reason == "refusedAddress"
                assert REBOUND in caught.value.message and "loopback" in caught.value.message
            finally:
                client.close()
            # The session's own resolver (a connection the guard's check did not precede):
            # refused as well, nothing connected.
            with pinned_session(guard) as session, pytest.raises(Exception) as raw:
                session.get(server.url.replace(CHECKED, NAME), timeout=5)
            assert isinstance(raw.value, RefusedAddress) or REBOUND in str(raw.value)
            assert hits == []
        assert len(dns.calls) >= 2


def test_ics_connects_to_the_checked_address_only() -> None:
    settings = IcsConfig(allow_http=True, allowed_networks=ALLOWED, timeout_seconds=2,
                         total_seconds=4)
    with IcsServer() as server:
        server.put("/a.ics", calendar_text())
        url = named(server.url("/a.ics"))
        port = urllib.parse.urlsplit(url).port
        assert port is not None
        dns = Rebinding()
        with trap(port) as hits:
            first = fetch(url, settings, lookup=dns)
            assert first.status == 200 and first.host == NAME
            with pytest.raises(FetchError, match=f"{REBOUND} is a loopback address") as caught:
                fetch(url, settings, lookup=dns, etag=first.etag)
            assert not caught.value.transient
            assert hits == []
        assert len(server.hits("/a.ics")) == 1
        assert dns.calls == [(NAME, port), (NAME, port)]

"""Connections go to the address the SSRF guard checked, never to a second DNS answer (DNS
rebinding): the CalDAV client (niquests under python-caldav, server/sync/pinning.py) against a
real Radicale, and ICS fetching (server/ics/fetch.py) against a real HTTP server, each reached
by a name that only the test's resolver knows. DNS is not our code, so the name's answers come
from a resolver double handed to the guard (first a loopback address the configuration
allows, then another loopback address it does not); a listener on that second address proves
that nothing ever connects to it."""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

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


def certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for the DNS name `name` only (no IP address in it), valid a
    day either side of the real now (TLS checks the real clock)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


CTAG = ('<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:" '
        'xmlns:CS="http://calendarserver.org/ns/"><D:response><D:href>/cal/</D:href>'
        '<D:propstat><D:prop><CS:getctag>"7"</CS:getctag></D:prop>'
        '<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>')


@contextmanager
def tls_server(cert: tuple[Path, Path]) -> Iterator[tuple[int, list[str], list[str]]]:
    """An HTTPS server on CHECKED answering every PROPFIND with a collection tag; yields its
    port, the server names the clients sent (SNI) and the Host headers."""
    names: list[str] = []
    hosts: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_PROPFIND(self) -> None:  # noqa: N802 (http.server's name)
            hosts.append(self.headers.get("Host", ""))
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = CTAG.encode()
            self.send_response(207)
            self.send_header("Content-Type", "application/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*cert)
    context.sni_callback = lambda sock, name, ctx: names.append(name or "") and None
    httpd = http.server.ThreadingHTTPServer((CHECKED, 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], names, hosts
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_caldav_over_tls_keeps_the_name_for_sni_and_the_certificate(tmp_path: Path) -> None:
    right = certificate(tmp_path / "right", NAME)
    other = certificate(tmp_path / "other", "someone-else.test")
    with tls_server(right) as (port, names, hosts):
        calendar = f"https://{NAME}:{port}/cal/"

        trusting = CalDAVClient(calendar, "", "", timeout=5,
                                guard=UrlGuard(ALLOWED, lookup=Rebinding()))
        trusting.dav.ssl_verify_cert = str(right[0])  # python-caldav's CA bundle setting
        try:
            assert dav.collection_tag(trusting, calendar, 1) == '"7"'
        finally:
            trusting.close()
        assert names == [NAME] and hosts == [f"{NAME}:{port}"]
    # A server whose certificate is trusted, but for another name, is refused: the
    # certificate is checked against the name asked, not against the address connected to.
    with tls_server(other) as (port, names, hosts):
        calendar = f"https://{NAME}:{port}/cal/"
        doubting = CalDAVClient(calendar, "", "", timeout=5,
                                guard=UrlGuard(ALLOWED, lookup=Rebinding()))
        doubting.dav.ssl_verify_cert = str(other[0])
        try:
            with pytest.raises(SyncError, match="could not be reached"):
                dav.collection_tag(doubting, calendar, 1)
        finally:
            doubting.close()
        assert names == [NAME] and hosts == []  # the handshake failed: nothing was sent

"""Fetching a subscribed ICS URL safely: only https (http when configured), every address
checked (server/sync/addresses.py) and connected to as checked (no second DNS answer between the
check and the connection), redirects followed by hand and checked again, a bounded count of
them, a size limit enforced while the body streams (gzip included: the limit is on what it
inflates to), a time limit on every read and on the whole fetch, conditional GET (ETag /
Last-Modified). Every failure is a `FetchError` saying what happened in words a person can act
on; none of them repeats the URL (it may carry a secret): only its host."""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urljoin, urlsplit

from server import __version__
from server.config import IcsConfig
from server.sync import addresses as guard

REDIRECTS = (301, 302, 303, 307, 308)
CHUNK = 64 * 1024
USER_AGENT = f"bookingcal/{__version__} (calendar subscription)"


class FetchError(Exception):
    """A failed fetch. `transient`: worth trying again soon (timeouts, 5xx, 429, refused
    connections); otherwise the URL or its server needs a person's attention.
    `retry_after`: the seconds the server asked for."""

    def __init__(self, message: str, *, transient: bool, status: int = 0,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Fetched:
    """A fetch's outcome: 200 with the body, or 304 (unchanged) without one."""

    status: int
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    host: str = ""  # the host that answered last (after redirects)
    requests: int = 1


def host_of(url: str) -> str:
    """The host of `url`, the only part of it that may be shown or logged."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def check_url(url: str, settings: IcsConfig) -> str:
    """`url` if it may be subscribed to (its form only; its addresses are checked when it is
    fetched); otherwise ValueError saying what to change."""
    if len(url) > 4000:
        raise ValueError("the URL is longer than 4000 characters")
    if any(ord(char) < 33 or ord(char) == 127 for char in url):
        raise ValueError("the URL contains spaces or control characters; copy it again")
    if url.lower().startswith("webcal://"):
        url = "https://" + url[len("webcal://"):]
    try:
        parts = urlsplit(url)
        parts.port
    except ValueError:
        raise ValueError("the URL is not valid; it should look like "
                         "https://calendar.example.com/feed.ics") from None
    schemes = ("https", "http") if settings.allow_http else ("https",)
    if parts.scheme not in schemes:
        raise ValueError("only https:// URLs can be subscribed to" + (
            "" if settings.allow_http else " (plain http is off: ics.allow_http)"))
    if not parts.hostname:
        raise ValueError("the URL has no host; it should look like "
                         "https://calendar.example.com/feed.ics")
    if parts.username is not None or parts.password is not None:
        raise ValueError("user names and passwords inside the URL are not supported; use the "
                         "calendar's secret publishing link instead")
    return url


class _PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to a checked address, whatever the host name resolves to now."""

    def __init__(self, host: str, port: int, address: guard.Address, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((str(self.address), self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """An HTTPS connection to a checked address; the certificate is verified for the host
    name (SNI too), as if the name had been resolved."""

    def __init__(self, host: str, port: int, address: guard.Address, timeout: float,
                 context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.address = address
        self.tls = context

    def connect(self) -> None:
        sock = socket.create_connection((str(self.address), self.port), self.timeout)
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)


def _retry_after(value: str | None) -> float | None:
    if value is None or not value.strip().isdigit():
        return None
    return min(float(value.strip()), 86400.0)


class _Body:
    """Collects a body up to `limit` bytes after inflating gzip; raises past it."""

    def __init__(self, limit: int, gzipped: bool, host: str) -> None:
        self.limit, self.host = limit, host
        self.parts: list[bytes] = []
        self.size = 0
        self.inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise _too_big(self.host, self.limit)
        self.parts.append(data)

    def add(self, chunk: bytes) -> None:
        if self.inflate is None:
            self._keep(chunk)
            return
        try:
            data = self.inflate.decompress(chunk, self.limit - self.size + 1)
            self._keep(data)
            while self.inflate.unconsumed_tail:
                self._keep(self.inflate.decompress(self.inflate.unconsumed_tail,
                                                   self.limit - self.size + 1))
        except zlib.error:
            raise FetchError(f"the calendar at {self.host} sent a damaged gzip body",
                             transient=True) from None

    def bytes(self) -> bytes:
        if self.inflate is not None:
            self._keep(self.inflate.flush())
        return b"".join(self.parts)


def fetch(url: str, settings: IcsConfig, *, etag: str | None = None,
          last_modified: str | None = None, tls: ssl.SSLContext | None = None,
          monotonic: Callable[[], float] = time.monotonic,
          lookup: guard.Lookup = guard.system_lookup) -> Fetched:
    """GET `url` (conditionally, with the validators given) within the limits of
    `settings`; FetchError on any failure. Each request resolves its host once (`lookup`: the
    system's resolver), checks every address, and connects to the first."""
    deadline = monotonic() + settings.total_seconds
    context = tls or ssl.create_default_context()
    requests = 0
    current = url
    for _hop in range(settings.max_redirects + 1):
        requests += 1
        host = host_of(current)
        try:
            current = check_url(current, settings)  # webcal:// read as https://
        except ValueError as exc:
            raise FetchError(f"a redirect from the calendar's server led to a URL that cannot "
                             f"be fetched: {exc}" if requests > 1 else str(exc),
                             transient=False) from None
        answer = _one(current, settings, context, etag, last_modified, deadline, monotonic,
                      lookup)
        status, headers, body = answer
        if status in REDIRECTS:
            location = headers.get("location")
            if not location:
                raise FetchError(f"{host} answered {status} without a Location",
                                 transient=False, status=status)
            current = urljoin(current, location)
            continue
        if status == 304:
            return Fetched(304, etag=headers.get("etag") or etag,
                           last_modified=headers.get("last-modified") or last_modified,
                           host=host, requests=requests)
        if status == 200:
            return Fetched(200, body, etag=headers.get("etag"),
                           last_modified=headers.get("last-modified"), host=host,
                           requests=requests)
        raise _status_error(status, host, headers)
    raise FetchError(f"the calendar's server at {host_of(url)} redirected more than "
                     f"{settings.max_redirects} times (ics.max_redirects)", transient=False)


def _status_error(status: int, host: str, headers: dict[str, str]) -> FetchError:
    if status in (401, 403):
        return FetchError(f"{host} refused access ({status}): the link may have been revoked "
                          "or made private; publish the calendar again and subscribe to the "
                          "new link", transient=False, status=status)
    if status in (404, 410):
        return FetchError(f"{host} has no calendar at this address ({status}): the link was "
                          "removed or mistyped; subscribe to the current link",
                          transient=False, status=status)
    if status == 429 or status >= 500:
        return FetchError(f"{host} answered {status}; trying again later", transient=True,
                          status=status, retry_after=_retry_after(headers.get("retry-after")))
    return FetchError(f"{host} answered {status} to the calendar request", transient=False,
                      status=status)


def _one(url: str, settings: IcsConfig, context: ssl.SSLContext, etag: str | None,
         last_modified: str | None, deadline: float, monotonic: Callable[[], float],
         lookup: guard.Lookup = guard.system_lookup) -> tuple[int, dict[str, str], bytes]:
    """One request: (status, lower-cased headers, the body of a 200)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    left = deadline - monotonic()
    if left <= 0:
        raise _too_slow(host, settings)
    try:
        address = guard.resolve(host, port, settings.allowed_networks, lookup)
    except guard.RefusedAddress as exc:
        raise FetchError(f"{host} was not fetched: {exc}", transient=False) from None
    except LookupError as exc:
        raise FetchError(str(exc), transient=True) from None
    timeout = min(settings.timeout_seconds, left)
    connection: http.client.HTTPConnection = (
        _PinnedHTTPS(host, port, address, timeout, context) if parts.scheme == "https"
        else _PinnedHTTP(host, port, address, timeout))
    # Past the deadline the socket is shut down, whatever a slow server is doing.
    timer = threading.Timer(left, _shut, (connection,))
    timer.daemon = True
    timer.start()
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.putrequest("GET", path, skip_accept_encoding=True)
        for name, value in (("User-Agent", USER_AGENT),
                            ("Accept", "text/calendar, */*;q=0.5"),
                            ("Accept-Encoding", "gzip"),
                            ("If-None-Match", etag), ("If-Modified-Since", last_modified)):
            if value:
                connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        if response.status != 200:
            return response.status, headers, b""
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", "x-gzip", ""):
            raise FetchError(f"{host} sent the calendar in an unsupported encoding "
                             f"({encoding[:40]})", transient=False)
        declared = headers.get("content-length", "")
        if encoding in ("identity", "") and declared.isdigit() \
                and int(declared) > settings.max_bytes:
            raise _too_big(host, settings.max_bytes)
        body = _Body(settings.max_bytes, encoding in ("gzip", "x-gzip"), host)
        while True:
            if monotonic() >= deadline:
                raise _too_slow(host, settings)
            chunk = response.read1(CHUNK)
            if not chunk:
                break
            body.add(chunk)
        return 200, headers, body.bytes()
    except FetchError:
        raise
    except ssl.SSLCertVerificationError as exc:
        raise FetchError(f"the certificate of {host} is not valid ({exc.verify_message}); the "
                         "server must present a trusted certificate", transient=False) from None
    except (socket.timeout, TimeoutError):
        if monotonic() >= deadline - 0.05:
            raise _too_slow(host, settings) from None
        raise FetchError(f"{host} did not answer within {settings.timeout_seconds:g} s "
                         "(ics.timeout_seconds); trying again later", transient=True) from None
    except (http.client.HTTPException, OSError) as exc:
        if monotonic() >= deadline - 0.05:
            raise _too_slow(host, settings) from None
        raise FetchError(f"{host} could not be reached ({type(exc).__name__}); trying again "
                         "later", transient=True) from None
    finally:
        timer.cancel()
        connection.close()


def _too_big(host: str, limit: int) -> FetchError:
    return FetchError(f"the calendar at {host} is larger than {limit // (1024 * 1024)} MB "
                      "(ics.max_megabytes); it was not read", transient=False)


def _too_slow(host: str, settings: IcsConfig) -> FetchError:
    return FetchError(f"fetching the calendar from {host} took longer than "
                      f"{settings.total_seconds:g} s (ics.total_seconds); trying again later",
                      transient=True)


def _shut(connection: http.client.HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

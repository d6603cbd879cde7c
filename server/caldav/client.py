"""One CalDAV account's HTTP client: python-caldav's DAVClient (authentication negotiation,
sessions) underneath, every failure classified once into the engine's errors
(server/sync/errors.py), retries bounded and their waits injectable.

401 -> ReconnectError (the password was refused: the message says how to make an app-specific
one); 429, 5xx, timeouts, refused connections -> RetryableError (Retry-After honoured); 403 and
404 concern the one calendar (or item) asked; other client errors the one item. Nothing of a
request's body or of the password is ever logged or put in a message.

Authentication is negotiated (the server's 401 names the scheme) once per client, with a small
bodiless PROPFIND before the first request that carries a body: a copy's PUT is never sent
unauthenticated first, to be refused and sent again (twice the bytes, and a write the server
saw arrive without credentials).

A client given a `deadline` (time.monotonic(), a live check before an online booking) sends no
request once it has passed, and waits for each answer at most until it: its whole work is
bounded in time, whatever the number of requests (a timeout is a RetryableError with the
reason "timeout").

A client made with a `guard` (every client of a connected account, and discovery) requests no
URL the guard refuses: the account's own addresses, the hrefs its answers name, and every
redirect, checked before it is followed (server/sync/addresses.py); its connections go to
the addresses checked, never to a second DNS answer (server/sync/pinning.py)."""

from __future__ import annotations

import logging
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from caldav.davclient import DAVClient
from caldav.lib import error as dav_error

from server.config import CalDAVConfig
from server.sync.addresses import RefusedAddress, UrlGuard
from server.sync.errors import CONNECTION, ReconnectError, RetryableError, SyncError
from server.sync.pinning import pinned_session

log = logging.getLogger(__name__)
ATTEMPTS = 3
MAX_WAIT = 60.0  # seconds: a longer Retry-After backs the connection off instead
XML = 'application/xml; charset="utf-8"'
NEGOTIATE = ('<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>'
             "<D:resourcetype/></D:prop></D:propfind>")


@dataclass(frozen=True)
class Answer:
    """A server's answer: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes
    tree: Any = None  # the parsed XML (lxml), when the body was XML


def refused_password(host: str) -> str:
    """What to do when a server refuses the user name or password."""
    if host.endswith("icloud.com"):
        return ("iCloud refused the password: create an app-specific password at "
                "appleid.apple.com (Sign-In and Security > App-Specific Passwords) and "
                "reconnect with it")
    if host.endswith("fastmail.com"):
        return ("Fastmail refused the password: create an app password with CalDAV access "
                "(Settings > Privacy & Security > App passwords) and reconnect with it")
    return (f"the server {host} refused the user name or password: create an app-specific "
            "password in the account's security settings (or check the user name) and "
            "reconnect with it")


def classify(status: int, host: str, what: str, retry_after: float | None = None,
             preconditions: list[str] | None = None) -> SyncError:
    """A failed answer as the engine's error."""
    if status == 401:
        return ReconnectError(refused_password(host), 401, "unauthorized")
    if status == 429 or status >= 500:
        return RetryableError(f"the CalDAV server {host} is busy or failing ({status}) "
                              f"while {what}", status, "unavailable", retry_after)
    reason = (preconditions or [""])[0].rpartition("}")[2]
    if status == 403:
        return SyncError(f"the CalDAV server {host} forbade {what} (403"
                         f"{', ' + reason if reason else ''})", 403, reason or "forbidden")
    if status == 404:
        return SyncError(f"the CalDAV server {host} has nothing at the address asked while "
                         f"{what} (404)", 404, "notFound")
    return SyncError(f"the CalDAV server {host} refused {what} ({status}"
                     f"{', ' + reason if reason else ''})", status, reason or "refused")


@dataclass
class CalDAVClient:
    """Requests to one account's server. `sleep` is injectable (tests never wait)."""

    home_url: str
    username: str
    password: str = field(repr=False)
    timeout: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    requests: int = 0  # requests sent (benchmarks)
    # The account owner's calendar addresses (its ATTENDEE answers count as its own).
    addresses: frozenset[str] = frozenset()
    addresses_known: bool = True  # False: not discovered yet (server/caldav/provider.py)
    _dav: DAVClient | None = field(default=None, repr=False)
    _negotiated: bool = field(default=False, repr=False)  # asked once (some never say 401)
    guard: UrlGuard | None = field(default=None, repr=False)
    deadline: float | None = None  # time.monotonic() after which no request is sent

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.home_url).hostname or "?"

    @property
    def dav(self) -> DAVClient:
        if self._dav is None:
            self._dav = DAVClient(url=self.home_url, username=self.username,
                                  password=self.password, timeout=int(self.timeout),
                                  enable_rfc6764=False)
            if self.guard is not None:  # connect to the checked addresses only
                self._dav.session.close()
                self._dav.session = pinned_session(self.guard)
                self._dav.session.hooks["response"].append(self._check_redirect)
        return self._dav

    def close_idle(self) -> None:
        """Close the kept-alive connections (the bridge calls it after each pass over the
        connection: thousands of idle clients must not hold a socket each); the next request
        opens a new one."""
        if self._dav is not None:
            self._dav.session.close()

    def _check_redirect(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        """A redirect is followed only to an address the guard allows (raised otherwise
        before the next request is sent)."""
        if self.guard is not None and response.is_redirect:
            target = urllib.parse.urljoin(str(response.url), response.headers["location"])
            self.guard.check_url(target)
        return response

    def call(self, method: str, url: str, *, body: str = "",
             headers: Mapping[str, str] | None = None, what: str = "a request",
             ok: frozenset[int] = frozenset(), attempts: int | None = None) -> Answer:
        """Send one request; answers below 300 and statuses in `ok` are returned, others
        raised as SyncErrors. Transient failures are sent again, at most `attempts` calls in
        all, waiting as asked (up to MAX_WAIT)."""
        limit = max(1, attempts or ATTEMPTS)
        for attempt in range(1, limit + 1):
            try:
                return self._once(method, url, body, headers, what, ok)
            except RetryableError as exc:
                wait = exc.retry_after if exc.retry_after is not None else float(2 ** attempt)
                if attempt >= limit or wait > MAX_WAIT:
                    raise
                log.info("CalDAV %s failed (%s); trying again in %.0fs", method, exc.status,
                         wait)
                self.sleep(wait)
        raise AssertionError("unreachable")

    def _negotiate(self, what: str) -> None:
        """Learn the server's authentication scheme with a Depth 0 PROPFIND of the home (its
        401 names the scheme; python-caldav keeps the authentication it built). A refused
        password or an unreachable server is raised as the request's own failure; any other
        answer is left to the request that follows."""
        try:
            self._send("PROPFIND", self.home_url, NEGOTIATE, {"Depth": "0", "Content-Type": XML},
                       what, frozenset())
        except (ReconnectError, RetryableError):
            raise
        except SyncError:
            pass

    def _once(self, method: str, url: str, body: str, headers: Mapping[str, str] | None,
              what: str, ok: frozenset[int]) -> Answer:
        if body and self.username and not self._negotiated and self.dav.auth is None:
            self._negotiate(what)
            self._negotiated = True
        return self._send(method, url, body, headers, what, ok)

    def _send(self, method: str, url: str, body: str, headers: Mapping[str, str] | None,
              what: str, ok: frozenset[int]) -> Answer:
        try:
            if self.guard is not None:
                self.guard.check_url(url)
            if self.deadline is not None:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the deadline passed")
                # python-caldav annotates an int; niquests takes any number of seconds
                self.dav.timeout = min(self.timeout, left)  # type: ignore[assignment]
            self.requests += 1
            response = self.dav.request(url, method, body, dict(headers or {}))
        except RefusedAddress as exc:
            raise SyncError(f"the CalDAV server {self.host} led to an address that is not "
                            f"requested while {what}: {exc}", 403, "refusedAddress",
                            scope=CONNECTION) from None
        except dav_error.RateLimitError as exc:
            raise classify(int(exc.status or 429), self.host, what,
                           exc.retry_after_seconds) from None
        except dav_error.AuthorizationError as exc:
            status = int(exc.status or 401)
            if status in ok:
                return Answer(status, {}, exc.body if isinstance(exc.body, bytes) else b"")
            raise classify(status, self.host, what, preconditions=exc.preconditions) from None
        except dav_error.DAVError as exc:
            raise SyncError(f"the CalDAV server {self.host} answered {what} with something "
                            f"unreadable ({type(exc).__name__})", 502, "badResponse") from None
        except Exception as exc:  # niquests' connection errors and timeouts, broken XML
            name = type(exc).__name__
            if "Timeout" in name or isinstance(exc, TimeoutError):
                raise RetryableError(f"the CalDAV server {self.host} did not answer in time "
                                     f"while {what}", 504, "timeout") from None
            raise RetryableError(f"the CalDAV server {self.host} could not be reached while "
                                 f"{what} ({name})", 503, "unreachable") from None
        status = int(response.status)
        found = {str(k).lower(): str(v) for k, v in response.headers.items()}
        raw = response._raw if isinstance(response._raw, bytes) else \
            str(response._raw or "").encode()
        if status < 300 or status in ok:
            return Answer(status, found, raw, response.tree)
        retry = found.get("retry-after")
        retry_after = float(retry) if retry and retry.isdigit() else None
        raise classify(status, self.host, what, retry_after,
                       dav_error.parse_preconditions(raw))

    def close(self) -> None:
        if self._dav is not None:
            self._dav.close()


def guard_for(config: CalDAVConfig) -> UrlGuard:
    """The addresses CalDAV clients may request under `config` ([caldav])."""
    return UrlGuard(allowed=config.allowed_networks, allow_private=config.allow_private_hosts,
                    allow_http=config.allow_http)

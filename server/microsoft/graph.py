"""A small Microsoft Graph client for one mailbox (one connection): access tokens from the
connection's refresh token (the identity platform's token endpoint), bearer requests, bounded
retries honouring Retry-After, at most `max_concurrent_requests` requests in flight, and every
failure classified into the engine's errors (server/sync/errors.py). Nothing of a token or of
an event is logged."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import requests

from server.config import MicrosoftConfig
from server.microsoft.http import VerifyingSession
from server.sync.errors import PauseError, ReconnectError, RetryableError, SyncError

log = logging.getLogger(__name__)
SCOPES = ("Calendars.ReadWrite", "offline_access", "User.Read")
TIMEOUT = 20.0
ATTEMPTS = 4  # calls per request by default (the first and three retries)
MAX_WAIT = 120.0  # seconds: a longer Retry-After is not slept through, it backs off instead
TRANSIENT = {429, 500, 502, 503, 504}


class GraphError(SyncError):
    """A Graph answer that concerns one calendar or one item (its status and code)."""


def classify(status: int, payload: Any, retry_after: float | None) -> SyncError:
    """Graph's answer as one of the engine's errors."""
    error = payload.get("error", {}) if isinstance(payload, dict) else {}
    code = str(error.get("code", "")) if isinstance(error, dict) else ""
    message = f"Microsoft Graph answered {status}{' ' + code if code else ''}"
    if status in TRANSIENT:
        return RetryableError(message, status, code, retry_after=retry_after)
    if status == 401:
        return ReconnectError("Microsoft refused the connection's access; reconnect the "
                              "Microsoft account", status, code)
    if status == 403 and code in ("ErrorQuotaExceeded", "MailboxConcurrency"):
        return PauseError(message, status, code, retry_after=retry_after)
    return GraphError(message, status, code, retry_after=retry_after)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


@dataclass
class GraphClient:
    """Graph for one connection's mailbox; thread-safe."""

    config: MicrosoftConfig
    refresh_token: str = field(repr=False)
    sleep: Callable[[float], None] = time.sleep
    session: requests.Session | None = None
    timeout: float = TIMEOUT  # seconds per request (a freshness read uses a short one)
    requests_made: int = 0
    _token: str | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._slots = threading.BoundedSemaphore(self.config.max_concurrent_requests)
        if self.session is None:
            self.session = VerifyingSession(self.config)

    def close_idle(self) -> None:
        """Close the kept-alive connections, keeping the access token (the bridge calls it
        after each pass over the connection: thousands of idle clients must not hold a socket
        each); the next request opens a new one."""
        if self.session is not None:
            self.session.close()

    # ------------------------------------------------------------------ tokens

    def _access_token(self, renew: bool = False) -> str:
        with self._lock:
            if self._token is None or renew:
                self._token = self._refresh()
            return self._token

    def _refresh(self) -> str:
        if not self.config.configured:
            raise ReconnectError("Microsoft is not configured ([microsoft] client_id and "
                                 "client secret)")
        try:
            assert self.session is not None
            response = self.session.post(self.config.token_url, timeout=self.timeout, data={
                "client_id": self.config.client_id,
                "client_secret": self.config.client_secret or "",
                "grant_type": "refresh_token", "refresh_token": self.refresh_token,
                "scope": " ".join(SCOPES)})
        except requests.RequestException as exc:
            raise RetryableError("the Microsoft identity platform could not be reached") \
                from exc
        self.requests_made += 1
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        if response.status_code == 200 and isinstance(payload, dict) \
                and isinstance(payload.get("access_token"), str):
            if isinstance(payload.get("refresh_token"), str):  # rotated: kept for this process
                self.refresh_token = payload["refresh_token"]
            return str(payload["access_token"])
        reason = str(payload.get("error", "")) if isinstance(payload, dict) else ""
        if reason in ("invalid_grant", "interaction_required", "consent_required"):
            raise ReconnectError("Microsoft refused the connection's refresh token "
                                 f"({reason}); reconnect the Microsoft account", 400, reason)
        if response.status_code in TRANSIENT:
            raise RetryableError(f"the Microsoft identity platform answered "
                                 f"{response.status_code}", response.status_code,
                                 retry_after=_retry_after(response))
        refused = reason or str(response.status_code)
        raise ReconnectError(f"the Microsoft identity platform refused the app ({refused}); "
                             "check [microsoft] client_id and client secret",
                             response.status_code, refused)

    # ------------------------------------------------------------------ requests

    def url(self, path: str) -> str:
        return path if path.startswith(self.config.graph_url + "/") else \
            self.config.graph_url + path

    def call(self, method: str, path: str, *, body: Any = None,
             headers: dict[str, str] | None = None, attempts: int | None = None
             ) -> tuple[int, Any, dict[str, str]]:
        """(status, JSON or None, headers) of a request answered below 400; else raises the
        classified error after at most `attempts` calls (transient failures retried, waiting
        Retry-After or a short backoff)."""
        target = self.url(path)
        if not target.startswith(self.config.graph_url + "/"):
            raise GraphError("a Graph link pointed elsewhere; refused", 400)
        tries = attempts or ATTEMPTS
        renewed = renew_next = False
        number = 0
        while True:
            number += 1
            status, payload, answer_headers = self._once(method, target, body, headers,
                                                         renew_next)
            renew_next = False
            if status < 400:
                return status, payload, answer_headers
            wait = None
            if "Retry-After" in answer_headers:
                try:
                    wait = float(answer_headers["Retry-After"])
                except ValueError:
                    wait = None
            error = classify(status, payload, wait)
            if status == 401 and not renewed:
                renewed = renew_next = True  # the access token expired: one fresh token
                number -= 1
                continue
            if not isinstance(error, RetryableError) or number >= tries \
                    or (wait is not None and wait > MAX_WAIT):
                raise error
            self.sleep(wait if wait is not None else min(8.0, 0.5 * 2 ** number))

    def _once(self, method: str, target: str, body: Any, headers: dict[str, str] | None,
              renew: bool) -> tuple[int, Any, dict[str, str]]:
        token = self._access_token(renew)
        sent = {"Authorization": f"Bearer {token}", "Accept": "application/json",
                **(headers or {})}
        with self._slots:  # at most max_concurrent_requests in flight for this mailbox
            assert self.session is not None
            try:
                response = self.session.request(method, target, json=body, headers=sent,
                                                timeout=self.timeout)
            except requests.RequestException as exc:
                self.requests_made += 1
                log.info("Microsoft Graph request failed: %s", type(exc).__name__)
                return 503, {"error": {"code": "Unreachable"}}, {}
        self.requests_made += 1
        try:
            payload = response.json() if response.content else None
        except ValueError:
            payload = None
        return response.status_code, payload, dict(response.headers)

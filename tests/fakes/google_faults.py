"""Deterministic fault injection: the next N requests matching a method/path/endpoint fail."""

from __future__ import annotations

import enum
import fnmatch
import threading
from dataclasses import dataclass, field

from .google_errors import (
    ApiError, backend_error, bad_request, not_found, rate_limited_429, usage_limit_403,
)


class FaultKind(enum.StrEnum):
    TOO_MANY_REQUESTS = "429"  # 429 rateLimitExceeded (+ Retry-After when given)
    SERVER_ERROR = "500"  # 500 backendError
    UNAVAILABLE = "503"  # 503 backendError
    RATE_LIMIT_EXCEEDED = "rateLimitExceeded"  # 403, domain usageLimits
    USER_RATE_LIMIT_EXCEEDED = "userRateLimitExceeded"  # 403, domain usageLimits
    QUOTA_EXCEEDED = "quotaExceeded"  # 403, domain usageLimits
    BAD_REQUEST = "400"  # 400 invalid: Google refuses the request as sent (never retried)
    NOT_FOUND = "404"  # 404 notFound: the calendar (or event) is gone or no longer shared
    TIMEOUT = "timeout"  # hold the answer ``delay`` seconds (performing the request first if ``perform``)
    LOST_RESPONSE = "lostResponse"  # perform the request, then close the connection without an answer
    LOST_RESPONSE_500 = "lostResponse500"  # perform the request, then answer 500 backendError


@dataclass
class Fault:
    kind: FaultKind
    method: str | None = None
    path: str | None = None  # glob on the decoded path, e.g. "/calendar/v3/calendars/*/events"
    endpoint: str | None = None  # e.g. "calendar.events.insert", "oauth.token", "batch"
    remaining: int = 1
    retry_after: int | None = None
    delay: float = 5.0
    perform: bool = False
    hits: int = 0

    def matches(self, method: str, path: str, endpoint: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.endpoint is not None and self.endpoint != endpoint:
            return False
        return self.path is None or fnmatch.fnmatchcase(path, self.path)

    def error(self) -> ApiError:
        """The error answered for the error kinds (and after a timeout that did not perform)."""
        if self.kind is FaultKind.TOO_MANY_REQUESTS:
            error = rate_limited_429(None)
        elif self.kind in (FaultKind.RATE_LIMIT_EXCEEDED, FaultKind.USER_RATE_LIMIT_EXCEEDED,
                           FaultKind.QUOTA_EXCEEDED):
            error = usage_limit_403(self.kind.value)
        elif self.kind is FaultKind.BAD_REQUEST:
            error = bad_request("Invalid value for: the request")
        elif self.kind is FaultKind.NOT_FOUND:
            error = not_found()
        elif self.kind in (FaultKind.UNAVAILABLE, FaultKind.TIMEOUT):
            error = backend_error(503)
        else:
            error = backend_error(500)
        if self.retry_after is not None:
            error.headers["Retry-After"] = str(self.retry_after)
        return error


class FaultQueue:
    """Faults in the order they were added; the first live one that matches is used."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        if fault.remaining < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str, endpoint: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.matches(method, path, endpoint):
                    fault.remaining -= 1
                    fault.hits += 1
                    return fault
            return None

    def pending(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults if f.remaining > 0]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


@dataclass
class Hold:
    """After ``after`` requests to ``endpoint`` went through (batch parts one by one), the next
    ones are held unperformed until released, then dropped: the state of a client killed while
    Google was taking its writes. ``reached`` is set when the first request is held."""

    endpoint: str
    after: int
    passed: int = 0
    held: int = 0
    reached: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)


class HoldList:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holds: list[Hold] = []

    def add(self, hold: Hold) -> Hold:
        with self._lock:
            self._holds.append(hold)
        return hold

    def take(self, endpoint: str) -> Hold | None:
        """The hold that stops this request, if any (counting it otherwise)."""
        with self._lock:
            for hold in self._holds:
                if hold.endpoint != endpoint or hold.released.is_set():
                    continue
                if hold.passed < hold.after:
                    hold.passed += 1
                    return None
                hold.held += 1
                hold.reached.set()
                return hold
            return None

    def release(self) -> None:
        with self._lock:
            for hold in self._holds:
                hold.released.set()
            self._holds.clear()

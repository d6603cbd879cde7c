"""The one small client through which the Google adapter reaches Google Calendar: the real
google-api-python-client, our configured endpoints, errors classified once (onto the engine's
taxonomy, server/sync/errors.py), retries bounded.

Errors become:
- RetryableError: 429, 5xx, 403 rateLimitExceeded/userRateLimitExceeded, timeouts (retried here
  with exponential backoff and jitter, honouring Retry-After, up to a cap);
- QuotaError: 403 quotaExceeded/dailyLimitExceeded (the connection pauses);
- ReconnectError: the refresh token is refused (invalid_grant): the admin must reconnect;
- GoogleError with its HTTP status for the rest (404, 409, 410, 412 ...), which callers judge.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import httplib2
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2.credentials import Credentials
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient import discovery_cache
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest, HttpRequest

from server.config import GoogleConfig
from server.sync import errors
from server.sync.backoff import backoff_delay

log = logging.getLogger(__name__)
BATCH_LIMIT = 50
RETRY_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "backendError"})
QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})


__all__ = ["BATCH_LIMIT", "CallResult", "GoogleCalendarApi", "GoogleError", "QuotaError",
           "ReconnectError", "RetryableError", "backoff_delay", "classify", "connection_error"]


class GoogleError(errors.SyncError):
    """A Google failure; its subclasses are also the engine's kinds."""

    code = "google"


class RetryableError(GoogleError, errors.RetryableError):
    code = "google_retry"


class QuotaError(GoogleError, errors.PauseError):
    code = "google_quota"


class ReconnectError(GoogleError, errors.ReconnectError):
    code = "google_reconnect"


def classify(exc: Exception) -> GoogleError:
    """Our error for whatever the client library raised."""
    if isinstance(exc, GoogleError):
        return exc
    if isinstance(exc, RefreshError):
        text = str(exc)
        if "invalid_grant" in text or "invalid_client" in text or "unauthorized" in text:
            return ReconnectError("Google refused the connection's token; reconnect the Google "
                                  "account", reason="invalid_grant")
        return RetryableError(f"token refresh failed: {type(exc).__name__}")
    if isinstance(exc, HttpError):
        status = int(exc.resp.status)
        reason = ""
        try:
            details = json.loads(exc.content.decode("utf-8")).get("error", {})
            errors = details.get("errors") or [{}]
            reason = str(errors[0].get("reason", ""))
        except (ValueError, AttributeError, UnicodeDecodeError):
            pass
        retry_after = exc.resp.get("retry-after")
        after = float(retry_after) if retry_after and str(retry_after).isdigit() else None
        message = f"Google answered {status}" + (f" ({reason})" if reason else "")
        if status == 403 and reason in QUOTA_REASONS:
            return QuotaError(message, status, reason, after)
        if status == 429 or status >= 500 or (status == 403 and reason in RETRY_REASONS):
            return RetryableError(message, status, reason, after)
        if status == 401:
            return RetryableError(message, status, reason, after)
        return GoogleError(message, status, reason, after)
    if isinstance(exc, (TimeoutError, socket.timeout, ConnectionError, OSError,
                        httplib2.HttpLib2Error, TransportError)):
        return RetryableError(f"Google could not be reached ({type(exc).__name__})")
    raise exc


@dataclass
class CallResult:
    response: dict[str, Any] | None = None
    error: GoogleError | None = None


def connection_error(results: Iterable[CallResult]) -> GoogleError | None:
    """The first error among `results` that concerns the whole connection (a refused token,
    an exhausted quota), which must stop its calls at once; a refused token comes first."""
    found: GoogleError | None = None
    for result in results:
        if isinstance(result.error, ReconnectError):
            return result.error
        if found is None and isinstance(result.error, QuotaError):
            found = result.error
    return found


class _NoTransport(httplib2.Http):
    """The shared service's own transport, never meant to be used: every request is executed
    with its connection's authorised http (`GoogleCalendarApi.call`, `batch`). A request sent
    through it would go out without the connection's credentials, so it is refused."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a Google request was sent without its connection's credentials")


_SERVICES_LOCK = threading.Lock()
_SERVICES: dict[str, Any] = {}


def calendar_service(endpoint: str) -> Any:
    """The Calendar v3 service object for the API at `endpoint`, built once per process and
    shared by every connection's client (each executes its requests with its own authorised
    http). Built per client, as `build` does, each parsed the discovery document and kept its
    own pretty-printed schemas (the methods' docstrings): about 510 KiB per connection after
    its first requests (a bridge serving 5,000 businesses held 1.4-2.0 GB). The library fixes
    up the document's method descriptions as it builds each resource, so every resource is
    built once here, under the lock, before the service is shared by threads."""
    with _SERVICES_LOCK:
        service = _SERVICES.get(endpoint)
        if service is None:
            text = discovery_cache.get_static_doc("calendar", "v3")
            if text is None:
                raise RuntimeError("google-api-python-client lacks its static Calendar v3 "
                                   "discovery document; reinstall it (scripts/venv.sh)")
            document: dict[str, Any] = json.loads(text)
            service = build_from_document(document, http=_NoTransport(),
                                          client_options={"api_endpoint": endpoint})
            for name in document.get("resources", {}):
                getattr(service, name)()
            _SERVICES[endpoint] = service
        return service


class GoogleCalendarApi:
    def __init__(self, config: GoogleConfig, refresh_token: str, *, timeout: float = 30.0,
                 max_attempts: int = 5, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.credentials = Credentials(
            token=None, refresh_token=refresh_token, token_uri=config.token_url,
            client_id=config.client_id, client_secret=config.client_secret,
            scopes=list(config.scopes))
        self.http = AuthorizedHttp(self.credentials, http=httplib2.Http(timeout=timeout))
        self.service = calendar_service(config.api_url + "calendar/v3/")
        self.max_attempts = max_attempts
        self.sleep = sleep

    # --- single calls with bounded retries ----------------------------------------------------

    def call(self, request: HttpRequest, *, attempts: int | None = None) -> dict[str, Any]:
        """Execute one request, retrying retryable errors with backoff up to `attempts` calls
        in all (default: max_attempts); raise the classified error."""
        limit = self.max_attempts if attempts is None else max(1, attempts)
        attempt = 0
        while True:
            attempt += 1
            try:
                answer: dict[str, Any] = request.execute(http=self.http, num_retries=0) or {}
                return answer
            except Exception as exc:  # classified below; unknown kinds re-raise
                error = classify(exc)
                if not isinstance(error, RetryableError) or attempt >= limit:
                    raise error from None
                delay = backoff_delay(attempt, error.retry_after)
                log.info("Google call failed (%s); retry %d in %.1f s", error.message, attempt,
                         delay)
                self.sleep(delay)

    def events(self) -> Any:
        return self.service.events()

    def close_idle(self) -> None:
        """Close the kept-alive connections, keeping the access token (the bridge calls it
        after each pass over the connection: thousands of idle clients must not hold a socket
        each); the next request opens a new one."""
        self.http.http.close()

    def primary_email(self) -> str:
        found = self.call(self.service.calendarList().get(calendarId="primary"))
        return str(found.get("id", ""))

    # --- batches --------------------------------------------------------------------------------

    def batch(self, calls: dict[str, HttpRequest], *, part_attempts: int | None = None
              ) -> dict[str, CallResult]:
        """Run calls in batches of at most 50 (Google runs the parts in any order, so the
        caller puts at most one call per event in a batch). Each part's error is classified as
        a single call's would be. A part that fails with a retryable error is retried on its
        own, with backoff, up to `part_attempts` calls in all (default: max_attempts). A refused
        token or an exhausted quota, on the whole batch or on any part, stops everything at
        once: no retry, no further batch (the parts not sent carry that error too)."""
        results: dict[str, CallResult] = {}
        keys = list(calls)
        for start in range(0, len(keys), BATCH_LIMIT):
            part = keys[start:start + BATCH_LIMIT]
            results.update(self._one_batch({key: calls[key] for key in part}))
            stop = connection_error(results.values())
            if stop is not None:
                return {key: results.get(key) or CallResult(error=stop) for key in keys}
        attempts = self.max_attempts if part_attempts is None else part_attempts
        stopped: GoogleError | None = None
        for key, result in results.items():
            if not isinstance(result.error, RetryableError) or attempts <= 1:
                continue
            if stopped is not None:  # the connection is stopped: no more calls
                results[key] = CallResult(error=stopped)
                continue
            try:
                results[key] = CallResult(response=self.call(calls[key], attempts=attempts - 1))
            except (QuotaError, ReconnectError) as exc:
                results[key] = CallResult(error=exc)
                stopped = exc
            except GoogleError as exc:
                results[key] = CallResult(error=exc)
        return results

    def _one_batch(self, calls: dict[str, HttpRequest]) -> dict[str, CallResult]:
        results: dict[str, CallResult] = {}

        def collect(request_id: str, response: Any, exception: Exception | None) -> None:
            if exception is not None:
                results[request_id] = CallResult(error=classify(exception))
            else:
                results[request_id] = CallResult(response=response or {})

        batch = BatchHttpRequest(callback=collect, batch_uri=self.config.batch_url)
        for key, request in calls.items():
            batch.add(request, request_id=key)
        try:
            batch.execute(http=self.http)
        except Exception as exc:  # the whole batch failed: every part is retried alone
            error = classify(exc)
            return {key: CallResult(error=error if isinstance(error, GoogleError)
                                    else RetryableError(str(exc))) for key in calls}
        for key in calls:
            results.setdefault(key, CallResult(error=RetryableError("no answer in the batch")))
        return results

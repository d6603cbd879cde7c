"""The bridge's error classification and backoff maths (server/google/api.py): pure functions,
no network, no sleeping."""

from __future__ import annotations

import json
import socket

import httplib2
import pytest
from google.auth.exceptions import RefreshError
from googleapiclient.errors import HttpError

from server.google.api import (
    GoogleError, QuotaError, ReconnectError, RetryableError, backoff_delay, classify,
)


def http_error(status: int, reason: str = "", retry_after: str | None = None) -> HttpError:
    headers = {"status": str(status)}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    body = {"error": {"code": status, "errors": [{"reason": reason}] if reason else []}}
    return HttpError(httplib2.Response(headers), json.dumps(body).encode())


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    low = [backoff_delay(n, None, rng=lambda: 0.0) for n in range(1, 9)]
    high = [backoff_delay(n, None, rng=lambda: 1.0) for n in range(1, 9)]
    assert low == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert high == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    assert backoff_delay(3, None, base=0.1, cap=0.3, rng=lambda: 1.0) == pytest.approx(0.3)


def test_backoff_honours_retry_after_within_the_cap() -> None:
    assert backoff_delay(1, 7.0) == 7.0
    assert backoff_delay(5, 7.0) == 7.0  # not multiplied by the attempt
    assert backoff_delay(1, 3600.0) == 60.0
    assert backoff_delay(1, -5.0) == 0.0


@pytest.mark.parametrize(("status", "reason", "kind"), [
    (429, "rateLimitExceeded", RetryableError),
    (500, "backendError", RetryableError),
    (503, "", RetryableError),
    (403, "rateLimitExceeded", RetryableError),
    (403, "userRateLimitExceeded", RetryableError),
    (403, "quotaExceeded", QuotaError),
    (403, "dailyLimitExceeded", QuotaError),
    (403, "forbidden", GoogleError),
    (404, "notFound", GoogleError),
    (409, "duplicate", GoogleError),
    (410, "fullSyncRequired", GoogleError),
    (412, "conditionNotMet", GoogleError),
])
def test_http_errors_are_classified_once(status: int, reason: str,
                                         kind: type[GoogleError]) -> None:
    error = classify(http_error(status, reason))
    assert type(error) is kind
    assert (error.status, error.reason) == (status, reason)


def test_retry_after_is_read_from_the_answer() -> None:
    assert classify(http_error(429, "rateLimitExceeded", "12")).retry_after == 12.0
    assert classify(http_error(429, "rateLimitExceeded", "soon")).retry_after is None


def test_refused_refresh_tokens_need_reconnection_and_network_trouble_is_retried() -> None:
    refused = classify(RefreshError("invalid_grant: Token has been expired or revoked."))
    assert isinstance(refused, ReconnectError) and "reconnect" in refused.message
    assert isinstance(classify(RefreshError("temporarily unavailable")), RetryableError)
    for exc in (socket.timeout("timed out"), ConnectionResetError(), TimeoutError()):
        assert isinstance(classify(exc), RetryableError)
    with pytest.raises(ValueError):
        classify(ValueError("a bug of ours is not a Google error"))

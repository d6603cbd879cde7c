"""The bridge's backoff maths (issue 13): an item Google refuses waits 1 min, doubling up to
1 h, longer when Google says so; a connection's reads and writes back off apart."""

from __future__ import annotations

import datetime as dt

from server.sync import item_errors
from server.sync.backoff import BACKOFF_CAP, Backoff
from server.google.api import GoogleError, QuotaError, ReconnectError, RetryableError

NOW = dt.datetime(2030, 1, 7, 9, 0, tzinfo=dt.timezone.utc)  # injected; any instant will do


def test_a_refused_item_waits_a_minute_doubling_up_to_an_hour() -> None:
    minutes = [item_errors.backoff(n) // dt.timedelta(minutes=1) for n in range(1, 10)]
    assert minutes == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert item_errors.backoff(1, retry_after=600) == dt.timedelta(minutes=10)
    assert item_errors.backoff(1, retry_after=10**6) == item_errors.MAX_BACKOFF


def test_only_errors_of_the_item_alone_are_recorded_on_it() -> None:
    assert item_errors.permanent(GoogleError("bad", 400, "invalid"))
    assert not item_errors.permanent(RetryableError("503", 503))
    assert not item_errors.permanent(QuotaError("quota", 403, "quotaExceeded"))
    assert not item_errors.permanent(ReconnectError("grant", reason="invalid_grant"))
    assert not item_errors.permanent(GoogleError("gone calendar", 404, "notFound"))


def test_reads_and_writes_back_off_apart_and_a_success_resets() -> None:
    reads, writes = Backoff(), Backoff()
    waits = [reads.failed(1, NOW, RetryableError("500", 500)) for _ in range(10)]
    assert all(0 < wait <= BACKOFF_CAP for wait in waits) and waits[-1] >= BACKOFF_CAP / 2
    assert not reads.ready(1, NOW) and writes.ready(1, NOW) and reads.ready(2, NOW)
    assert reads.ready(1, NOW + dt.timedelta(seconds=BACKOFF_CAP))
    reads.succeeded(1)
    assert reads.ready(1, NOW)
    assert reads.failed(1, NOW, RetryableError("429", 429, retry_after=30)) == 30

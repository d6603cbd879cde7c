"""What the fake Google does as strictly as the real one, for issue 13's tests: a full
`events.update` replaces the whole event (our private mark included); `fromGmail` events come
only from Gmail, never from a client; a 400 or a quota error on one part of a batch is that
part's answer alone."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from fakes import FakeClock, FakeGoogle, FaultKind

NOW = dt.datetime(2027, 1, 4, 8, 0, tzinfo=dt.UTC)  # the fake's own injected clock


@pytest.fixture
def fake() -> Iterator[FakeGoogle]:
    with FakeGoogle(clock=FakeClock(NOW), seed=7) as server:
        yield server
        assert server.internal_errors == []


def timed(**extra: Any) -> dict[str, Any]:
    return {"summary": "x", "start": {"dateTime": "2027-01-05T10:00:00Z"},
            "end": {"dateTime": "2027-01-05T11:00:00Z"}, **extra}


def test_a_full_update_drops_what_it_leaves_out(fake: FakeGoogle) -> None:
    made = fake.service().events().insert(calendarId="primary", body=timed(
        extendedProperties={"private": {"bookingcal": "booking:1"}},
        description="ours")).execute()
    replaced = fake.app_update_event("primary", made["id"], timed(summary="theirs"))
    assert "extendedProperties" not in replaced and "description" not in replaced
    assert replaced["etag"] != made["etag"] and replaced["summary"] == "theirs"


def test_from_gmail_events_come_only_from_gmail(fake: FakeGoogle) -> None:
    with pytest.raises(HttpError) as caught:
        fake.service().events().insert(calendarId="primary",
                                       body=timed(eventType="fromGmail")).execute()
    assert caught.value.status_code == 400
    made = fake.gmail_add_event("primary", timed(summary="Flight CPH-LHR"))
    assert made["eventType"] == "fromGmail"
    listed = fake.service().events().list(calendarId="primary").execute()["items"]
    assert [(e["eventType"], e["summary"]) for e in listed] == [("fromGmail", "Flight CPH-LHR")]


@pytest.mark.parametrize(("kind", "status", "reason"), [
    (FaultKind.BAD_REQUEST, 400, "invalid"), (FaultKind.QUOTA_EXCEEDED, 403, "quotaExceeded")])
def test_an_error_on_one_part_of_a_batch_is_that_parts_answer(
        fake: FakeGoogle, kind: FaultKind, status: int, reason: str) -> None:
    service = fake.service()
    fake.inject_fault(kind, endpoint="calendar.events.insert")
    answers: dict[str, Any] = {}
    batch = fake.new_batch(callback=lambda rid, response, exc: answers.__setitem__(rid, exc))
    for n in range(3):
        batch.add(service.events().insert(calendarId="primary", body=timed(id=f"part{n:05d}")),
                  request_id=f"r{n}")
    batch.execute()
    failed = {rid: exc for rid, exc in answers.items() if exc is not None}
    assert len(failed) == 1 and len(fake.events()) == 2
    [error] = failed.values()
    assert isinstance(error, HttpError) and error.status_code == status
    assert json.loads(error.content)["error"]["errors"][0]["reason"] == reason

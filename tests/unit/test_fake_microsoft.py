"""The fake Microsoft Graph is strict where the adapter could go wrong: bearer tokens, the
20-part $batch limit, unknown event properties, calendarView/delta parameters, transactionId
dedup, If-Match, invalid_grant and the one $filter shape on our extended property."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from fakes.microsoft_fake import FakeMicrosoft

# The fake runs on the real clock: every date here derives from the real now.
DAY = dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=30)
EVENT = {"subject": "x", "start": {"dateTime": f"{DAY}T09:00:00", "timeZone": "UTC"},
         "end": {"dateTime": f"{DAY}T10:00:00", "timeZone": "UTC"}}
CAL = "AAMkCalendar"


@pytest.fixture
def graph() -> Iterator[tuple[FakeMicrosoft, requests.Session]]:
    with FakeMicrosoft() as fake:
        answer = requests.post(f"{fake.authority}/oauth2/v2.0/token", verify=fake.ca_file,
                               timeout=10, data={
                                   "client_id": fake.client_id,
                                   "client_secret": fake.client_secret,
                                   "grant_type": "refresh_token",
                                   "refresh_token": fake.identity.issue_refresh_token()})
        assert answer.status_code == 200
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        yield fake, session
        assert fake.internal_errors == []


def call(graph: tuple[FakeMicrosoft, requests.Session], method: str, path: str,
         **kwargs: Any) -> requests.Response:
    fake, session = graph
    return session.request(method, fake.graph + path, verify=fake.ca_file, timeout=10,
                           **kwargs)


def test_requests_need_a_bearer_token(graph: tuple[FakeMicrosoft, requests.Session]) -> None:
    fake, _ = graph
    answer = requests.get(fake.graph + "/me", verify=fake.ca_file, timeout=10)
    assert answer.status_code == 401


def test_a_refused_refresh_token_is_invalid_grant(
        graph: tuple[FakeMicrosoft, requests.Session]) -> None:
    fake, _ = graph
    answer = requests.post(f"{fake.authority}/oauth2/v2.0/token", verify=fake.ca_file,
                           timeout=10, data={"client_id": fake.client_id,
                                             "client_secret": fake.client_secret,
                                             "grant_type": "refresh_token",
                                             "refresh_token": "stolen"})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_batches_hold_at_most_20_parts(graph: tuple[FakeMicrosoft, requests.Session]) -> None:
    parts = [{"id": str(n), "method": "GET", "url": "/me"} for n in range(21)]
    assert call(graph, "POST", "/$batch", json={"requests": parts}).status_code == 400
    answer = call(graph, "POST", "/$batch", json={"requests": parts[:20]})
    assert answer.status_code == 200 and len(answer.json()["responses"]) == 20


def test_unknown_properties_and_bad_windows_are_refused(
        graph: tuple[FakeMicrosoft, requests.Session]) -> None:
    bad = call(graph, "POST", f"/me/calendars/{CAL}/events", json={**EVENT, "colour": "red"})
    assert bad.status_code == 400
    window = call(graph, "GET", f"/me/calendars/{CAL}/calendarView/delta",
                  params={"startDateTime": f"{DAY + dt.timedelta(days=1)}T00:00:00Z"})
    assert window.status_code == 400


def test_transaction_ids_dedup_creates_and_if_match_guards_updates(
        graph: tuple[FakeMicrosoft, requests.Session]) -> None:
    body = {**EVENT, "transactionId": "bookingcal-booking-1-abc"}
    first = call(graph, "POST", f"/me/calendars/{CAL}/events", json=body).json()
    again = call(graph, "POST", f"/me/calendars/{CAL}/events", json=body).json()
    assert first["id"] == again["id"]
    stale = call(graph, "PATCH", f"/me/events/{first['id']}", json={"subject": "y"},
                 headers={"If-Match": 'W/"old"'})
    assert stale.status_code == 412
    fresh = call(graph, "PATCH", f"/me/events/{first['id']}", json={"subject": "y"},
                 headers={"If-Match": first["@odata.etag"]})
    assert fresh.status_code == 200 and fresh.json()["@odata.etag"] != first["@odata.etag"]


def test_the_extended_property_filter(graph: tuple[FakeMicrosoft, requests.Session]) -> None:
    prop = "String {4c1f5a36-8f8e-4b8e-9a57-1b0d5c7e2a11} Name bookingcal"
    call(graph, "POST", f"/me/calendars/{CAL}/events", json={
        **EVENT, "singleValueExtendedProperties": [{"id": prop, "value": "booking:1;v1"}]})
    call(graph, "POST", f"/me/calendars/{CAL}/events", json=EVENT)
    found = call(graph, "GET", f"/me/calendars/{CAL}/events", params={
        "$filter": f"singleValueExtendedProperties/any(ep: ep/id eq '{prop}' and "
                   "ep/value ne null)",
        "$expand": f"singleValueExtendedProperties($filter=id eq '{prop}')", "$select": "id"})
    assert found.status_code == 200
    [tagged] = found.json()["value"]
    assert tagged["singleValueExtendedProperties"] == [{"id": prop, "value": "booking:1;v1"}]
    other = call(graph, "GET", f"/me/calendars/{CAL}/events", params={"$filter": "subject eq 'x'"})
    assert other.status_code == 400


def test_an_expired_delta_token_is_410(graph: tuple[FakeMicrosoft, requests.Session]) -> None:
    fake, _ = graph
    first = call(graph, "GET", f"/me/calendars/{CAL}/calendarView/delta", params={
        "startDateTime": f"{DAY - dt.timedelta(days=31)}T00:00:00Z",
        "endDateTime": f"{DAY + dt.timedelta(days=334)}T00:00:00Z"}).json()
    link = first["@odata.deltaLink"]
    fake.mailbox.expire_tokens()
    answer = fake_get(graph, link)
    assert answer.status_code == 410
    assert answer.json()["error"]["code"] == "SyncStateNotFound"


def fake_get(graph: tuple[FakeMicrosoft, requests.Session], url: str) -> requests.Response:
    fake, session = graph
    return session.get(url, verify=fake.ca_file, timeout=10)


def test_each_account_is_served_from_its_own_mailbox() -> None:
    """A fleet's accounts (bench/fleet_bench.py): each access token reaches its user's mailbox
    and only that one, in plain requests and in $batch parts alike."""
    with FakeMicrosoft() as fake:
        other = "ole@fabrikam.example"
        fake.add_user(other)
        fake.add_calendar(other, "AAMkStaff", "Staff")

        def session_of(user: str) -> requests.Session:
            answer = requests.post(f"{fake.authority}/oauth2/v2.0/token", verify=fake.ca_file,
                                   timeout=10, data={
                                       "client_id": fake.client_id,
                                       "client_secret": fake.client_secret,
                                       "grant_type": "refresh_token",
                                       "refresh_token": fake.identity.issue_refresh_token(user)})
            assert answer.status_code == 200
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
            return session

        first, second = (fake, session_of(fake.user)), (fake, session_of(other))
        assert call(second, "GET", "/me").json()["mail"] == other
        assert call(first, "GET", "/me").json()["mail"] == fake.user
        names = [c["id"] for c in call(second, "GET", "/me/calendars").json()["value"]]
        assert names == [CAL, "AAMkStaff"]
        assert call(first, "GET", "/me/calendars/AAMkStaff/calendarView/delta", params={
            "startDateTime": f"{DAY}T00:00:00Z",
            "endDateTime": f"{DAY + dt.timedelta(days=1)}T00:00:00Z"}).status_code == 404
        made = call(second, "POST", "/$batch", json={"requests": [{
            "id": "1", "method": "POST", "url": "/me/calendars/AAMkStaff/events",
            "headers": {"Content-Type": "application/json"}, "body": EVENT}]})
        [part] = made.json()["responses"]
        assert part["status"] == 201
        assert set(fake.mailboxes[other].events) == {part["body"]["id"]}
        assert fake.mailbox.events == {}
        assert call(first, "GET", f"/me/events/{part['body']['id']}").status_code == 404
        assert {entry.user for entry in fake.requests("POST /v1.0/me/calendars/*")} == {other}
        assert fake.internal_errors == []

"""The fake Google Calendar v3 + OAuth server, driven by the real client libraries over HTTP."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import socket
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from google.auth.exceptions import RefreshError
from google_auth_oauthlib.flow import Flow
from googleapiclient.errors import HttpError

from fakes import FakeClock, FakeGoogle, FaultKind
from fakes.google_oauth import CALENDAR, CALENDAR_READONLY
from fakes.webhook_listener import WebhookListener

NOW = dt.datetime(2027, 1, 4, 8, 0, tzinfo=dt.UTC)  # a Monday
REDIRECT = "http://127.0.0.1:8765/oauth/callback"


@pytest.fixture
def fake() -> Iterator[FakeGoogle]:
    with FakeGoogle(clock=FakeClock(NOW), seed=7) as server:
        yield server
        assert server.internal_errors == []


@pytest.fixture
def service(fake: FakeGoogle) -> Any:
    return fake.service()


def timed(start: str, end: str, **extra: Any) -> dict[str, Any]:
    return {"summary": "x", "start": {"dateTime": start}, "end": {"dateTime": end}, **extra}


def error_of(exc: HttpError) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.content)["error"]
    return body


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def consent(fake: FakeGoogle, **params: str) -> dict[str, list[str]]:
    query = {"client_id": fake.client_id, "redirect_uri": REDIRECT, "response_type": "code",
             "scope": CALENDAR, "state": "st4te", "access_type": "offline", **params}
    answer = requests.get(fake.auth_uri, params=query, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)


def token(fake: FakeGoogle, **form: str) -> requests.Response:
    data = {"client_id": fake.client_id, "client_secret": fake.client_secret, **form}
    return requests.post(fake.token_uri, data=data, timeout=5)


# ------------------------------------------------------------------------ OAuth


def test_code_exchange_with_pkce(fake: FakeGoogle) -> None:
    verifier, challenge = pkce()
    redirect = consent(fake, code_challenge=challenge, code_challenge_method="S256", prompt="consent")
    assert redirect["state"] == ["st4te"] and redirect["scope"] == [CALENDAR]
    code = redirect["code"][0]

    wrong = token(fake, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                  code_verifier=pkce()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"

    code = consent(fake, code_challenge=challenge, code_challenge_method="S256")["code"][0]
    assert token(fake, grant_type="authorization_code", code=code,
                 redirect_uri=REDIRECT).json()["error"] == "invalid_grant"  # verifier missing: code spent
    code = consent(fake, code_challenge=challenge, code_challenge_method="S256")["code"][0]
    granted = token(fake, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier)
    assert granted.status_code == 200, granted.text
    body = granted.json()
    assert set(body) == {"access_token", "expires_in", "refresh_token", "scope", "token_type"}
    assert body["token_type"] == "Bearer" and body["scope"] == CALENDAR and body["expires_in"] == 3599

    again = token(fake, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier)
    assert again.json()["error"] == "invalid_grant"  # codes are single-use

    api = f"{fake.api_endpoint}users/me/calendarList"
    assert requests.get(api, headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=5).ok
    missing = requests.get(api, timeout=5)
    assert missing.status_code == 401
    assert missing.json()["error"]["errors"][0]["reason"] == "required"
    bogus = requests.get(api, headers={"Authorization": "Bearer ya29.nope"}, timeout=5)
    assert bogus.status_code == 401 and bogus.json()["error"]["status"] == "UNAUTHENTICATED"
    assert bogus.json()["error"]["errors"][0] == {
        "domain": "global", "reason": "authError", "message": bogus.json()["error"]["message"],
        "location": "Authorization", "locationType": "header"}


def test_consent_denied_and_redirect_rules(fake: FakeGoogle) -> None:
    fake.deny_next_consent()
    assert consent(fake) == {"error": ["access_denied"], "state": ["st4te"]}
    mismatch = requests.get(fake.auth_uri, params={"client_id": fake.client_id, "response_type": "code",
                                                   "redirect_uri": "https://evil.example/cb", "scope": CALENDAR},
                            allow_redirects=False, timeout=5)
    assert mismatch.status_code == 400 and "redirect_uri_mismatch" in mismatch.text


def test_refresh_token_only_on_first_offline_consent(fake: FakeGoogle) -> None:
    first = consent(fake)["code"][0]
    assert "refresh_token" in token(fake, grant_type="authorization_code", code=first, redirect_uri=REDIRECT).json()
    second = consent(fake)["code"][0]
    assert "refresh_token" not in token(fake, grant_type="authorization_code", code=second,
                                        redirect_uri=REDIRECT).json()
    forced = consent(fake, prompt="consent")["code"][0]
    assert "refresh_token" in token(fake, grant_type="authorization_code", code=forced, redirect_uri=REDIRECT).json()


def test_google_auth_oauthlib_flow(fake: FakeGoogle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake speaks plain HTTP on loopback
    flow = Flow.from_client_config(fake.client_config(), scopes=[CALENDAR], redirect_uri=REDIRECT)
    url, state = flow.authorization_url(access_type="offline", prompt="consent")
    location = requests.get(url, allow_redirects=False, timeout=5).headers["Location"]
    flow.fetch_token(authorization_response=location)
    creds = flow.credentials
    assert creds.refresh_token and creds.token_uri == fake.token_uri
    [exchange] = fake.requests("oauth.token")
    assert exchange.body["code_verifier"] == [flow.code_verifier]
    items = fake.service(creds).calendarList().list().execute()["items"]
    assert [c["id"] for c in items] == [fake.default_user]


def test_refresh_then_invalid_grant(fake: FakeGoogle) -> None:
    creds = fake.credentials()
    service = fake.service(creds)
    fake.expire_access_tokens()
    service.calendarList().list().execute()  # 401 -> google-auth refreshes -> retried
    assert [r.status for r in fake.requests("calendar.calendarList.list")] == [401, 200]
    assert fake.count("oauth.token") == 1

    fake.revoke_refresh_token(creds.refresh_token)
    fake.expire_access_tokens()
    with pytest.raises(RefreshError, match="invalid_grant"):
        service.calendarList().list().execute()
    raw = token(fake, grant_type="refresh_token", refresh_token=creds.refresh_token)
    assert raw.status_code == 400 and raw.json() == {"error": "invalid_grant",
                                                     "error_description": "Token has been expired or revoked."}


def test_revoke_endpoint_revokes_the_grant(fake: FakeGoogle) -> None:
    tokens = fake.issue_tokens()
    assert requests.post(fake.revoke_uri, params={"token": tokens["access_token"]}, timeout=5).status_code == 200
    refreshed = token(fake, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.json()["error"] == "invalid_grant"
    assert requests.post(fake.revoke_uri, params={"token": "nope"}, timeout=5).status_code == 400


def test_scopes_are_enforced(fake: FakeGoogle) -> None:
    readonly = fake.service(fake.credentials(scopes=[CALENDAR_READONLY]))
    readonly.events().list(calendarId="primary").execute()
    with pytest.raises(HttpError) as caught:
        readonly.events().insert(calendarId="primary", body=timed("2027-01-05T10:00:00Z",
                                                                   "2027-01-05T11:00:00Z")).execute()
    assert caught.value.status_code == 403 and caught.value.reason == "Request had insufficient authentication scopes."


# ---------------------------------------------------------------------- events


def test_insert_with_client_id_then_duplicate(fake: FakeGoogle, service: Any) -> None:
    body = timed("2027-01-05T10:00:00+01:00", "2027-01-05T11:00:00+01:00", id="bk0123456789abcdefuv")
    created = service.events().insert(calendarId="primary", body=body, sendUpdates="none").execute()
    assert created["id"] == "bk0123456789abcdefuv" and created["status"] == "confirmed"
    assert created["start"] == {"dateTime": "2027-01-05T09:00:00Z"}  # rendered in the calendar's zone
    with pytest.raises(HttpError) as caught:
        service.events().insert(calendarId="primary", body=body).execute()
    assert caught.value.status_code == 409 and error_of(caught.value)["errors"][0]["reason"] == "duplicate"

    service.events().delete(calendarId="primary", eventId="bk0123456789abcdefuv").execute()
    with pytest.raises(HttpError) as reused:
        service.events().insert(calendarId="primary", body=body).execute()
    assert reused.value.status_code == 409  # ids of deleted events stay taken
    with pytest.raises(HttpError) as twice:
        service.events().delete(calendarId="primary", eventId="bk0123456789abcdefuv").execute()
    assert twice.value.status_code == 410 and twice.value.reason == "Resource has been deleted"
    with pytest.raises(HttpError) as unknown:
        service.events().delete(calendarId="primary", eventId="nosuchevent").execute()
    assert unknown.value.status_code == 404
    for bad_id in ("Upper12345", "with_underscore", "wxyz12345", "abcd"):
        with pytest.raises(HttpError) as invalid:
            service.events().insert(calendarId="primary", body={**body, "id": bad_id}).execute()
        assert invalid.value.status_code == 400 and invalid.value.reason == "Invalid resource id value."


def test_event_validation(service: Any) -> None:
    cases = [
        ({"summary": "no end", "start": {"dateTime": "2027-01-05T10:00:00Z"}}, "Missing end time."),
        (timed("2027-01-05T11:00:00Z", "2027-01-05T10:00:00Z"), "The specified time range is empty."),
        (timed("2027-01-05T10:00:00", "2027-01-05T11:00:00"), "Missing time zone definition for start time."),
        ({**timed("2027-01-05T10:00:00Z", "2027-01-05T11:00:00Z"), "transparency": "busy"},
         "Invalid value for: transparency"),
        ({**timed("2027-01-05T10:00:00Z", "2027-01-05T11:00:00Z"), "recurrence": ["RRULE:FREQ=DAILY"]},
         "Missing time zone definition for start time."),
    ]
    for body, message in cases:
        with pytest.raises(HttpError) as caught:
            service.events().insert(calendarId="primary", body=body).execute()
        assert caught.value.status_code == 400 and caught.value.reason == message


def test_list_pages_and_sync_token_only_on_last_page(fake: FakeGoogle, service: Any) -> None:
    start = dt.datetime(2027, 2, 1, tzinfo=dt.UTC)
    for n in range(600):
        at = start + dt.timedelta(hours=n)
        fake.user_insert_event("primary", timed(at.isoformat(), (at + dt.timedelta(minutes=30)).isoformat()))
    pages, token_ = [], None
    while True:
        page = service.events().list(calendarId="primary", maxResults=250, pageToken=token_).execute()
        pages.append(page)
        token_ = page.get("nextPageToken")
        if token_ is None:
            break
    assert [len(p["items"]) for p in pages] == [250, 250, 100]
    assert ["nextSyncToken" in p for p in pages] == [False, False, True]
    assert len({e["id"] for p in pages for e in p["items"]}) == 600
    assert len(service.events().list(calendarId="primary", maxResults=5000).execute()["items"]) == 600
    with pytest.raises(HttpError) as caught:
        service.events().list(calendarId="primary", maxResults=250, pageToken=pages[0]["nextPageToken"],
                              singleEvents=True).execute()
    assert caught.value.status_code == 400  # a page token belongs to its query


def test_incremental_sync_after_update_and_delete(fake: FakeGoogle, service: Any) -> None:
    ids = [service.events().insert(calendarId="primary", body=timed(f"2027-01-0{d}T10:00:00Z",
                                                                     f"2027-01-0{d}T11:00:00Z")).execute()["id"]
           for d in (5, 6, 7)]
    full = service.events().list(calendarId="primary").execute()
    sync = full["nextSyncToken"]
    assert service.events().list(calendarId="primary", syncToken=sync).execute()["items"] == []

    service.events().patch(calendarId="primary", eventId=ids[0], body={"summary": "moved"}).execute()
    service.events().delete(calendarId="primary", eventId=ids[1]).execute()
    fake.user_patch_event("primary", ids[2], {"transparency": "transparent"})
    delta = service.events().list(calendarId="primary", syncToken=sync).execute()
    by_id = {e["id"]: e for e in delta["items"]}
    assert set(by_id) == set(ids)
    assert by_id[ids[0]]["summary"] == "moved"
    assert set(by_id[ids[1]]) == {"kind", "etag", "id", "status"} and by_id[ids[1]]["status"] == "cancelled"
    assert by_id[ids[2]]["transparency"] == "transparent"
    assert service.events().list(calendarId="primary", syncToken=delta["nextSyncToken"]).execute()["items"] == []
    listed = service.events().list(calendarId="primary").execute()["items"]
    assert ids[1] not in {e["id"] for e in listed}  # deleted events only with showDeleted / sync


@pytest.mark.parametrize("extra", [{"timeMin": "2027-01-01T00:00:00Z"}, {"timeMax": "2027-01-01T00:00:00Z"},
                                   {"updatedMin": "2027-01-01T00:00:00Z"}, {"q": "x"},
                                   {"privateExtendedProperty": "a=b"}, {"orderBy": "updated"}])
def test_sync_token_with_restrictions_is_400(service: Any, extra: dict[str, str]) -> None:
    sync = service.events().list(calendarId="primary").execute()["nextSyncToken"]
    with pytest.raises(HttpError) as caught:
        service.events().list(calendarId="primary", syncToken=sync, **extra).execute()
    assert caught.value.status_code == 400


def test_invalidated_sync_token_is_410(fake: FakeGoogle, service: Any) -> None:
    sync = service.events().list(calendarId="primary").execute()["nextSyncToken"]
    fake.invalidate_sync_tokens("primary")
    with pytest.raises(HttpError) as caught:
        service.events().list(calendarId="primary", syncToken=sync).execute()
    assert caught.value.status_code == 410 and error_of(caught.value)["errors"][0]["reason"] == "fullSyncRequired"
    fresh = service.events().list(calendarId="primary").execute()["nextSyncToken"]
    assert service.events().list(calendarId="primary", syncToken=fresh).execute()["items"] == []


def test_single_events_expansion_with_cancelled_instances(fake: FakeGoogle, service: Any) -> None:
    zone = "Europe/Copenhagen"  # weekly at 10:00 local across the DST change of 2027-03-28
    series = service.events().insert(calendarId="primary", body={
        "summary": "weekly", "start": {"dateTime": "2027-03-15T10:00:00", "timeZone": zone},
        "end": {"dateTime": "2027-03-15T11:00:00", "timeZone": zone},
        "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=5", f"EXDATE;TZID={zone}:20270322T100000"],
    }).execute()
    sid = series["id"]
    sync = service.events().list(calendarId="primary", singleEvents=True).execute()["nextSyncToken"]
    service.events().delete(calendarId="primary", eventId=f"{sid}_20270329T080000Z").execute()

    items = service.events().list(calendarId="primary", singleEvents=True, orderBy="startTime").execute()["items"]
    assert [i["id"] for i in items] == [f"{sid}_20270315T090000Z", f"{sid}_20270405T080000Z",
                                        f"{sid}_20270412T080000Z"]
    assert all(i["recurringEventId"] == sid and "recurrence" not in i for i in items)
    assert items[1]["start"] == {"dateTime": "2027-04-05T10:00:00+02:00", "timeZone": zone}
    assert items[1]["originalStartTime"] == items[1]["start"]

    with_deleted = service.events().list(calendarId="primary", singleEvents=True, showDeleted=True).execute()
    cancelled = [i for i in with_deleted["items"] if i["status"] == "cancelled"]
    assert [i["id"] for i in cancelled] == [f"{sid}_20270329T080000Z"]  # EXDATEs are simply absent

    unexpanded = service.events().list(calendarId="primary").execute()["items"]
    assert [(i["id"], i["status"]) for i in unexpanded] == [(sid, "confirmed"),
                                                            (f"{sid}_20270329T080000Z", "cancelled")]
    delta = service.events().list(calendarId="primary", singleEvents=True, syncToken=sync).execute()["items"]
    assert delta == [{"kind": "calendar#event", "etag": delta[0]["etag"], "id": f"{sid}_20270329T080000Z",
                      "status": "cancelled", "recurringEventId": sid,
                      "originalStartTime": {"dateTime": "2027-03-29T10:00:00+02:00", "timeZone": zone}}]
    assert [i["id"] for i in service.events().instances(calendarId="primary", eventId=sid).execute()["items"]] == [
        i["id"] for i in items]


def test_patch_with_wrong_if_match_is_412(service: Any) -> None:
    event = service.events().insert(calendarId="primary", body=timed("2027-01-05T10:00:00Z",
                                                                      "2027-01-05T11:00:00Z")).execute()
    stale = service.events().patch(calendarId="primary", eventId=event["id"], body={"summary": "a"})
    stale.headers["If-Match"] = '"1234"'
    with pytest.raises(HttpError) as caught:
        stale.execute()
    assert caught.value.status_code == 412 and error_of(caught.value)["errors"][0]["reason"] == "conditionNotMet"
    fresh = service.events().patch(calendarId="primary", eventId=event["id"],
                                   body={"extendedProperties": {"private": {"booking": "42"}}})
    fresh.headers["If-Match"] = event["etag"]
    patched = fresh.execute()
    assert patched["etag"] != event["etag"] and patched["summary"] == "x"
    assert patched["extendedProperties"] == {"private": {"booking": "42"}}
    found = service.events().list(calendarId="primary", privateExtendedProperty="booking=42").execute()["items"]
    assert [e["id"] for e in found] == [event["id"]]


# ----------------------------------------------------------------------- batch


def test_batch_of_50_inserts_runs_shuffled(fake: FakeGoogle, service: Any) -> None:
    assert service.new_batch_http_request()._batch_uri == "https://www.googleapis.com/batch/calendar/v3"
    answers: dict[str, tuple[Any, Any]] = {}
    batch = fake.new_batch(callback=lambda rid, response, exc: answers.__setitem__(rid, (response, exc)))
    for n in range(50):
        body = timed("2027-01-05T10:00:00Z", "2027-01-05T11:00:00Z", id=f"batch{n:05d}", summary=f"n{n}")
        batch.add(service.events().insert(calendarId="primary", body=body), request_id=f"r{n}")
    batch.execute()
    assert sorted(answers) == sorted(f"r{n}" for n in range(50))
    assert all(exc is None and resp["summary"] == f"n{rid[1:]}" for rid, (resp, exc) in answers.items())
    record = fake.batches[-1]
    assert sorted(record.executed) == sorted(record.content_ids) and record.executed != record.content_ids
    assert fake.count("calendar.events.insert") == 50 and fake.count("batch") == 1
    assert len(fake.events()) == 50

    mixed: dict[str, Any] = {}
    second = fake.new_batch(callback=lambda rid, response, exc: mixed.__setitem__(rid, exc))
    second.add(service.events().insert(calendarId="primary", body=timed(
        "2027-01-05T10:00:00Z", "2027-01-05T11:00:00Z", id="batch00000")), request_id="dup")
    second.add(service.events().get(calendarId="primary", eventId="batch00001"), request_id="ok")
    second.execute()
    assert mixed["ok"] is None and isinstance(mixed["dup"], HttpError) and mixed["dup"].status_code == 409


def test_batch_of_51_is_rejected(fake: FakeGoogle, service: Any) -> None:
    batch = fake.new_batch(callback=lambda *args: None)
    for n in range(51):
        batch.add(service.events().get(calendarId="primary", eventId=f"event{n:05d}"))
    with pytest.raises(HttpError) as caught:
        batch.execute()
    assert caught.value.status_code == 400
    assert fake.count("calendar.events.get") == 0


# ------------------------------------------------------------------------ push


def test_watch_delivers_notifications_to_a_local_listener(fake: FakeGoogle, service: Any) -> None:
    with WebhookListener() as hook:
        channel = service.events().watch(calendarId="primary", body={
            "id": "chan-1", "type": "web_hook", "address": hook.url, "token": "secret-token"}).execute()
        assert channel["kind"] == "api#channel" and channel["id"] == "chan-1" and channel["resourceId"]
        [sync] = hook.wait_for(1)
        assert sync.headers["X-Goog-Resource-State"] == "sync" and sync.headers["X-Goog-Message-Number"] == "1"

        service.events().insert(calendarId="primary", body=timed("2027-01-05T10:00:00Z",
                                                                  "2027-01-05T11:00:00Z")).execute()
        exists = hook.wait_for(2)[1]
        assert exists.headers["X-Goog-Resource-State"] == "exists"
        assert exists.headers["X-Goog-Channel-ID"] == "chan-1"
        assert exists.headers["X-Goog-Channel-Token"] == "secret-token"
        assert exists.headers["X-Goog-Resource-ID"] == channel["resourceId"]
        assert exists.headers["X-Goog-Message-Number"] == "2"

        service.channels().stop(body={"id": "chan-1", "resourceId": channel["resourceId"]}).execute()
        fake.user_insert_event("primary", timed("2027-01-06T10:00:00Z", "2027-01-06T11:00:00Z"))
        assert fake.wait_for_notifications() and len(hook.received) == 2
    with pytest.raises(HttpError) as remote:
        service.events().watch(calendarId="primary", body={
            "id": "chan-2", "type": "web_hook", "address": "http://example.com/hook"}).execute()
    assert remote.value.status_code == 400


# ---------------------------------------------------------------------- faults


def test_429_then_success(fake: FakeGoogle, service: Any) -> None:
    fake.inject_fault(FaultKind.TOO_MANY_REQUESTS, endpoint="calendar.events.insert", retry_after=7)
    request = service.events().insert(calendarId="primary", body=timed("2027-01-05T10:00:00Z",
                                                                        "2027-01-05T11:00:00Z"))
    with pytest.raises(HttpError) as caught:
        request.execute()
    assert caught.value.status_code == 429 and caught.value.resp["retry-after"] == "7"
    assert error_of(caught.value)["errors"][0]["reason"] == "rateLimitExceeded"
    assert request.execute()["status"] == "confirmed"

    fake.inject_fault(FaultKind.UNAVAILABLE, path="/calendar/v3/calendars/*/events", method="GET", times=2)
    listing = service.events().list(calendarId="primary")
    slept: list[float] = []
    listing._sleep = slept.append  # the library's own backoff, without waiting
    assert len(listing.execute(num_retries=2)["items"]) == 1
    assert len(slept) == 2 and [r.status for r in fake.requests("calendar.events.list")] == [503, 503, 200]


def test_quota_exceeded_shape(fake: FakeGoogle, service: Any) -> None:
    fake.inject_fault("quotaExceeded", endpoint="calendar.events.list")
    with pytest.raises(HttpError) as caught:
        service.events().list(calendarId="primary").execute(num_retries=3)
    assert caught.value.status_code == 403
    assert error_of(caught.value) == {
        "code": 403, "message": "Calendar usage limits exceeded.", "status": "PERMISSION_DENIED",
        "errors": [{"domain": "usageLimits", "reason": "quotaExceeded",
                    "message": "Calendar usage limits exceeded."}]}
    assert fake.count("calendar.events.list") == 1  # the library does not retry quotaExceeded
    fake.inject_fault(FaultKind.USER_RATE_LIMIT_EXCEEDED, endpoint="calendar.events.list")
    listing = service.events().list(calendarId="primary")
    listing._sleep = lambda seconds: None
    listing.execute(num_retries=1)  # ... but does retry userRateLimitExceeded
    assert [r.fault for r in fake.requests("calendar.events.list")] == ["quotaExceeded", "userRateLimitExceeded",
                                                                        None]


def test_timeout_that_still_performs_the_write(fake: FakeGoogle) -> None:
    service = fake.service(timeout=0.5)
    fake.inject_fault(FaultKind.TIMEOUT, endpoint="calendar.events.insert", delay=2.0, perform=True)
    body = timed("2027-01-05T10:00:00Z", "2027-01-05T11:00:00Z", id="timeout0001")
    with pytest.raises((TimeoutError, socket.timeout)):
        service.events().insert(calendarId="primary", body=body).execute()
    assert fake.event("primary", "timeout0001") is not None


def test_lost_response(fake: FakeGoogle, service: Any) -> None:
    body = timed("2027-01-05T10:00:00Z", "2027-01-05T11:00:00Z", id="lost00001")
    fake.inject_fault(FaultKind.LOST_RESPONSE, endpoint="calendar.events.insert")
    with pytest.raises(HttpError) as caught:
        service.events().insert(calendarId="primary", body=body).execute()
    # httplib2 silently re-sends a request whose connection dropped: the retry finds the id taken.
    assert caught.value.status_code == 409
    assert [r.status for r in fake.requests("calendar.events.insert")] == [None, 409]

    fake.inject_fault(FaultKind.LOST_RESPONSE_500, endpoint="calendar.events.patch")
    with pytest.raises(HttpError) as failed:
        service.events().patch(calendarId="primary", eventId="lost00001", body={"summary": "done"}).execute()
    assert failed.value.status_code == 500
    assert fake.event("primary", "lost00001")["summary"] == "done"  # type: ignore[index]


def test_push_modes_and_channel_expiry(fake: FakeGoogle, service: Any) -> None:
    with WebhookListener() as hook:
        fake.push_mode = "hold"
        service.events().watch(calendarId="primary", body={
            "id": "chan-h", "type": "webhook", "address": hook.url, "params": {"ttl": "3600"}}).execute()
        fake.user_insert_event("primary", timed("2027-01-05T10:00:00Z", "2027-01-05T11:00:00Z"))
        assert fake.wait_for_notifications() and hook.received == []
        fake.push_mode = "deliver"
        fake.release_held_notifications()
        states = [r.headers["X-Goog-Resource-State"] for r in hook.wait_for(2)]
        assert states == ["sync", "exists"] and "X-Goog-Channel-Token" not in hook.received[0].headers
        assert fake.wait_for_notifications()  # the fake has recorded both deliveries
        fake.push_mode = "drop"
        fake.user_insert_event("primary", timed("2027-01-06T10:00:00Z", "2027-01-06T11:00:00Z"))
        fake.push_mode = "deliver"
        fake.clock.advance(dt.timedelta(hours=2))  # past the channel's ttl
        fake.user_insert_event("primary", timed("2027-01-07T10:00:00Z", "2027-01-07T11:00:00Z"))
        assert fake.wait_for_notifications() and len(hook.received) == 2
        assert [(d.status, d.error) for d in fake.notifications()] == [(200, None), (200, None), (None, "dropped")]


def test_deleting_a_series_sends_instance_tombstones(fake: FakeGoogle, service: Any) -> None:
    series = fake.user_insert_event("primary", {
        "summary": "standup", "start": {"date": "2027-01-05"}, "end": {"date": "2027-01-06"},
        "recurrence": ["RRULE:FREQ=DAILY;COUNT=3"]})
    sid = series["id"]
    first = service.events().list(calendarId="primary", singleEvents=True).execute()
    assert [i["id"] for i in first["items"]] == [f"{sid}_20270105", f"{sid}_20270106", f"{sid}_20270107"]
    moved = fake.user_patch_event("primary", f"{sid}_20270106", {"start": {"date": "2027-02-01"},
                                                                 "end": {"date": "2027-02-02"}})
    assert moved["originalStartTime"] == {"date": "2027-01-06"} and moved["recurringEventId"] == sid
    ordered = service.events().list(calendarId="primary", singleEvents=True, orderBy="startTime").execute()
    assert [i["start"]["date"] for i in ordered["items"]] == ["2027-01-05", "2027-01-07", "2027-02-01"]
    fake.user_delete_event("primary", sid)
    delta = service.events().list(calendarId="primary", singleEvents=True,
                                  syncToken=first["nextSyncToken"]).execute()["items"]
    assert sorted(i["id"] for i in delta) == [f"{sid}_20270105", f"{sid}_20270106", f"{sid}_20270107"]
    assert all(i["status"] == "cancelled" and set(i) == {"kind", "etag", "id", "status", "recurringEventId",
                                                        "originalStartTime"} for i in delta)
    updated_since = service.events().list(calendarId="primary", updatedMin=NOW.isoformat()).execute()["items"]
    assert {i["id"] for i in updated_since} == {sid, f"{sid}_20270106"}  # deleted ones included


def test_reads_partial_response_and_conditional_get(service: Any) -> None:
    event = service.events().insert(calendarId="primary", body=timed("2027-01-05T10:00:00Z",
                                                                      "2027-01-05T11:00:00Z")).execute()
    partial = service.events().list(calendarId="primary", fields="items(id,etag),nextSyncToken").execute()
    assert set(partial) == {"items", "nextSyncToken"} and partial["items"] == [{"id": event["id"],
                                                                                 "etag": event["etag"]}]
    conditional = service.events().get(calendarId="primary", eventId=event["id"])
    conditional.headers["If-None-Match"] = event["etag"]
    with pytest.raises(HttpError) as caught:
        conditional.execute()
    assert caught.value.status_code == 304
    replaced = service.events().update(calendarId="primary", eventId=event["id"], body={
        "start": {"date": "2027-01-05"}, "end": {"date": "2027-01-06"}}).execute()
    assert "summary" not in replaced and replaced["sequence"] == 1 and replaced["created"] == event["created"]


def test_batch_parts_are_reauthorised_after_expiry(fake: FakeGoogle, service: Any) -> None:
    fake.expire_access_tokens()
    results: list[Any] = []
    batch = fake.new_batch(callback=lambda rid, response, exc: results.append(exc))
    for n in range(3):
        batch.add(service.events().list(calendarId="primary"))
    batch.execute()
    assert results == [None, None, None] and fake.count("oauth.token") == 1


def test_concurrent_writers_are_serialised(fake: FakeGoogle) -> None:
    import threading

    event = fake.user_insert_event("primary", timed("2027-01-05T10:00:00Z", "2027-01-05T11:00:00Z"))
    services = [fake.service() for _ in range(8)]
    outcomes: list[int] = []
    ready = threading.Barrier(len(services))

    def write(service: Any, n: int) -> None:
        ready.wait()
        for k in range(10):
            body = timed("2027-01-06T10:00:00Z", "2027-01-06T11:00:00Z", id=f"par{n}k{k:03d}")
            service.events().insert(calendarId="primary", body=body).execute()
        request = service.events().patch(calendarId="primary", eventId=event["id"], body={"summary": f"w{n}"})
        request.headers["If-Match"] = event["etag"]
        try:
            request.execute()
            outcomes.append(200)
        except HttpError as exc:
            outcomes.append(exc.status_code)

    threads = [threading.Thread(target=write, args=(s, n)) for n, s in enumerate(services)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == [200] + [412] * 7  # exactly one writer holds the etag
    assert len(fake.events()) == 81

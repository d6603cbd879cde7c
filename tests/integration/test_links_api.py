"""Private links through the JSON API, on SQLite and PostgreSQL: create (every scope and profile),
show again, list, change, rotate, revoke, expiry, validation, tenancy, and the addresses built
from public_url. Tokens are stored as a keyed hash and encrypted, never in plain text."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import requests

from support import (
    NOW, Api, LiveServer, Salon, assert_error, make_runtime, make_salon, start_server,
)

URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


@pytest.fixture
def api(live: LiveServer) -> Api:
    return Api(live.url)


@pytest.fixture
def salon(api: Api) -> Salon:
    return make_salon(api)


def links_path(business: int) -> str:
    return f"/businesses/{business}/links"


def create_link(api: Api, business: int, **body: Any) -> dict[str, Any]:
    body.setdefault("scope", "all")
    body.setdefault("profile", "full")
    result: dict[str, Any] = api.ok("POST", links_path(business), 201, json=body)
    return result


def fetch(url: str) -> requests.Response:
    return requests.get(url, timeout=30)


def second_calendar(api: Api, salon: Salon, name: str = "Bo Lund") -> int:
    calendar: int = api.ok("POST", f"/businesses/{salon.business}/calendars", 201,
                           json={"name": name})["id"]
    return calendar


def assert_token_shape(token: str) -> None:
    assert token.startswith("bcl_"), token
    secret = token.removeprefix("bcl_")
    # >= 128 bits: 22 base64 characters would do; ask for 26 URL-safe ones.
    assert len(secret) >= 26 and URL_SAFE.fullmatch(secret), token


# --- create, show, list ------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["full", "limited", "busy"])
@pytest.mark.parametrize("scope", ["calendar", "set", "all"])
def test_create_a_link_of_every_scope_and_profile(api: Api, live: LiveServer, salon: Salon,
                                                  scope: str, profile: str) -> None:
    other = second_calendar(api, salon)
    ids = {"calendar": [salon.calendar], "set": [other, salon.calendar], "all": []}[scope]
    link = create_link(api, salon.business, scope=scope, profile=profile, calendar_ids=ids,
                       label="Front desk")
    assert (link["scope"], link["profile"], link["label"]) == (scope, profile, "Front desk")
    assert link["calendar_ids"] == sorted(ids)
    assert link["active"] is True and link["expires_at"] is None
    assert link["revoked_at"] is None and link["last_used_at"] is None
    token = link["token"]
    assert_token_shape(token)
    # public_url is the served address here, so the feed URL is fetchable as given.
    assert link["feed_url"] == f"{live.url}/feeds/{token}.ics"
    assert link["webcal_url"] == "webcal://" + link["feed_url"].split("://", 1)[1]
    assert link["caldav"] == {"server": f"{live.url}/dav/", "username": f"link-{link['id']}",
                              "password": token}
    response = fetch(link["feed_url"])
    assert response.status_code == 200, response.text
    assert response.text.startswith("BEGIN:VCALENDAR")


def test_tokens_are_distinct_and_shown_again_unchanged(api: Api, salon: Salon) -> None:
    made = [create_link(api, salon.business) for _ in range(5)]
    assert len({link["token"] for link in made}) == 5
    for link in made:
        shown = api.ok("GET", f"{links_path(salon.business)}/{link['id']}")
        for field in ("token", "feed_url", "webcal_url", "caldav", "scope", "profile"):
            assert shown[field] == link[field], field


def test_list_shows_no_token(api: Api, salon: Salon) -> None:
    made = [create_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar]),
            create_link(api, salon.business, profile="busy", label="Partner")]
    response = api.get(links_path(salon.business))
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [item["id"] for item in items] == [link["id"] for link in made]
    for item in items:
        assert not {"token", "feed_url", "webcal_url", "caldav"} & set(item), item
    for link in made:
        assert link["token"] not in response.text
        assert link["token"].removeprefix("bcl_") not in response.text
    # The calendar filter includes 'all' links.
    by_calendar = api.ok("GET", links_path(salon.business),
                         params={"calendar_id": salon.calendar})["items"]
    assert [item["id"] for item in by_calendar] == [link["id"] for link in made]


def test_addresses_below_a_public_sub_path(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, f"sqlite:///{tmp_path}/test.sqlite3",
                           extra='public_url = "https://cal.example.com/salon/"\n')
    live = start_server(runtime, keep_public_url=True)
    try:
        api = Api(live.url + "/salon")
        salon = make_salon(api)
        link = create_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar])
        token = link["token"]
        assert link["feed_url"] == f"https://cal.example.com/salon/feeds/{token}.ics"
        assert link["webcal_url"] == f"webcal://cal.example.com/salon/feeds/{token}.ics"
        assert link["caldav"]["server"] == "https://cal.example.com/salon/dav/"
        shown = api.ok("GET", f"{links_path(salon.business)}/{link['id']}")
        assert shown["feed_url"] == link["feed_url"]
        # The same path, on the address actually served, is the feed.
        response = fetch(link["feed_url"].replace("https://cal.example.com", live.url))
        assert response.status_code == 200, response.text
        assert "BEGIN:VCALENDAR" in response.text
    finally:
        live.stop()


# --- change, rotate, revoke, expire -----------------------------------------------------


def test_patch_label_profile_and_expiry(api: Api, live: LiveServer, salon: Salon) -> None:
    api.ok("POST", f"/businesses/{salon.business}/bookings", 201, json={
        "calendar_id": salon.calendar, "service_id": salon.service, "client_id": salon.client,
        "start": "2026-12-01T10:00"})
    link = create_link(api, salon.business, label="old")
    path = f"{links_path(salon.business)}/{link['id']}"
    assert "SUMMARY:Haircut – Jens Hansen" in fetch(link["feed_url"]).text

    changed = api.ok("PATCH", path, json={"label": "new", "profile": "busy"})
    assert (changed["label"], changed["profile"]) == ("new", "busy")
    assert "SUMMARY:Busy" in fetch(link["feed_url"]).text
    assert "Jens Hansen" not in fetch(link["feed_url"]).text

    expiry = NOW + dt.timedelta(days=30)
    changed = api.ok("PATCH", path, json={"expires_at": expiry.isoformat()})
    assert dt.datetime.fromisoformat(changed["expires_at"]) == expiry
    assert changed["label"] == "new" and changed["active"] is True
    # Leaving a field out keeps it; null removes the expiry.
    changed = api.ok("PATCH", path, json={"label": "newer"})
    assert dt.datetime.fromisoformat(changed["expires_at"]) == expiry
    changed = api.ok("PATCH", path, json={"expires_at": None})
    assert changed["expires_at"] is None and changed["label"] == "newer"
    shown = api.ok("GET", path)
    assert (shown["label"], shown["profile"], shown["expires_at"]) == ("newer", "busy", None)
    assert shown["token"] == link["token"]
    assert shown["last_used_at"] is not None  # the feed was read

    assert_error(api.patch(path, json={"profile": "everything"}), 422, "invalid")
    assert_error(api.patch(path, json={"token": "bcl_mine"}), 422, "invalid")


def test_rotate_replaces_the_token_at_once(api: Api, salon: Salon) -> None:
    link = create_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar])
    assert fetch(link["feed_url"]).status_code == 200
    rotated = api.ok("POST", f"{links_path(salon.business)}/{link['id']}/rotate")
    assert rotated["id"] == link["id"] and rotated["token"] != link["token"]
    assert_token_shape(rotated["token"])
    assert rotated["feed_url"] == link["feed_url"].replace(link["token"], rotated["token"])
    assert rotated["caldav"]["password"] == rotated["token"]
    assert fetch(rotated["feed_url"]).status_code == 200
    old = fetch(link["feed_url"])
    assert old.status_code == 404
    assert old.content == fetch(link["feed_url"].replace(link["token"],
                                                         "bcl_" + "x" * 32)).content
    shown = api.ok("GET", f"{links_path(salon.business)}/{link['id']}")
    assert shown["token"] == rotated["token"]


def test_revoke_answers_like_an_unknown_token_at_once(api: Api, live: LiveServer,
                                                       salon: Salon) -> None:
    link = create_link(api, salon.business)
    path = f"{links_path(salon.business)}/{link['id']}"
    assert fetch(link["feed_url"]).status_code == 200
    api.ok("DELETE", path, 204)
    revoked = fetch(link["feed_url"])
    unknown = fetch(f"{live.url}/feeds/bcl_{'A' * 32}.ics")
    assert (revoked.status_code, unknown.status_code) == (404, 404)
    assert revoked.content == unknown.content
    assert revoked.headers["Content-Type"] == unknown.headers["Content-Type"]
    # Gone from the list unless asked for; a revoked link cannot be changed or rotated.
    assert api.ok("GET", links_path(salon.business))["items"] == []
    listed = api.ok("GET", links_path(salon.business),
                    params={"include_revoked": "true"})["items"]
    assert [(i["id"], i["active"]) for i in listed] == [(link["id"], False)]
    assert listed[0]["revoked_at"] is not None
    assert_error(api.patch(path, json={"label": "again"}), 409, "conflict")
    assert_error(api.post(f"{path}/rotate"), 409, "conflict")
    api.ok("DELETE", path, 204)  # revoking twice is harmless
    assert fetch(link["feed_url"]).status_code == 404


def test_expiry(api: Api, live: LiveServer, salon: Salon) -> None:
    past = (NOW - dt.timedelta(minutes=1)).isoformat()
    assert_error(api.post(links_path(salon.business), json={
        "scope": "all", "profile": "full", "expires_at": past}), 422, "invalid", "future")
    assert_error(api.post(links_path(salon.business), json={
        "scope": "all", "profile": "full", "expires_at": "2027-01-01T00:00:00"}), 422,
        "invalid")  # no offset
    link = create_link(api, salon.business, expires_at=(NOW + dt.timedelta(hours=1)).isoformat())
    assert link["active"] is True
    assert fetch(link["feed_url"]).status_code == 200
    live.clock.advance(dt.timedelta(hours=2))
    expired = fetch(link["feed_url"])
    assert expired.status_code == 404
    assert expired.content == fetch(f"{live.url}/feeds/bcl_{'B' * 32}.ics").content
    shown = api.ok("GET", f"{links_path(salon.business)}/{link['id']}")
    assert shown["active"] is False


# --- validation and tenancy -------------------------------------------------------------


@pytest.mark.parametrize("scope, which, status", [
    ("calendar", "none", 422),
    ("calendar", "two", 422),
    ("set", "none", 422),
    ("all", "one", 422),
    ("calendar", "unknown", 404),
    ("set", "unknown", 404),
    ("calendar", "other business", 404),
    ("set", "own and other business", 404),
])
def test_invalid_scopes_are_refused(api: Api, salon: Salon, scope: str, which: str,
                                    status: int) -> None:
    other = make_salon(api)
    second = second_calendar(api, salon)
    ids = {"none": [], "one": [salon.calendar], "two": [salon.calendar, second],
           "unknown": [999_999], "other business": [other.calendar],
           "own and other business": [salon.calendar, other.calendar]}[which]
    response = api.post(links_path(salon.business),
                        json={"scope": scope, "profile": "full", "calendar_ids": ids})
    assert_error(response, status)
    assert api.ok("GET", links_path(salon.business))["items"] == []


@pytest.mark.parametrize("body", [
    {"scope": "all", "profile": "everything"},
    {"scope": "all"},
    {"scope": "some", "profile": "full"},
    {"scope": "all", "profile": "full", "label": "x" * 201},
    {"scope": "all", "profile": "full", "token": "bcl_chosen_by_me_000000000000"},
])
def test_invalid_bodies_are_refused(api: Api, salon: Salon, body: dict[str, Any]) -> None:
    assert_error(api.post(links_path(salon.business), json=body), 422, "invalid")


def test_a_business_key_manages_only_its_own_links(api: Api, live: LiveServer,
                                                   salon: Salon) -> None:
    other = make_salon(api)
    theirs = create_link(api, other.business)
    key = api.ok("POST", f"/businesses/{salon.business}/keys", 201, json={})["key"]
    keyed = Api(live.url, key)
    mine = keyed.ok("POST", links_path(salon.business), 201,
                    json={"scope": "all", "profile": "limited"})
    assert [i["id"] for i in keyed.ok("GET", links_path(salon.business))["items"]] == [mine["id"]]

    foreign = f"{links_path(other.business)}/{theirs['id']}"
    attempts = [
        keyed.post(links_path(other.business), json={"scope": "all", "profile": "full"}),
        keyed.get(links_path(other.business)),
        keyed.get(foreign),
        keyed.patch(foreign, json={"label": "mine now"}),
        keyed.post(f"{foreign}/rotate"),
        keyed.delete(foreign),
    ]
    for response in attempts:
        assert_error(response, 403, "forbidden")
        assert theirs["token"] not in response.text
    # Through its own business path, another business's link id does not exist.
    assert_error(keyed.get(f"{links_path(salon.business)}/{theirs['id']}"), 404, "not_found")
    assert_error(keyed.delete(f"{links_path(salon.business)}/{theirs['id']}"), 404)
    # Nothing happened to the other business's link.
    assert fetch(theirs["feed_url"]).status_code == 200
    shown = api.ok("GET", foreign)
    assert (shown["token"], shown["label"], shown["active"]) == (theirs["token"], "", True)


# --- storage ----------------------------------------------------------------------------


def test_tokens_are_never_stored_in_plain_text(tmp_path: Path) -> None:
    # An empty database URL means the default: SQLite inside the data folder.
    runtime = make_runtime(tmp_path, "")
    data_dir = runtime.config.data_dir
    assert runtime.config.database_url.startswith(f"sqlite:///{data_dir}")
    live = start_server(runtime)
    try:
        api = Api(live.url)
        salon = make_salon(api)
        tokens = [create_link(api, salon.business, scope=scope, profile=profile,
                              calendar_ids=[salon.calendar] if scope != "all" else [])["token"]
                  for scope, profile in [("calendar", "full"), ("set", "limited"),
                                         ("all", "busy")]]
        first = api.ok("GET", links_path(salon.business))["items"][0]["id"]
        tokens.append(api.ok("POST", f"{links_path(salon.business)}/{first}/rotate")["token"])
        for token in tokens:
            fetch(f"{live.url}/feeds/{token}.ics")  # a read records last_used_at too

        files = sorted(p for p in data_dir.rglob("*") if p.is_file())
        names = {p.name for p in files}
        assert "bookingcal.sqlite3" in names, names
        everything = b"".join(p.read_bytes() for p in files)
        database = b"".join(p.read_bytes() for p in files
                            if p.name.startswith("bookingcal.sqlite3"))  # with -wal, -shm
        for token in tokens:
            assert token.encode() not in everything, token
            assert token.removeprefix("bcl_").encode() not in everything, token
        # The current tokens are found by their keyed hash.
        for token in tokens[1:]:
            assert runtime.keyring.hash_token(token).encode() in database, token
    finally:
        live.stop()

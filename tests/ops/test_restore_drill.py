"""A restore drill on a running deployment (a server process behind nginx, the bridge against the
fake Google), as an operator does it with the CLI: back up while serving, change data, stop,
restore, start. Everything in the backup is back; feed ETags, CalDAV sync tokens and API change
tokens handed out after the backup are refused, so clients resync; the bridge brings Google back
to what the restored database holds, without a duplicate."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import caldav
import pytest
import requests
from caldav.lib import error as dav_error

from deployment import Deployment, environ, start_deployment
from fakes import FakeGoogle
from processes import bookingcal
from support import (
    Api, book, google_toml, local_iso, make_link, make_salon, monday_after_next,
)


def _bridge_once(deployment: Deployment) -> str:
    return bookingcal(deployment.config, "bridge", "--once", env=environ())


def _in_google(fake: FakeGoogle) -> Counter[str]:
    """The bookings Google shows (by their private mark), counted."""
    return Counter(event["extendedProperties"]["private"]["bookingcal"]
                   for event in fake.events("primary") if event.get("status") != "cancelled")


def _uids(feed: requests.Response) -> set[str]:
    return {line.split(":", 1)[1].strip() for line in feed.text.splitlines()
            if line.startswith("UID:")}


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgresql",
                                                           marks=pytest.mark.postgres)])
def test_restore_drill(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    database_url = ""
    if engine == "postgresql":
        database_url = request.getfixturevalue("pg_url")
    with FakeGoogle() as fake:
        secret = tmp_path / "google-secret"
        secret.write_text(fake.client_secret, encoding="utf-8")
        deployment = start_deployment(tmp_path, database_url=database_url,
                                      extra=google_toml(fake, secret)
                                      + "push_notifications = false\n")
        api = deployment.api()
        try:
            _drill(deployment, api, fake, tmp_path)
        finally:
            api.session.close()
            deployment.stop()


def _drill(deployment: Deployment, api: Api, fake: FakeGoogle, folder: Path) -> None:
    salon = make_salon(api)
    base = f"/businesses/{salon.business}"
    # The server and bridge processes run on the real clock: the bookings are in the week
    # after next, Tuesday to Friday.
    monday = monday_after_next()
    kept = book(api, salon, local_iso(monday + dt.timedelta(days=1), 10),
                client_id=salon.client)
    cancelled_later = book(api, salon, local_iso(monday + dt.timedelta(days=2), 10))
    link = make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar])
    deployment.connect_google(fake, {salon.business: None})
    _bridge_once(deployment)
    assert _in_google(fake) == Counter({f"booking:{kept['id']}": 1,
                                        f"booking:{cancelled_later['id']}": 1})

    backup = folder / "backup"
    text = bookingcal(deployment.config, "db", "backup", "--output", str(backup), env=environ())
    assert f"backup written to {backup}" in text

    # After the backup: a new booking, a cancellation, a new link; Google follows.
    lost = book(api, salon, local_iso(monday + dt.timedelta(days=3), 10))
    api.ok("POST", f"{base}/bookings/{cancelled_later['id']}/cancel")
    lost_link = make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar])
    _bridge_once(deployment)
    assert _in_google(fake) == Counter({f"booking:{kept['id']}": 1, f"booking:{lost['id']}": 1})

    # What clients hold from after the backup.
    feed_url = f"{deployment.url}/calendar/feeds/{link['token']}.ics"
    with requests.Session() as client:
        client.trust_env, client.verify = False, str(deployment.cert)
        feed = client.get(feed_url, timeout=10)
        assert feed.status_code == 200 and _uids(feed) == {kept["uid"], lost["uid"]}
        dav = caldav.DAVClient(url=f"{deployment.url}/calendar/dav/",
                               username=link["caldav"]["username"], password=link["token"],
                               ssl_verify_cert=str(deployment.cert))
        [calendar] = dav.principal().calendars()
        sync_token = calendar.objects_by_sync_token(load_objects=True).sync_token
        changes = api.ok("GET", f"{base}/calendars/{salon.calendar}/changes")
        change_token = changes["token"]

        deployment.stop_servers()
        text = bookingcal(deployment.config, "db", "restore", str(backup), "--yes",
                          env=environ())
        assert "restored; a new database epoch" in text
        deployment.start_servers()

        # Nothing in the backup is lost; nothing after it is back.
        found = {b["id"]: b["status"] for b in api.ok("GET", f"{base}/bookings", params={
            "start": local_iso(monday - dt.timedelta(days=30), 0),
            "end": local_iso(monday + dt.timedelta(days=30), 0)})["items"]}
        assert found == {kept["id"]: "confirmed", cancelled_later["id"]: "confirmed"}
        client_row = api.ok("GET", f"{base}/clients/{salon.client}")
        assert client_row["name"] == "Jens Hansen"
        # The feed: the old ETag is not answered 304; the content is the backup's.
        again = client.get(feed_url, headers={"If-None-Match": feed.headers["ETag"]},
                           timeout=10)
        assert again.status_code == 200 and again.headers["ETag"] != feed.headers["ETag"]
        assert _uids(again) == {kept["uid"], cancelled_later["uid"]}
        # The link made after the backup is gone.
        assert client.get(f"{deployment.url}/calendar/feeds/{lost_link['token']}.ics",
                          timeout=10).status_code == 404
        # CalDAV: the old sync token is refused (the client falls back to a full sync).
        with pytest.raises(dav_error.DAVError):
            calendar.objects_by_sync_token(sync_token=sync_token, disable_fallback=True)
        full = calendar.objects_by_sync_token(load_objects=True)
        assert {str(item.url).rsplit("/", 1)[1] for item in full} == \
            {f"{kept['uid']}.ics", f"{cancelled_later['uid']}.ics"}
        # The API's change token from after the backup: 410, sync again from scratch.
        gone = api.get(f"{base}/calendars/{salon.calendar}/changes",
                       params={"since": change_token})
        assert gone.status_code == 410, gone.text

    # The bridge brings Google back to the restored state: the cancelled booking's copy
    # returns, the lost booking's copy leaves, nothing is duplicated. Even when Google no longer
    # accepts the restored sync token (410), so that no incremental list shows the deletion.
    fake.invalidate_sync_tokens("primary")
    text = _bridge_once(deployment)
    assert "error" not in text, text
    _bridge_once(deployment)  # a second pass has nothing left to do
    assert _in_google(fake) == Counter({f"booking:{kept['id']}": 1,
                                        f"booking:{cancelled_later['id']}": 1})
    # New bookings after the restore reach Google too, even when they reuse an id.
    after = book(api, salon, local_iso(monday + dt.timedelta(days=4), 10))
    _bridge_once(deployment)
    expected: dict[str, Any] = {f"booking:{kept['id']}": 1,
                                f"booking:{cancelled_later['id']}": 1,
                                f"booking:{after['id']}": 1}
    assert _in_google(fake) == Counter(expected)
    assert fake.internal_errors == []

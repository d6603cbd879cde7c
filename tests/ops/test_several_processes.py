"""A deployment at scale, on loopback: one PostgreSQL database, two `bookingcal serve` processes
behind nginx (round-robin) and two `bookingcal bridge` processes against the fake Google; once
with the processes connected to PostgreSQL directly, once through PgBouncer in transaction
pooling mode (tests/pgbouncer.py; the bridges' LISTEN on the direct URL).
What one process changes, the other serves at once; the bridges share the work without writing
anything twice; /healthz answers 503 while the database refuses connections."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterator

import caldav
import psycopg
import pytest
import requests
from psycopg import sql

from deployment import Deployment, session_for, start_deployment, wait_until
from fakes import FakeGoogle
from pgbouncer import ThrowawayPgBouncer
from pgserver import ThrowawayPostgres
from support import (
    HOST_KEY, Api, Salon, book, google_toml, iter_pages, local_iso, make_link, make_salon,
    monday_after_next,
)

BUSINESSES = 3
ROUNDS_MAX = 20  # booking rounds until both bridges have done work
SYNC_SECONDS = 30


@dataclass
class World:
    deployment: Deployment
    fake: FakeGoogle
    salons: list[Salon]
    api: Api  # through nginx
    ports: list[int]
    database: str

    def direct(self, index: int) -> str:
        """Server process `index`'s own address, below public_url's sub-path."""
        return f"http://127.0.0.1:{self.ports[index]}/calendar"

    def direct_api(self, index: int) -> Api:
        return Api(self.direct(index))


@pytest.fixture(scope="module", params=["direct", "pgbouncer"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          postgres_server: ThrowawayPostgres) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("several")
    name = f"ops_several_{request.param}"
    postgres_server.create_database(name)
    url, direct_url = postgres_server.url(name), ""
    if request.param == "pgbouncer":
        bouncer: ThrowawayPgBouncer = request.getfixturevalue("pgbouncer_server")
        url, direct_url = bouncer.url(name), postgres_server.url(name)
    try:
        with FakeGoogle() as fake:
            secret = folder / "google-secret"
            secret.write_text(fake.client_secret, encoding="utf-8")
            extra = google_toml(fake, secret) + "push_notifications = false\npoll_seconds = 5\n"
            deployment = start_deployment(folder, processes=2, database_url=url,
                                          direct_url=direct_url, extra=extra)
            api = deployment.api()
            try:
                salons = [make_salon(api) for _ in range(BUSINESSES)]
                deployment.connect_google(fake, {salon.business: f"owner{n}@example.com"
                                                 for n, salon in enumerate(salons)})
                for _ in range(2):
                    deployment.start_process("bridge")
                yield World(deployment, fake, salons, api, list(deployment.servers), name)
            finally:
                api.session.close()
                deployment.stop()
    finally:
        postgres_server.drop_database(name)


def _feed(url: str, etag: str | None = None) -> requests.Response:
    headers = {"If-None-Match": etag} if etag else {}
    return requests.get(url, headers=headers, timeout=10)


def test_nginx_takes_turns(world: World) -> None:
    with session_for(world.deployment) as session:
        for _ in range(6):
            assert session.get(f"{world.deployment.url}/calendar/healthz",
                               timeout=10).status_code == 200
    log = world.deployment.nginx.access_log.read_text(encoding="utf-8")
    used = Counter(re.findall(r"upstream=127\.0\.0\.1:(\d+)", log))
    assert {int(port) for port in used} == set(world.ports), used


def test_a_link_revoked_through_one_is_refused_by_the_other(world: World) -> None:
    first, second = world.direct_api(0), world.direct_api(1)
    salon = world.salons[0]
    link = make_link(first, salon.business, scope="calendar", calendar_ids=[salon.calendar])
    token, user = str(link["token"]), str(link["caldav"]["username"])
    # Both processes serve it (so each has looked the token up before the revocation).
    for index in (0, 1):
        assert _feed(f"{world.direct(index)}/feeds/{token}.ics").status_code == 200
        assert requests.request("PROPFIND", f"{world.direct(index)}/dav/", auth=(user, token),
                                headers={"Depth": "0"}, timeout=10).status_code == 207
    first.ok("DELETE", f"/businesses/{salon.business}/links/{link['id']}", 204)
    assert _feed(f"{world.direct(1)}/feeds/{token}.ics").status_code == 404
    assert requests.request("PROPFIND", f"{world.direct(1)}/dav/", auth=(user, token),
                            headers={"Depth": "0"}, timeout=10).status_code == 401
    with session_for(world.deployment) as session:  # through nginx: whichever process answers
        for _ in range(4):
            assert session.get(str(link["feed_url"]).replace(
                world.deployment.public_url, f"{world.deployment.url}/calendar/"),
                timeout=10).status_code == 404
    first.session.close()
    second.session.close()


def test_a_booking_made_through_one_is_served_by_the_other(world: World) -> None:
    first, second = world.direct_api(0), world.direct_api(1)
    salon = world.salons[1]
    link = make_link(second, salon.business, scope="calendar", calendar_ids=[salon.calendar])
    feed = f"{world.direct(1)}/feeds/{link['token']}.ics"
    before = _feed(feed)
    assert before.status_code == 200
    with caldav.DAVClient(url=f"{world.direct(1)}/dav/", username=link["caldav"]["username"],
                          password=link["token"]) as client:
        [calendar] = client.principal().calendars()
        known = calendar.objects_by_sync_token(load_objects=True)
        made = book(first, salon, local_iso(monday_after_next() + dt.timedelta(days=2), 11),
                    notes="made through process 0")
        after = _feed(feed, before.headers["ETag"])
        assert after.status_code == 200
        assert made["uid"] in after.text and made["uid"] not in before.text
        changed = calendar.objects_by_sync_token(sync_token=known.sync_token,
                                                 load_objects=True)
        assert [str(item.url).rsplit("/", 1)[1] for item in changed] == [f"{made['uid']}.ics"]
    first.session.close()
    second.session.close()


def _bridge_inserts(world: World) -> list[int]:
    """Events each bridge process reports inserting (its log holds counts, never content)."""
    return [sum(int(n) for n in re.findall(r"to Google (\d+) inserted", running.output.text))
            for running in world.deployment.extra_processes]


def test_the_bridges_share_the_work_without_double_writes(world: World) -> None:
    # Bookings made by earlier tests count too.
    # The processes run on the real clock: the bookings are dated from the real today.
    monday = monday_after_next()
    made = sum(len(list(iter_pages(world.api, f"/businesses/{salon.business}/bookings",
                                   {"start": local_iso(monday - dt.timedelta(days=60), 0),
                                    "end": local_iso(monday + dt.timedelta(days=60), 0)})))
               for salon in world.salons)
    day = 1
    while day <= ROUNDS_MAX:
        for salon in world.salons:
            book(world.api, salon, local_iso(monday + dt.timedelta(days=7 + day), 10))
            made += 1
        wait_until(lambda: sum(_bridge_inserts(world)) >= made, SYNC_SECONDS,
                   f"{made} bookings in Google")
        if all(count > 0 for count in _bridge_inserts(world)):
            break
        day += 1
    inserts = _bridge_inserts(world)
    assert all(count > 0 for count in inserts), f"one bridge did all the work: {inserts}"
    assert sum(inserts) == made
    ids = Counter(str(entry.body.get("id")) for entry in
                  world.fake.requests("calendar.events.insert") if isinstance(entry.body, dict))
    assert len(ids) == made and all(n == 1 for n in ids.values()), ids.most_common(3)
    assert not [entry for entry in world.fake.requests() if entry.status == 409]
    assert world.fake.internal_errors == []
    for running in world.deployment.extra_processes:
        assert running.failed() is None
        assert "Traceback" not in running.output.text


def test_healthz_answers_503_while_the_database_refuses(world: World,
                                                        postgres_server: ThrowawayPostgres
                                                        ) -> None:
    name = sql.Identifier(world.database)
    with psycopg.connect(postgres_server.conninfo(), autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = %s AND pid <> pg_backend_pid()", (world.database,))
        try:
            for index in (0, 1):
                response = requests.get(f"{world.direct(index)}/healthz", timeout=30)
                assert response.status_code == 503, response.text
                assert response.json()["error"]["code"] == "unavailable"
                assert response.headers.get("Retry-After")
        finally:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))
    for index in (0, 1):
        # Directly at once; PgBouncer logs in again after its server_login_retry (1 s here).
        wait_until(lambda: requests.get(f"{world.direct(index)}/healthz",
                                        timeout=30).status_code == 200, 20,
                   f"process {index} healthy again")


def test_zz_logs_hold_no_token(world: World) -> None:
    world.deployment.stop()
    logs = world.deployment.app_logs() + world.deployment.nginx.logs()
    assert "Traceback" not in world.deployment.app_logs()
    assert HOST_KEY not in logs
    assert not re.search(r"/feeds/[A-Za-z0-9_-]{20,}", logs)

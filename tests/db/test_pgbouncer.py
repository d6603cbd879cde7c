"""bookingcal through PgBouncer in transaction pooling mode (tests/pgbouncer.py).

A server connection serves one client's transaction, then the next client's: whatever a
transaction leaves on its session (a prepared statement, a setting, a LISTEN, an advisory lock)
meets a stranger. These tests run bookingcal's own work through the pooler and then look at every
server connection the pooler holds."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import caldav
import psycopg
import pytest
import requests
from sqlalchemy import text

from pgbouncer import DIRECT_URLS, PooledDatabase, ThrowawayPgBouncer
from pgserver import ThrowawayPostgres
from server.config import ConfigError
from server.db import Database
from server.sync.wakeup import JournalWakeup, listen_url
from support import (
    HOST_KEY, NOW, Api, local_iso, make_config, make_link, make_runtime, make_salon,
    start_server,
)

pytestmark = pytest.mark.postgres


def _each_server_connection(bouncer: ThrowawayPgBouncer, name: str) -> list[tuple[int, int, str,
                                                                                  list[str]]]:
    """(backend pid, prepared statements, lock_timeout, channels listened) of every server
    connection the pooler keeps for `name`: as many clients as the pool has connections each
    hold a transaction open at once, so each sits on a different one."""
    clients = [psycopg.connect(bouncer.conninfo(name), prepare_threshold=None)
               for _ in range(bouncer.pool_size)]
    try:
        seen = []
        for client in clients:  # each BEGIN (implicit) pins a server connection until commit
            row = client.execute(
                "SELECT pg_backend_pid(), (SELECT count(*) FROM pg_prepared_statements), "
                "current_setting('lock_timeout'), "
                "ARRAY(SELECT pg_listening_channels())").fetchone()
            assert row is not None
            seen.append((row[0], row[1], row[2], list(row[3])))
        return seen
    finally:
        for client in clients:
            client.rollback()
            client.close()


def _advisory_locks(direct_url: str) -> int:
    with psycopg.connect(direct_url.replace("postgresql+psycopg", "postgresql")) as conn:
        row = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                           ).fetchone()
        return int(row[0]) if row else -1


def test_the_pooler_shares_server_connections_and_the_check_sees_a_leak(
        pooled_pg: PooledDatabase, pgbouncer_server: ThrowawayPgBouncer) -> None:
    """The harness itself: a prepared statement left by one client (psycopg's default way of
    preparing) is found by the check on the server connection the next client gets."""
    first = psycopg.connect(pgbouncer_server.conninfo(pooled_pg.name), prepare_threshold=0,
                            autocommit=True)
    try:
        first.execute("SELECT %s::int", (1,))
        first_pid = first.execute("SELECT pg_backend_pid()").fetchone()
    finally:
        first.close()
    seen = _each_server_connection(pgbouncer_server, pooled_pg.name)
    assert len({pid for pid, *_ in seen}) == pgbouncer_server.pool_size
    assert first_pid is not None and first_pid[0] in {pid for pid, *_ in seen}
    assert sum(prepared for _, prepared, *_ in seen) >= 1


def test_bookingcal_leaves_no_session_state_on_the_pooled_connections(
        tmp_path: Path, pooled_pg: PooledDatabase,
        pgbouncer_server: ThrowawayPgBouncer) -> None:
    """Bookings, feed polls (server/db/quickread.py), CalDAV and writes with SET LOCAL, from
    several threads through one server process: afterwards no server connection holds a
    prepared statement, a changed setting, a LISTEN or an advisory lock, and no request failed
    on a statement that another connection had prepared."""
    runtime = make_runtime(tmp_path, pooled_pg.url,
                           extra="[database]\npool_size = 6\n")
    assert runtime.db.pooled and runtime.db.direct_url == pooled_pg.direct_url
    # More request threads than the pooler's server connections (4): a request holds one
    # server connection at a time (a render stores its texts after its reading transaction).
    server = start_server(runtime, threads=6)
    try:
        api = Api(server.url)
        salon = make_salon(api)
        link = make_link(api, salon.business)
        failures: list[str] = []
        first_day = (NOW + dt.timedelta(days=2)).date()  # the server runs on the clock NOW

        def work(offset: int) -> None:
            mine = Api(server.url)
            try:
                for n in range(8):
                    day = first_day + dt.timedelta(days=offset * 8 + n)
                    response = mine.post(f"/businesses/{salon.business}/bookings", json={
                        "calendar_id": salon.calendar, "service_id": salon.service,
                        "start": local_iso(day, 10)})
                    if response.status_code != 201:
                        failures.append(f"booking: {response.status_code} {response.text[:200]}")
                    feed = mine.session.get(link["feed_url"], timeout=60)
                    if feed.status_code != 200:
                        failures.append(f"feed: {feed.status_code}")
            except Exception as exc:  # a thread's failure fails the test, not just a warning
                failures.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not failures, failures[:3]
    finally:
        server.stop()
    seen = _each_server_connection(pgbouncer_server, pooled_pg.name)
    assert [(prepared, timeout, channels) for _, prepared, timeout, channels in seen] == \
        [(0, "0", [])] * pgbouncer_server.pool_size
    assert _advisory_locks(pooled_pg.direct_url) == 0


def _stored_texts(direct_url: str, profile: str) -> int:
    with psycopg.connect(direct_url.replace("postgresql+psycopg", "postgresql")) as conn:
        row = conn.execute("SELECT count(*) FROM rendered_items WHERE profile = %s",
                           (profile,)).fetchone()
        return int(row[0]) if row else -1


def test_a_render_never_holds_a_second_pooled_connection(
        tmp_path: Path, postgres_server: ThrowawayPostgres, pooled_pg: PooledDatabase) -> None:
    """Behind a pooler with ONE server connection, a feed and a CalDAV read that render items
    not rendered yet store their texts: a request's writes (the texts, the link's last use)
    wait until its reading transaction has ended. Before, the texts were stored on a second
    connection while the first still held the only server connection, so each such request
    waited for PgBouncer (query_wait_timeout, 5 s here, 120 s by default) and its texts were
    not stored; with as many renders at once as server connections, every one waited. A
    writable account's phone write likewise writes after its read (before: a 503 after the
    pooler's wait)."""
    bouncer = ThrowawayPgBouncer(postgres_server, pool_size=1, query_wait_timeout=5)
    bouncer.start()
    url = bouncer.url(pooled_pg.name)
    DIRECT_URLS[url] = pooled_pg.direct_url
    runtime = make_runtime(tmp_path, url, extra="[feeds]\nprerender = false\n")
    server = start_server(runtime, threads=2)
    try:
        api = Api(server.url)
        salon = make_salon(api)
        first_day = (NOW + dt.timedelta(days=2)).date()  # the server runs on the clock NOW
        for n in range(3):
            api.ok("POST", f"/businesses/{salon.business}/bookings", 201, json={
                "calendar_id": salon.calendar, "service_id": salon.service,
                "start": local_iso(first_day + dt.timedelta(days=n), 10)})
        feed_link = make_link(api, salon.business, profile="full")
        dav_link = make_link(api, salon.business, scope="calendar", profile="limited",
                             calendar_ids=[salon.calendar])
        assert _stored_texts(pooled_pg.direct_url, "full") == 0
        feed = api.session.get(feed_link["feed_url"], timeout=60)
        assert feed.status_code == 200 and feed.text.count("BEGIN:VEVENT") == 3
        assert _stored_texts(pooled_pg.direct_url, "full") == 3

        account = dav_link["caldav"]
        client = caldav.DAVClient(url=account["server"], username=account["username"],
                                  password=account["password"], timeout=60)
        calendar = client.principal().calendars()[0]
        assert len(calendar.search(event=True, start=NOW, end=NOW + dt.timedelta(days=30))) == 3
        assert _stored_texts(pooled_pg.direct_url, "limited") == 3

        # A writable account's phone writes (PUT, DELETE) write after their read ended too.
        phone = make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar],
                          writable=True, label="Anna's phone")["caldav"]
        phone_client = caldav.DAVClient(url=phone["server"], username=phone["username"],
                                        password=phone["password"], timeout=60)
        own = str(phone_client.principal().calendars()[0].url).rstrip("/") + "/lunch-1.ics"
        auth = (phone["username"], phone["password"])
        start = (NOW + dt.timedelta(days=4)).strftime("%Y%m%dT120000Z")
        end = (NOW + dt.timedelta(days=4)).strftime("%Y%m%dT130000Z")
        event = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Phone//Test//EN\r\n"
                 "BEGIN:VEVENT\r\nUID:lunch-1\r\nDTSTAMP:" + start + "\r\n"
                 f"DTSTART:{start}\r\nDTEND:{end}\r\nSUMMARY:Lunch\r\n"
                 "END:VEVENT\r\nEND:VCALENDAR\r\n")
        put = requests.put(own, data=event.encode(), auth=auth, timeout=60,
                           headers={"Content-Type": "text/calendar", "If-None-Match": "*"})
        assert put.status_code == 201, put.text
        deleted = requests.delete(own, auth=auth, timeout=60,
                                  headers={"If-Match": put.headers["ETag"]})
        assert deleted.status_code == 204, deleted.text
    finally:
        server.stop()
        runtime.db.dispose()
        DIRECT_URLS.pop(url, None)
        bouncer.stop()


def test_a_write_transactions_lock_timeout_ends_with_it(pooled_pg: PooledDatabase) -> None:
    """Two transactions of two clients on the same server connection: the first one's SET LOCAL
    is gone in the second."""
    db = Database(pooled_pg.url, direct_url=pooled_pg.direct_url, lock_timeout=3, pool_size=2)
    try:
        with db.write() as session:
            first = session.execute(text(
                "SELECT pg_backend_pid(), current_setting('lock_timeout')")).one()
        other = Database(pooled_pg.url, direct_url=pooled_pg.direct_url, pool_size=1)
        try:
            with other.read() as session:
                second = session.execute(text(
                    "SELECT pg_backend_pid(), current_setting('lock_timeout')")).one()
        finally:
            other.dispose()
    finally:
        db.dispose()
    assert first[1] == "3s"
    assert second == (first[0], "0")  # the same server connection, the setting gone


def test_the_listener_connects_to_postgresql_itself(pooled_pg: PooledDatabase) -> None:
    db = Database(pooled_pg.url, direct_url=pooled_pg.direct_url, pool_size=1)
    wakeup = JournalWakeup(db)
    try:
        assert str(pooled_pg.direct_url.rsplit(":", 1)[1]) in listen_url(db)
        stop = threading.Event()
        # A journal change through the pooler reaches the listener on the direct connection.
        assert not wakeup.wait(0.05, stop)
        with db.write() as session:
            session.execute(text("SELECT pg_notify('bookingcal_journal', '1')"))
        assert wakeup.wait(10, stop)
    finally:
        wakeup.close()
        db.dispose()


def test_the_configuration_names_a_wrong_direct_url(tmp_path: Path,
                                                    pooled_pg: PooledDatabase) -> None:
    cases = {
        pooled_pg.url: "the same server and port as database.url",
        f"sqlite:///{tmp_path}/x.sqlite3": "found a SQLite URL",
        "mysql://x@y/z": "expected empty (SQLite under data_dir), a sqlite:///PATH URL",
    }
    for direct, expected in cases.items():
        with pytest.raises(ConfigError) as caught:
            make_config(tmp_path, pooled_pg.url, BOOKINGCAL_DATABASE_DIRECT_URL=direct)
        assert expected in str(caught.value)
        assert "BOOKINGCAL_DATABASE_DIRECT_URL" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        make_config(tmp_path, f"sqlite:///{tmp_path}/x.sqlite3",
                    extra=f'[database]\ndirect_url = "{pooled_pg.direct_url}"\n')
    assert "database.direct_url: set, but database.url is not PostgreSQL" in str(caught.value)
    config = make_config(tmp_path, pooled_pg.url,
                         extra=f'[database]\ndirect_url = "{pooled_pg.direct_url}"\n')
    assert config.database_direct_url == pooled_pg.direct_url
    assert HOST_KEY  # the host key stays in the environment, not the file

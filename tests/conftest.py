"""Suite-wide fixtures: database URLs (SQLite and a throwaway PostgreSQL 15) and
a network blocker that keeps every test off the internet.

Fixtures:

* ``postgres_server`` (session): one :class:`tests.pgserver.ThrowawayPostgres`,
  started the first time a test asks for it, stopped at the end of the session.
* ``database_url`` (function, parametrized ``sqlite`` / ``postgresql``): a URL of
  an empty database; every test using it runs once per engine.  The
  ``postgresql`` case carries the ``postgres`` marker.
* ``pg_url`` (function): URL of a fresh, empty PostgreSQL database only.
* ``pgbouncer_server`` (session): a :class:`tests.pgbouncer.ThrowawayPgBouncer` in transaction
  pooling mode in front of ``postgres_server``, started on first use.
* ``pooled_pg`` (function): a fresh PostgreSQL database reached through that PgBouncer:
  ``.url`` (the pooler, for ``database.url``), ``.direct_url`` (the server itself, for
  ``database.direct_url`` / ``BOOKINGCAL_DATABASE_DIRECT_URL``).
* ``_block_network`` (session, autouse): connecting to anything but loopback or
  a unix socket raises ``OSError("network access blocked in tests: HOST")``.

Dates: every test runs entirely on an injected clock (``support.NOW``) or derives every date it
books from the real now; never a literal date on the real clock. The rule and its helpers are in
tests/README.md. The suite is also run under libfaketime at other dates, through
``./scripts/test.sh`` (which keeps Python's timed waits working there).
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import socket
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pgbouncer import DIRECT_URLS, PooledDatabase, ThrowawayPgBouncer  # noqa: E402
from pgserver import ThrowawayPostgres  # noqa: E402

# ------------------------------------------------------------------- faketime


def pytest_configure(config: pytest.Config) -> None:
    preload = os.environ.get("LD_PRELOAD", "")
    if "libfaketime" in preload and "faketime-monotonic-waits" not in preload:
        raise pytest.UsageError(
            "under faketime, run the suite through ./scripts/test.sh: without the preload it "
            "adds (tests/faketime/monotonic_waits.c) every timed wait of a thread lasts as long "
            "as the date's shift")


# --------------------------------------------------------------------- network


class NetworkBlockedError(OSError):
    """Raised instead of connecting to a non-loopback address."""


_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _is_loopback_host(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%", 1)[0].lower().rstrip(".")
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False  # another host name: refuse rather than resolve it
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _check_address(family: int, address: Any) -> None:
    if family not in (socket.AF_INET, socket.AF_INET6):
        return  # AF_UNIX, netlink, ...: not network access
    host = address[0] if isinstance(address, tuple) and address else address
    if not _is_loopback_host(host):
        raise NetworkBlockedError(f"network access blocked in tests: {host}")


@pytest.fixture(scope="session", autouse=True)
def _block_network() -> Iterator[None]:
    real_connect: Callable[..., Any] = socket.socket.connect
    real_connect_ex: Callable[..., Any] = socket.socket.connect_ex
    real_create_connection: Callable[..., Any] = socket.create_connection

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        _check_address(self.family, address)
        return real_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> Any:
        _check_address(self.family, address)
        return real_connect_ex(self, address)

    def guarded_create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
        # Check before the name is resolved, so no DNS query leaves either.
        host = address[0] if isinstance(address, tuple) and address else address
        if not _is_loopback_host(host):
            raise NetworkBlockedError(f"network access blocked in tests: {host}")
        return real_create_connection(address, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", guarded_connect)
        mp.setattr(socket.socket, "connect_ex", guarded_connect_ex)
        mp.setattr(socket, "create_connection", guarded_create_connection)
        yield


# -------------------------------------------------------------------- database


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> ThrowawayPostgres:
    """The session's PostgreSQL 15 server (started lazily, on first use).

    Missing binaries or a failed start raise, so the tests needing PostgreSQL
    fail (error) with the harness message; they are never skipped.
    """
    server = ThrowawayPostgres()
    # Registered before start() so that a Ctrl-C during start still cleans up.
    request.addfinalizer(server.stop)
    atexit.register(server.stop)
    server.start()
    return server


def _fresh_database(server: ThrowawayPostgres) -> str:
    name = f"test_{uuid.uuid4().hex[:16]}"
    if not server.is_running:
        server.start_server()
    server.create_database(name)
    return name


def _drop_database(server: ThrowawayPostgres, name: str) -> None:
    if not server.is_running:  # a test stopped the server and did not restart it
        server.start_server()
    server.drop_database(name)


@pytest.fixture
def pg_url(postgres_server: ThrowawayPostgres) -> Iterator[str]:
    """URL (postgresql+psycopg://...) of a fresh PostgreSQL database, dropped afterwards."""
    name = _fresh_database(postgres_server)
    yield postgres_server.url(name)
    _drop_database(postgres_server, name)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database; tests using it run on SQLite and on PostgreSQL.

    A module may add the case ``pgbouncer`` (``pytestmark = support.WITH_PGBOUNCER``): the URL
    of PgBouncer in front of a fresh database, whose direct URL ``support.make_config`` finds in
    ``support.DIRECT_URLS`` (a bookingcal process behind a pooler needs both)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/test.sqlite3"
        return
    server: ThrowawayPostgres = request.getfixturevalue("postgres_server")
    name = _fresh_database(server)
    if request.param == "pgbouncer":
        bouncer: ThrowawayPgBouncer = request.getfixturevalue("pgbouncer_server")
        url = bouncer.url(name)
        DIRECT_URLS[url] = server.url(name)
        try:
            yield url
        finally:
            DIRECT_URLS.pop(url, None)
            _drop_database(server, name)
        return
    yield server.url(name)
    _drop_database(server, name)


@pytest.fixture(scope="session")
def pgbouncer_server(request: pytest.FixtureRequest,
                     postgres_server: ThrowawayPostgres) -> ThrowawayPgBouncer:
    """The session's PgBouncer (transaction pooling) in front of ``postgres_server``."""
    bouncer = ThrowawayPgBouncer(postgres_server)
    request.addfinalizer(bouncer.stop)
    atexit.register(bouncer.stop)
    bouncer.start()
    return bouncer


@pytest.fixture
def pooled_pg(postgres_server: ThrowawayPostgres,
              pgbouncer_server: ThrowawayPgBouncer) -> Iterator[PooledDatabase]:
    """A fresh PostgreSQL database behind the session's PgBouncer, dropped afterwards."""
    name = _fresh_database(postgres_server)
    pooled = PooledDatabase(name, pgbouncer_server.url(name), postgres_server.url(name))
    DIRECT_URLS[pooled.url] = pooled.direct_url  # support.make_config configures it
    try:
        yield pooled
    finally:
        DIRECT_URLS.pop(pooled.url, None)
        _drop_database(postgres_server, name)

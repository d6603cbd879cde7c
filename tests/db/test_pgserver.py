"""The test harness itself: throwaway PostgreSQL, database URLs, network blocker."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from pgserver import PostgresHarnessError, ThrowawayPostgres, pg_bin_dir


@pytest.mark.postgres
def test_server_is_postgresql_15(postgres_server: ThrowawayPostgres) -> None:
    with psycopg.connect(postgres_server.conninfo()) as conn:
        row = conn.execute("SELECT version()").fetchone()
    assert row is not None
    assert row[0].startswith("PostgreSQL 15"), row[0]
    assert postgres_server.url("x") == f"postgresql+psycopg://postgres@127.0.0.1:{postgres_server.port}/x"


def test_database_url_gives_working_engine(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE booking (id INTEGER PRIMARY KEY, title TEXT NOT NULL)"))
            conn.execute(
                sa.text("INSERT INTO booking (id, title) VALUES (:id, :title)"),
                [{"id": 1, "title": "Haircut"}, {"id": 2, "title": "Dentist ✓"}],
            )
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, title FROM booking ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [(1, "Haircut"), (2, "Dentist ✓")]
        expected_dialect = "sqlite" if database_url.startswith("sqlite") else "postgresql"
        assert engine.dialect.name == expected_dialect
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_pg_url_is_a_fresh_postgresql_database(pg_url: str) -> None:
    assert pg_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert sa.inspect(conn).get_table_names() == []
            assert conn.execute(sa.text("SHOW server_encoding")).scalar() == "UTF8"
            assert conn.execute(sa.text("SHOW fsync")).scalar() == "off"
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_create_and_drop_database(postgres_server: ThrowawayPostgres) -> None:
    def exists(name: str) -> bool:
        with psycopg.connect(postgres_server.conninfo()) as conn:
            return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None

    postgres_server.create_database("harness_probe")
    assert exists("harness_probe")
    # FORCE: an open connection does not prevent the drop.
    with psycopg.connect(postgres_server.conninfo("harness_probe")):
        postgres_server.drop_database("harness_probe")
    assert not exists("harness_probe")
    postgres_server.drop_database("harness_probe")  # idempotent


@pytest.mark.postgres
def test_stop_and_start_server_mid_test(postgres_server: ThrowawayPostgres, pg_url: str) -> None:
    engine = sa.create_engine(pg_url, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
            postgres_server.stop_server()
            assert not postgres_server.is_running
            with pytest.raises(DBAPIError):
                conn.execute(sa.text("SELECT 2"))
        with pytest.raises(DBAPIError):
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 3"))
        postgres_server.start_server()
        assert postgres_server.is_running
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 4")).scalar() == 4
    finally:
        engine.dispose()


def test_network_blocker_refuses_internet() -> None:
    message = "network access blocked in tests: 203.0.113.1"
    with pytest.raises(OSError, match=message):
        socket.create_connection(("203.0.113.1", 80), timeout=1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        with pytest.raises(OSError, match=message):
            sock.connect(("203.0.113.1", 80))
        with pytest.raises(OSError, match=message):
            sock.connect_ex(("203.0.113.1", 80))
    with pytest.raises(OSError, match="network access blocked in tests: example.com"):
        socket.create_connection(("example.com", 443), timeout=1)


def test_network_blocker_allows_loopback_and_unix(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=2) as client:
            accepted, _ = server.accept()
            with accepted:
                client.sendall(b"ping")
                assert accepted.recv(4) == b"ping"
        with socket.create_connection(("localhost", port), timeout=2):
            server.accept()[0].close()
    path = str(tmp_path / "s.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(path)
            listener.accept()[0].close()


def test_missing_binaries_fail_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOKINGCAL_PG_BIN", str(tmp_path))
    assert pg_bin_dir() == tmp_path
    server = ThrowawayPostgres()
    with pytest.raises(PostgresHarnessError, match="PostgreSQL 15 binaries not found in"):
        server.start()
    assert server.base_dir is None

"""A throwaway PgBouncer in transaction pooling mode, in front of a ThrowawayPostgres.

It lives in a fresh temporary folder (its ini, auth file, log, pid file), listens only on
127.0.0.1 on a free port, lets the server's superuser in without a password (the server behind it
trusts local connections) and forwards every database name to the same server. When the tests
run as root it runs as the ``postgres`` user (PgBouncer refuses root), and, like the server, on
the real clock even under libfaketime (its timeouts must fire).

Usage::

    with ThrowawayPostgres() as pg, ThrowawayPgBouncer(pg) as bouncer:
        pg.create_database("example")
        db = Database(bouncer.url("example"), direct_url=pg.url("example"))
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from dataclasses import dataclass
from types import TracebackType

import psycopg

from pgserver import HOST, SUPERUSER, PostgresHarnessError, ThrowawayPostgres, find_free_port

PGBOUNCER_ENV = "BOOKINGCAL_PGBOUNCER"

# The PostgreSQL URL behind each PgBouncer URL handed out by conftest's fixtures:
# support.make_config configures it as database.direct_url.
DIRECT_URLS: dict[str, str] = {}
DEFAULT_PGBOUNCER = "/usr/sbin/pgbouncer"

# Per (database, user) pair: the server connections PgBouncer shares among its clients. Small on
# purpose, so that the tests' clients really do take turns on server connections.
DEFAULT_POOL_SIZE = 4

# Run in a separate process: waits for EOF on stdin (the test process closed it or died), then
# kills the pooler named by the pid file and deletes its folder.
_WATCHDOG = """
import os, shutil, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
base = sys.argv[1]
sys.stdin.buffer.read()
try:
    pid = int(open(os.path.join(base, "pgbouncer.pid")).read().strip())
    os.kill(pid, signal.SIGKILL)
except (OSError, ValueError):
    pass
time.sleep(0.2)
shutil.rmtree(base, ignore_errors=True)
"""


@dataclass(frozen=True)
class PooledDatabase:
    """One database reached two ways: through the pooler and directly."""
    name: str
    url: str  # through PgBouncer (transaction pooling)
    direct_url: str  # PostgreSQL itself

    @property
    def environ(self) -> dict[str, str]:
        """The environment that configures a bookingcal process for it."""
        return {"BOOKINGCAL_DATABASE_URL": self.url,
                "BOOKINGCAL_DATABASE_DIRECT_URL": self.direct_url}


def pgbouncer_binary() -> Path:
    found = os.environ.get(PGBOUNCER_ENV) or shutil.which("pgbouncer") or DEFAULT_PGBOUNCER
    return Path(found)


class ThrowawayPgBouncer:
    """PgBouncer (pool_mode = transaction) for one ThrowawayPostgres, started and deleted."""

    def __init__(self, postgres: ThrowawayPostgres, *, pool_size: int = DEFAULT_POOL_SIZE,
                 start_timeout: float = 20.0, query_wait_timeout: int = 120) -> None:
        self.postgres = postgres
        self.pool_size = pool_size
        # How long a client waits for a server connection before PgBouncer gives up on it
        # (its default: 120 s); a test of "never two connections at once" sets it short.
        self.query_wait_timeout = query_wait_timeout
        self.start_timeout = start_timeout
        self.port = 0
        self.base_dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------- public API

    def url(self, dbname: str) -> str:
        """SQLAlchemy URL of database ``dbname`` through the pooler."""
        if not self.port:
            raise PostgresHarnessError("PgBouncer has not been started")
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self.port}/{dbname}"

    def conninfo(self, dbname: str) -> str:
        """libpq connection string of ``dbname`` through the pooler (prepared statements off:
        pass ``prepare_threshold=None`` to psycopg.connect too)."""
        return psycopg.conninfo.make_conninfo(host=HOST, port=str(self.port), user=SUPERUSER,
                                              dbname=dbname, sslmode="disable",
                                              connect_timeout="5")

    @property
    def log_file(self) -> Path:
        if self.base_dir is None:
            raise PostgresHarnessError("PgBouncer has not been started")
        return self.base_dir / "pgbouncer.log"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, PostgresHarnessError):
            return "(no pgbouncer log)"

    def start(self) -> ThrowawayPgBouncer:
        if self.base_dir is not None:
            raise PostgresHarnessError("ThrowawayPgBouncer.start() called twice")
        binary = pgbouncer_binary()
        if not os.access(binary, os.X_OK):
            raise PostgresHarnessError(
                f"pgbouncer not found ({binary}); install the Debian package pgbouncer "
                f"(scripts/system-packages.sh does) or point {PGBOUNCER_ENV} at it")
        run_as = self.postgres._pick_user()
        parent = self.postgres.base_dir.parent if self.postgres.base_dir else None
        self.base_dir = Path(tempfile.mkdtemp(prefix="bookingcal-pgbouncer-",
                                              dir=parent or tempfile.gettempdir()))
        try:
            if run_as is not None:
                os.chown(self.base_dir, run_as.pw_uid, run_as.pw_gid)
            self._start_watchdog()
            for attempt in range(5):
                self.port = find_free_port()
                self._write_files(run_as)
                if self._launch(binary, run_as):
                    return self
                if "Address already in use" not in self.log_tail(20) or attempt == 4:
                    break
            raise PostgresHarnessError(
                f"PgBouncer did not accept connections on {HOST}:{self.port}\n"
                f"log tail:\n{self.log_tail()}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._kill_by_pid_file()
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            if watchdog.stdin is not None:
                watchdog.stdin.close()
            try:
                watchdog.wait(timeout=10)
            except subprocess.TimeoutExpired:
                watchdog.kill()
                watchdog.wait()

    def __enter__(self) -> ThrowawayPgBouncer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -------------------------------------------------------------- internals

    def _write_files(self, run_as: object) -> None:
        assert self.base_dir is not None
        auth = self.base_dir / "userlist.txt"
        auth.write_text(f'"{SUPERUSER}" ""\n', encoding="utf-8")
        ini = self.base_dir / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"* = host={HOST} port={self.postgres.port}\n"
            "[pgbouncer]\n"
            f"listen_addr = {HOST}\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "pool_mode = transaction\n"
            "auth_type = trust\n"
            f"auth_file = {auth}\n"
            f"default_pool_size = {self.pool_size}\n"
            f"query_wait_timeout = {self.query_wait_timeout}\n"
            "max_client_conn = 1000\n"
            "max_db_connections = 0\n"
            "server_reset_query =\n"
            # A refused login (a test makes the database refuse) is retried after a second,
            # not PgBouncer's default 15.
            "server_login_retry = 1\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            f"logfile = {self.log_file}\n"
            f"pidfile = {self.base_dir / 'pgbouncer.pid'}\n"
            "log_connections = 0\n"
            "log_disconnections = 0\n"
            "admin_users = postgres\n",
            encoding="utf-8")
        pw = self.postgres._run_as
        if pw is not None:
            for path in (auth, ini):
                os.chown(path, pw.pw_uid, pw.pw_gid)

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        # The real clock, like the server (tests/pgserver.py): its timeouts must fire.
        preload = [lib for lib in env.pop("LD_PRELOAD", "").split(":")
                   if lib and "faketime" not in lib]
        if preload:
            env["LD_PRELOAD"] = ":".join(preload)
        return env

    def _launch(self, binary: Path, run_as: object) -> bool:
        assert self.base_dir is not None
        command = [str(binary), str(self.base_dir / "pgbouncer.ini")]
        if run_as is not None:
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        self._process = subprocess.Popen(command, cwd=self.base_dir, env=self._env(),
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                return False
            try:
                with psycopg.connect(self.conninfo("postgres"), autocommit=True,
                                     prepare_threshold=None) as conn:
                    conn.execute("SELECT 1")
                return True
            except psycopg.OperationalError:
                time.sleep(0.05)
        return False

    def _kill_by_pid_file(self) -> None:
        if self.base_dir is None:
            return
        try:
            pid = int((self.base_dir / "pgbouncer.pid").read_text().strip())
            os.kill(pid, 9)
        except (OSError, ValueError):
            pass

    def _start_watchdog(self) -> None:
        assert self.base_dir is not None
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(self.base_dir)], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

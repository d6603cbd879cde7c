"""A throwaway PostgreSQL 15 server for the test suite.

The server lives in a fresh temporary folder (cluster, unix socket, log),
listens only on 127.0.0.1 on a free port, trusts every local connection and
is tuned for speed rather than durability.  When the tests run as root the
PostgreSQL binaries are run as the ``postgres`` user (initdb refuses root).

Usage::

    with ThrowawayPostgres() as pg:
        pg.create_database("example")
        engine = sqlalchemy.create_engine(pg.url("example"))
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

DEFAULT_PG_BIN = "/usr/lib/postgresql/15/bin"
PG_BIN_ENV = "BOOKINGCAL_PG_BIN"
SUPERUSER = "postgres"
HOST = "127.0.0.1"

# Settings suited to tests: no durability, many connections, deterministic zone.
TEST_SETTINGS: dict[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "timezone": "'UTC'",
    "log_timezone": "'UTC'",
}


# Run in a separate process: waits until its stdin reaches EOF (the test process
# closed it or died, even by SIGKILL), then stops the server and deletes its folder.
_WATCHDOG = """
import os, shutil, signal, subprocess, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
base, stop_command = sys.argv[1], sys.argv[2:]
sys.stdin.buffer.read()
if os.path.isdir(base):
    try:
        pid = int(open(os.path.join(base, "data", "postmaster.pid")).readline())
    except (OSError, ValueError):
        pid = None
    if pid is not None:
        subprocess.run(stop_command, cwd=base, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    time.sleep(0.2)
    shutil.rmtree(base, ignore_errors=True)
"""


class PostgresHarnessError(RuntimeError):
    """The throwaway PostgreSQL server could not be found, started or stopped."""


def pg_bin_dir() -> Path:
    """The folder holding initdb/pg_ctl/postgres (env BOOKINGCAL_PG_BIN overrides)."""
    return Path(os.environ.get(PG_BIN_ENV) or DEFAULT_PG_BIN)


def find_free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _traversable_by_others(path: Path) -> bool:
    """Whether every folder from / down to ``path`` can be entered by anyone."""
    for folder in [path, *path.parents]:
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            return False
    return True


class ThrowawayPostgres:
    """A private PostgreSQL cluster started for the test session and then deleted."""

    def __init__(
        self,
        bin_dir: Path | str | None = None,
        *,
        start_timeout: float = 30.0,
        port: int | None = None,
    ) -> None:
        self.bin_dir = Path(bin_dir) if bin_dir is not None else pg_bin_dir()
        self.start_timeout = start_timeout
        self.port: int = port if port is not None else 0
        self._fixed_port = port is not None
        self.base_dir: Path | None = None
        self.startup_seconds: float | None = None  # initdb + first start, wall clock
        self._run_as: pwd.struct_passwd | None = None
        self._running = False
        self._watchdog: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ paths

    def _base(self) -> Path:
        if self.base_dir is None:
            raise PostgresHarnessError("the PostgreSQL server has not been started")
        return self.base_dir

    @property
    def data_dir(self) -> Path:
        return self._base() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._base() / "sock"

    @property
    def log_file(self) -> Path:
        return self._base() / "server.log"

    @property
    def is_running(self) -> bool:
        return self._running

    # ------------------------------------------------------------- public API

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL of database ``dbname`` on this server."""
        if not self.port:
            raise PostgresHarnessError("the PostgreSQL server has not been started")
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self.port}/{dbname}"

    def conninfo(self, dbname: str = "postgres") -> str:
        """libpq connection string of database ``dbname`` (for psycopg.connect)."""
        return psycopg.conninfo.make_conninfo(
            host=HOST,
            port=str(self.port),
            user=SUPERUSER,
            dbname=dbname,
            sslmode="disable",
            connect_timeout="5",
        )

    def create_database(self, name: str) -> None:
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def start(self) -> ThrowawayPostgres:
        """Create the cluster in a fresh folder and start the server."""
        if self.base_dir is not None:
            raise PostgresHarnessError("ThrowawayPostgres.start() called twice")
        began = time.monotonic()
        self._check_binaries()
        self._run_as = self._pick_user()
        try:
            self.base_dir = self._make_base_dir()
            self._start_watchdog()
            self._initdb()
            self._start_with_port_retries()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop the server (immediate mode) and delete its folder. Idempotent."""
        base = self.base_dir
        if base is None:
            return
        try:
            self._stop_postmaster()
        finally:
            self.base_dir = None
            self._running = False
            shutil.rmtree(base, ignore_errors=True)
            self._stop_watchdog()

    def stop_server(self) -> None:
        """Stop the server but keep the cluster, e.g. to provoke errors mid-test."""
        self._base()
        self._stop_postmaster()

    def start_server(self) -> None:
        """Start the server again (same port) after stop_server()."""
        self._base()
        if self._running:
            return
        self._start_postmaster()

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except (OSError, PostgresHarnessError):
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    # -------------------------------------------------------------- internals

    def _check_binaries(self) -> None:
        missing = [
            name
            for name in ("initdb", "pg_ctl", "postgres")
            if not os.access(self.bin_dir / name, os.X_OK)
        ]
        if missing:
            raise PostgresHarnessError(
                f"PostgreSQL 15 binaries not found in {self.bin_dir} "
                f"(missing: {', '.join(missing)}); install postgresql-15 "
                f"or point {PG_BIN_ENV} at the folder holding initdb/pg_ctl/postgres"
            )

    @staticmethod
    def _pick_user() -> pwd.struct_passwd | None:
        """None: run as ourselves; else the account to run the binaries as (root case)."""
        if os.geteuid() != 0:
            return None
        try:
            account = pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise PostgresHarnessError(
                "tests run as root but there is no 'postgres' user to run initdb as; "
                "create it (installing postgresql-15 does) or run the tests as non-root"
            ) from None
        if shutil.which("runuser") is None:
            raise PostgresHarnessError("tests run as root but 'runuser' is not installed")
        return account

    def _make_base_dir(self) -> Path:
        if self._run_as is None:
            return Path(tempfile.mkdtemp(prefix="bookingcal-pg-"))
        # The postgres user must be able to reach the folder.
        parent = Path(tempfile.gettempdir()).resolve()
        if not _traversable_by_others(parent):
            parent = Path("/tmp")
            if not _traversable_by_others(parent):
                raise PostgresHarnessError(
                    "no temporary folder the postgres user can reach; set TMPDIR"
                )
        base = Path(tempfile.mkdtemp(prefix="bookingcal-pg-", dir=parent))
        os.chown(base, self._run_as.pw_uid, self._run_as.pw_gid)
        return base

    def _command(self, args: list[str]) -> list[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._run_as is not None:
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        return command

    def _start_watchdog(self) -> None:
        """Clean up even if this process is killed without running finalizers."""
        stop_command = self._command(
            ["pg_ctl", "stop", "-m", "immediate", "-w", "-D", str(self.data_dir)]
        )
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(self._base()), *stop_command],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=self._env(),
            start_new_session=True,  # a Ctrl-C in the terminal must not reach it
        )

    def _stop_watchdog(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is None:
            return
        try:
            if watchdog.stdin is not None:
                watchdog.stdin.close()  # EOF: the folder is gone, so it just exits
            watchdog.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            watchdog.kill()
            watchdog.wait()

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        # Under libfaketime (the suite is run at other dates: tests/README.md) the server runs on
        # the real clock: its lock and statement timeouts never fire with a faked one, and
        # bookingcal never reads the database server's clock.
        preload = [lib for lib in env.pop("LD_PRELOAD", "").split(":")
                   if lib and "faketime" not in lib]
        if preload:
            env["LD_PRELOAD"] = ":".join(preload)
        if self._run_as is not None:
            env.update(HOME=self._run_as.pw_dir, USER=SUPERUSER, LOGNAME=SUPERUSER)
        return env

    def _run(self, args: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._command(args),
            cwd=self._base(),
            env=self._env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _run_checked(self, args: list[str], timeout: float = 60.0) -> None:
        result = self._run(args, timeout)
        if result.returncode != 0:
            raise PostgresHarnessError(
                f"{' '.join(args[:2])} failed with exit code {result.returncode}:\n"
                f"{result.stdout}{result.stderr}\nserver log tail:\n{self.log_tail()}"
            )

    def _initdb(self) -> None:
        self._run_checked(
            [
                "initdb",
                "--pgdata",
                str(self.data_dir),
                "--username",
                SUPERUSER,
                "--auth-local=trust",
                "--auth-host=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ]
        )
        # The socket folder must belong to the user the server runs as.
        self.socket_dir.mkdir(mode=0o700)
        if self._run_as is not None:
            os.chown(self.socket_dir, self._run_as.pw_uid, self._run_as.pw_gid)
        with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# bookingcal test harness\ninclude 'bookingcal_test.conf'\n")

    def _write_settings(self) -> None:
        settings = {
            **TEST_SETTINGS,
            "listen_addresses": f"'{HOST}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
        }
        path = self.data_dir / "bookingcal_test.conf"
        path.write_text("".join(f"{key} = {value}\n" for key, value in settings.items()))
        if self._run_as is not None:
            os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)

    def _start_with_port_retries(self, attempts: int = 5) -> None:
        for attempt in range(attempts):
            if not self._fixed_port:
                self.port = find_free_port()
            self._write_settings()
            try:
                self._start_postmaster()
                return
            except PostgresHarnessError:
                # Somebody grabbed the port between find_free_port() and bind().
                port_taken = "could not bind" in self.log_tail(200)
                if self._fixed_port or not port_taken or attempt == attempts - 1:
                    raise

    def _postmaster_pid(self) -> int | None:
        try:
            first_line = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
            return int(first_line)
        except (OSError, ValueError):
            return None

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # pg_ctl detaches the postmaster, so once it exits it waits as a zombie
        # until init reaps it (seconds, in some containers): that counts as dead.
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        return state not in ("Z", "X")

    def _start_postmaster(self) -> None:
        # Failure detection only looks at what this start appends to the log.
        if self.log_file.exists():
            with open(self.log_file, "a", encoding="utf-8") as log:
                log.write("\n---- bookingcal harness: starting server ----\n")
        log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        # -W: do not wait in pg_ctl; readiness is polled below with psycopg.
        self._run_checked(
            ["pg_ctl", "start", "-W", "-D", str(self.data_dir), "-l", str(self.log_file)]
        )
        self._running = True
        deadline = time.monotonic() + self.start_timeout
        grace_until = time.monotonic() + 2.0
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.conninfo(), autocommit=True) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                last_error = exc
            if self._startup_failed(log_offset, time.monotonic() > grace_until):
                break
            time.sleep(0.02)
        self._stop_postmaster()
        raise PostgresHarnessError(
            f"PostgreSQL did not accept connections on {HOST}:{self.port} within "
            f"{self.start_timeout:.0f}s (last error: {last_error})\n"
            f"server log tail ({self.log_file}):\n{self.log_tail()}"
        )

    def _startup_failed(self, log_offset: int, grace_over: bool) -> bool:
        """True once the postmaster has clearly died instead of coming up."""
        pid = self._postmaster_pid()
        if pid is not None and self._alive(pid):
            return False
        try:
            with open(self.log_file, encoding="utf-8", errors="replace") as log:
                log.seek(log_offset)
                new_log = log.read()
        except OSError:
            new_log = ""
        if "FATAL:" in new_log or "database system is shut down" in new_log:
            return True
        return grace_over and pid is None

    def _stop_postmaster(self) -> None:
        if self.base_dir is None or not self.data_dir.exists():
            self._running = False
            return
        pid = self._postmaster_pid()
        if pid is None:
            self._running = False
            return
        result = self._run(["pg_ctl", "stop", "-m", "immediate", "-w", "-D", str(self.data_dir)])
        if self._alive(pid):
            # pg_ctl failed or timed out: make sure nothing is left behind.
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 10
            while self._alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
        self._running = False
        if result.returncode != 0 and self._alive(pid):
            raise PostgresHarnessError(
                f"could not stop PostgreSQL (pid {pid}): {result.stdout}{result.stderr}"
            )

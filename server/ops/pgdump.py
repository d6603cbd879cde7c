"""PostgreSQL backup and restore with PostgreSQL's own programs, pg_dump and pg_restore (a
consistent snapshot while the servers keep running; the restore replaces every table)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from server.errors import BookingCalError

DUMP_NAME = "bookingcal.dump"
ENV_PG_BIN = "BOOKINGCAL_PG_BIN"
TIMEOUT_SECONDS = 6 * 3600


def program(name: str) -> str:
    """pg_dump or pg_restore: from $BOOKINGCAL_PG_BIN, else PATH, else the newest
    /usr/lib/postgresql/*/bin (Debian's server packages)."""
    folder = os.environ.get(ENV_PG_BIN)
    if folder:
        candidate = Path(folder) / name
        if not os.access(candidate, os.X_OK):
            raise BookingCalError(f"{candidate} is not an executable {name}; fix "
                                  f"{ENV_PG_BIN} or unset it")
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                      key=lambda path: int(Path(path).parts[-3]) if
                      Path(path).parts[-3].isdigit() else 0)
    if versions:
        return versions[-1]
    raise BookingCalError(f"{name} is not installed: install the PostgreSQL client programs "
                          f"(Debian: postgresql-client) or name their folder in {ENV_PG_BIN}")


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URL without the password, and an environment carrying it (so the
    password never shows in the process list)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    try:
        result = subprocess.run(command, env=env, stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=TIMEOUT_SECONDS,
                                check=False)
    except OSError as exc:
        raise BookingCalError(f"{what} could not start: {exc.strerror}") from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise BookingCalError(f"{what} failed: {lines[-1] if lines else result.returncode}")


def dump(url: str, target: Path) -> None:
    """pg_dump of the whole database in custom format to `target`."""
    conninfo, env = _libpq(url)
    _run([program("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
          "--file", str(target), "--dbname", conninfo], env, "pg_dump")


def restore(url: str, source: Path) -> None:
    """Replace the database's contents with the dump, in one transaction (a failure leaves
    the database as it was)."""
    conninfo, env = _libpq(url)
    _run([program("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges",
          "--single-transaction", "--exit-on-error", "--dbname", conninfo, str(source)],
         env, "pg_restore")

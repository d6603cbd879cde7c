"""The `bookingcal` command (server/cli/, a module per command group) driven in-process through
click's CliRunner: help and version, `config check`, `db upgrade/backup/restore/new-epoch/prune`,
`business`, `demo`, `keys rotate`, and `serve` refusing an unmigrated database.

Every command reads a configuration file written in tmp_path (`data_dir = "data"`); the database
and the host key come from BOOKINGCAL_DATABASE_URL / BOOKINGCAL_HOST_KEY set in the runner's
environment, as an operator would set them."""

from __future__ import annotations

import datetime as dt
import gc
import inspect
import re
import shutil
import socket
import stat
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from server import __version__
from server.cli import main
from server.config import Config, load
from server.db import Database
from server.db.migrate import current_revision, head_revision
from server.db.models import ApiKey, Booking, Business, Calendar, Client, JournalEntry, Service
from server.ops.demo import DEMO_NAME
from server.domain import bookings, businesses, calendars, journal, services
from server.errors import GoneError
from server.keys import KeyFileError, Keyring
from server.runtime import build_runtime
from support import HOST_KEY, Api, real_now, start_server

COPENHAGEN = ZoneInfo("Europe/Copenhagen")
TRACEBACK = "Traceback"


# --------------------------------------------------------------------------- helpers


class Cli:
    """`bookingcal --config <folder>/bookingcal.toml ...` with a controlled environment.

    database_url None: the default SQLite file data/bookingcal.sqlite3; host_key None: the host
    key file data/keys/host.key is generated on first run."""

    def __init__(self, folder: Path, database_url: str | None = None,
                 host_key: str | None = HOST_KEY, toml: str = 'data_dir = "data"\n') -> None:
        self.folder = folder
        self.path = folder / "bookingcal.toml"
        self.path.write_text(toml, encoding="utf-8")
        # None removes a variable the outer environment might set.
        self.env: dict[str, str | None] = {"BOOKINGCAL_CONFIG": None,
                                           "BOOKINGCAL_DATABASE_URL": database_url,
                                           "BOOKINGCAL_HOST_KEY": host_key}
        self.runner = CliRunner(env=self.env)

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(main, ["--config", str(self.path), *args], input=input,
                                  prog_name="bookingcal")

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self(*args, input=input)
        assert result.exit_code == 0 and result.exception is None, _show(result)
        assert TRACEBACK not in result.output
        return result

    def fails(self, *args: str, input: str | None = None) -> list[str]:
        """The command exits with status 1 through sys.exit (not an escaping exception), prints
        nothing on stdout and only "error: ..." lines on stderr; returns those lines."""
        result = self(*args, input=input)
        assert result.exit_code == 1, _show(result)
        assert isinstance(result.exception, SystemExit), _show(result)
        assert TRACEBACK not in result.output
        assert result.stdout == "", _show(result)
        lines = result.stderr.splitlines()
        assert lines and all(line.startswith("error: ") for line in lines), _show(result)
        return lines

    def config(self) -> Config:
        return load(self.path, environ={k: v for k, v in self.env.items() if v is not None})

    def database(self) -> Database:
        return Database(self.config().database_url, pool_size=1)


def _show(result: Result) -> str:
    return (f"exit {result.exit_code}, exception {result.exception!r}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")


def _walk(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...],
                                                                             click.Command]]:
    for name, command in sorted(group.commands.items()):
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _walk(command, (*path, name))


def _words(text: str) -> str:
    return " ".join(text.split())


def _epoch(db: Database) -> str:
    with db.read() as session:
        return journal.epoch(session)


def _count(db: Database, model: Any) -> int:
    with db.read() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _salon(db: Database, now: dt.datetime, name: str = "Salon") -> tuple[int, int, int]:
    """A business with one calendar and one 30-minute service: (business, calendar, service)."""
    with db.write() as session:
        business = businesses.create_business(session, name=name,
                                              timezone="Europe/Copenhagen", now=now)
        calendar = calendars.create_calendar(session, business.id, name="Anna", now=now)
        service = services.create_service(session, business.id, name="Cut",
                                          duration_minutes=30, now=now)
        return business.id, calendar.id, service.id


def _book(db: Database, business_id: int, calendar_id: int, service_id: int,
          start: dt.datetime, now: dt.datetime) -> int:
    with db.write() as session:
        return bookings.create_booking(session, business_id, calendar_id=calendar_id,
                                       service_id=service_id, start=start, now=now).id


# --------------------------------------------------------------------------- help, version

EXPECTED_COMMANDS = {
    ("serve",), ("demo",), ("db",), ("db", "upgrade"), ("db", "backup"), ("db", "restore"),
    ("db", "new-epoch"), ("db", "prune"), ("config",), ("config", "check"), ("keys",),
    ("keys", "rotate"), ("keys", "reencrypt"), ("keys", "status"), ("business",), ("business", "list"), ("business", "create"),
    ("business", "key"), ("links",), ("links", "create"), ("links", "list"), ("links", "show"),
    ("links", "revoke"), ("links", "rotate"), ("bridge",), ("google",), ("google", "connect"),
    ("google", "status"), ("google", "disconnect"),
    ("google", "settings"), ("google", "sync"),
    ("admin",), ("admin", "create-user"),
}
EXPECTED_COMMANDS |= {("availability",)}  # tests/integration/test_availability_cli.py
EXPECTED_COMMANDS |= {("admin", "list-users"), ("admin", "remove-user")}  # tests/browser
EXPECTED_COMMANDS |= {("admin", "reset-password")}  # tests/integration/test_admin_cli.py
EXPECTED_COMMANDS |= {("business", "phone-writes")}  # writable links, below
EXPECTED_COMMANDS |= {("sync",), ("sync", "status"), ("sync", "retry-mail"),
                      ("business", "stale-policy")}  # test_sync_status.py, test_sync_alerts.py
EXPECTED_COMMANDS |= {("microsoft",), ("microsoft", "connect"), ("microsoft", "status"),
                      ("microsoft", "calendars"), ("microsoft", "settings"),
                      ("microsoft", "disconnect")}  # tests/integration/test_microsoft_cli.py
EXPECTED_COMMANDS |= {("ics",), ("ics", "add"), ("ics", "list"), ("ics", "remove"),
                      ("ics", "refresh")}  # tests/integration/test_ics_cli.py
EXPECTED_COMMANDS |= {("caldav",), ("caldav", "connect"), ("caldav", "calendars"),
                      ("caldav", "settings"), ("caldav", "status"), ("caldav", "sync"),
                      ("caldav", "disconnect")}  # tests/integration/test_caldav_cli.py


def test_group_help_and_version(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    for flag in ("--help", "-h"):
        result = cli.ok(flag)
        assert result.stdout.startswith("Usage: bookingcal [OPTIONS] COMMAND [ARGS]...")
        assert "calendar server of an appointment-booking system" in result.stdout
        assert "--config" in result.stdout and "--version" in result.stdout
        for name in ("serve", "demo", "db", "config", "keys", "business"):
            assert re.search(rf"^  {name}\b", result.stdout, re.M), (name, result.stdout)
    result = cli.ok("--version")
    assert result.stdout == f"bookingcal, version {__version__}\n"


def test_help_of_every_subcommand(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    found = dict(_walk(main))
    assert set(found) == EXPECTED_COMMANDS
    for path, command in found.items():
        result = cli.ok(*path, "--help")
        text = result.stdout
        assert text.startswith(f"Usage: bookingcal {' '.join(path)} "), (path, text)
        assert "-h, --help" in text, (path, text)
        if command.help:
            first_paragraph = inspect.cleandoc(command.help).split("\n\n")[0]
            assert _words(first_paragraph) in _words(text), (path, text)
        for option in command.params:
            if isinstance(option, click.Option):
                assert option.opts[0] in text, (path, option.opts, text)
        if isinstance(command, click.Group):
            for child in command.commands:
                assert re.search(rf"^  {child}\b", text, re.M), (path, child, text)
    # Nothing was run: no data folder, no key files.
    assert not (tmp_path / "data").exists()


# --------------------------------------------------------------------------- config check


def test_config_check_ok(tmp_path: Path, database_url: str) -> None:
    cli = Cli(tmp_path, database_url)
    keys_dir = (tmp_path / "data" / "keys").resolve()
    text = cli.ok("config", "check").stdout
    assert text.startswith(f"configuration OK: {cli.path}; ")
    assert f"key files will be generated in {keys_dir} on first run" in text
    expected_state = "will be created on first run" if database_url.startswith("sqlite") \
        else "reachable"
    assert re.search(rf"database \S+ {expected_state}\n$", text), text
    assert not keys_dir.exists()  # checking generates nothing
    if database_url.startswith("sqlite"):
        assert not Path(database_url.removeprefix("sqlite:///")).exists()

    cli.ok("db", "upgrade")  # the first run generates the key files
    text = cli.ok("config", "check").stdout
    assert f"key files in {keys_dir} are readable" in text
    assert "reachable" in text

    (keys_dir / "encryption.keys").write_text("not a key line\n", encoding="ascii")
    [line] = cli.fails("config", "check")
    assert "encryption.keys:1: expected" in line


def test_config_check_reports_every_mistake_on_its_own_line(tmp_path: Path) -> None:
    cli = Cli(tmp_path, toml=(
        'data_dir = "data"\n'
        'public_url = "ftp://cal.example.com/"\n'
        'colour = "red"\n'
        '\n[server]\n'
        'port = "eighty"\n'))
    lines = cli.fails("config", "check")
    assert len(lines) == 3, lines
    prefix = f"error: {cli.path}: "
    assert all(line.startswith(prefix) for line in lines), lines
    problems = sorted(line[len(prefix):] for line in lines)
    assert problems[0] == "colour: unknown key"
    assert problems[1].startswith("public_url: found 'ftp://cal.example.com/' (a string), "
                                  "expected an absolute http:// or https:// URL")
    assert problems[2] == ("server.port: found 'eighty' (a string), expected an integer "
                           "from 1 to 65535")
    assert not (tmp_path / "data").exists()


def test_config_check_on_broken_toml_and_missing_file(tmp_path: Path) -> None:
    cli = Cli(tmp_path, toml='data_dir = "data\n')
    [line] = cli.fails("config", "check")
    assert line.startswith(f"error: {cli.path}: not valid TOML: ")

    missing = tmp_path / "nowhere.toml"
    result = cli.runner.invoke(main, ["--config", str(missing), "config", "check"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), _show(result)
    assert result.stderr == (f"error: {missing}: the file does not exist; create it (see "
                             "config/bookingcal.toml) or point --config at it\n")
    assert TRACEBACK not in result.output


# --------------------------------------------------------------------------- db upgrade


def test_db_upgrade_fresh_then_noop(tmp_path: Path, database_url: str) -> None:
    cli = Cli(tmp_path, database_url)
    db = cli.database()
    try:
        assert current_revision(db.engine) is None
        head = head_revision(db.engine)
        assert cli.ok("db", "upgrade").stdout == f"database schema: empty -> {head}\n"
        assert current_revision(db.engine) == head
        epoch = _epoch(db)
        assert re.fullmatch(r"[0-9a-f]{12}", epoch)

        assert cli.ok("db", "upgrade").stdout == f"database schema: {head} -> {head}\n"
        assert _epoch(db) == epoch  # the initial migration did not run again
        assert _count(db, Business) == 0
    finally:
        db.dispose()


# --------------------------------------------------------------------------- businesses


def test_business_create_list_and_key(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    cli.ok("db", "upgrade")
    assert cli.ok("business", "create", "Salon Vita", "--timezone",
                  "Europe/Copenhagen").stdout == "business 1 created\n"
    assert cli.ok("business", "create", "Barber Bo", "--timezone",
                  "Europe/Oslo").stdout == "business 2 created\n"
    [line] = cli.fails("business", "create", "Nowhere", "--timezone", "Mars/Olympus")
    assert "unknown time zone 'Mars/Olympus'" in line
    assert cli.ok("business", "list").stdout == ("1\tSalon Vita\tEurope/Copenhagen\n"
                                                 "2\tBarber Bo\tEurope/Oslo\n")

    text = cli.ok("business", "key", "2", "--label", "booking site").stdout
    match = re.fullmatch(r"key (\d+) for business 2: (bk_[A-Za-z0-9_-]{40,})\n", text)
    assert match, text
    key_id, secret = int(match.group(1)), match.group(2)
    [line] = cli.fails("business", "key", "99")
    assert "business 99 does not exist" in line

    config = cli.config()
    keyring = Keyring.load(config.keys_dir)
    db = cli.database()
    try:
        with db.read() as session:
            assert businesses.business_for_key(session, keyring, secret) == 2
            assert businesses.business_for_key(session, keyring, secret + "x") is None
            stored = session.get(ApiKey, key_id)
            assert stored is not None and stored.label == "booking site"
            assert stored.key_hash == keyring.hash_token(secret)
    finally:
        db.dispose()

    # Only the keyed hash is stored: the secret appears in no database file (WAL included),
    # while its hash does (so the scan does look at the right bytes).
    files = sorted(config.data_dir.glob("bookingcal.sqlite3*"))
    assert files and files[0].name == "bookingcal.sqlite3"
    stored_bytes = b"".join(path.read_bytes() for path in files)
    assert keyring.hash_token(secret).encode() in stored_bytes
    assert secret.encode() not in stored_bytes
    assert secret.removeprefix("bk_").encode() not in stored_bytes

    # The printed key works against a live server built from the same configuration.
    server = start_server(build_runtime(config))
    apis = [Api(server.url, key=secret), Api(server.url, key=secret[:-1]), Api(server.url)]
    try:
        business_api, wrong_api, host_api = apis
        listed = business_api.ok("GET", "/businesses")["items"]
        assert [(b["id"], b["name"]) for b in listed] == [(2, "Barber Bo")]
        assert business_api.get("/businesses/1").status_code == 403
        assert wrong_api.get("/businesses").status_code == 401
        assert len(host_api.ok("GET", "/businesses")["items"]) == 2
    finally:
        # Close the keep-alive connections first: LiveServer.stop() waits for open channels.
        for api in apis:
            api.session.close()
        server.stop()


def test_writable_links_and_what_phones_may_do(tmp_path: Path, database_url: str) -> None:
    cli = Cli(tmp_path, database_url)
    cli.ok("db", "upgrade")
    db = cli.database()
    try:
        business_id, calendar_id, _ = _salon(db, dt.datetime.now(dt.timezone.utc))
    finally:
        db.dispose()
    made = cli.ok("links", "create", str(business_id), "--calendar", str(calendar_id),
                  "--profile", "full", "--writable", "--label", "Anna's phone").stdout
    assert f"link 1: calendar {calendar_id}, profile full, active, writable" in made
    [line] = cli.fails("links", "create", str(business_id), "--calendar", str(calendar_id),
                       "--profile", "busy", "--writable")
    assert "writable link shows one employee calendar with the full profile" in line
    cli.fails("links", "create", str(business_id), "--profile", "full", "--writable")
    plain = cli.ok("links", "create", str(business_id), "--calendar", str(calendar_id),
                   "--profile", "full").stdout
    assert "writable" not in plain.splitlines()[0]
    assert cli.ok("business", "phone-writes", str(business_id)).stdout == (
        f"business {business_id}: cancel from a phone refused, moves anytime, edits from "
        "Google/Outlook: rewrite\n")
    assert cli.ok("business", "phone-writes", str(business_id), "--allow-cancel",
                  "--moves-within-hours", "--edits-from-calendars", "apply").stdout == (
        f"business {business_id}: cancel from a phone allowed, moves within opening hours, "
        "edits from Google/Outlook: apply\n")
    wrong = cli("business", "phone-writes", str(business_id), "--edits-from-calendars", "x")
    assert wrong.exit_code == 2 and "'rewrite', 'apply'" in wrong.stderr
    assert "cancel from a phone allowed" in cli.ok("business", "phone-writes",
                                                   str(business_id)).stdout


# --------------------------------------------------------------------------- demo


def test_demo_loads_once(tmp_path: Path, database_url: str) -> None:
    cli = Cli(tmp_path, database_url)
    before = dt.datetime.now(dt.timezone.utc)
    text = cli.ok("demo").stdout
    after = dt.datetime.now(dt.timezone.utc)
    assert "Loading the demo business (first run)" in text
    assert text.endswith("Demo business loaded.\n")
    assert cli.ok("demo").stdout == "The demo business exists already.\n"

    db = cli.database()
    try:
        with db.read() as session:
            [business] = session.execute(select(Business)).scalars().all()
            assert business.name == DEMO_NAME and business.timezone == "Europe/Copenhagen"
            calendar_ids = session.execute(select(Calendar.id).where(
                Calendar.business_id == business.id)).scalars().all()
            assert len(calendar_ids) == 3
            assert session.execute(select(func.count()).select_from(Service).where(
                Service.business_id == business.id)).scalar_one() >= 4
            names = session.execute(select(Client.name).where(
                Client.business_id == business.id)).scalars().all()
            assert len(names) >= 20
            assert all(re.fullmatch(r"\w+ \w+", name) for name in names), names
            rows = session.execute(select(Booking.calendar_id, Booking.start_utc).where(
                Booking.business_id == business.id)).all()
    finally:
        db.dispose()

    assert 450 <= len(rows) <= 550, len(rows)
    assert {row.calendar_id for row in rows} == set(calendar_ids)
    starts = [row.start_utc for row in rows]
    assert any(start < before for start in starts), "no booking before the demo's clock"
    assert any(start > after for start in starts), "no booking after the demo's clock"
    offsets = {start.astimezone(COPENHAGEN).utcoffset() for start in starts}
    assert offsets == {dt.timedelta(hours=1), dt.timedelta(hours=2)}, (
        f"bookings from {min(starts)} to {max(starts)} do not span a DST change in "
        f"Europe/Copenhagen: offsets {offsets}")


# --------------------------------------------------------------------------- backup, restore


def test_backup_then_restore_brings_back_the_data_under_a_new_epoch(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    cli.ok("db", "upgrade")
    db = cli.database()
    business_id, calendar_id, service_id = _salon(db, now, name="Kept")
    kept_booking = _book(db, business_id, calendar_id, service_id,
                         now + dt.timedelta(days=2), now)
    old_epoch = _epoch(db)

    target = tmp_path / "backup-1"
    text = cli.ok("db", "backup", "--output", str(target)).stdout
    assert text == (f"backup written to {target} (database and key files; keep them "
                    "together)\n")
    keys_dir = cli.config().keys_dir
    assert (target / "bookingcal.sqlite3").stat().st_size > 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o700  # client data and keys: owner only
    assert sorted(p.name for p in (target / "keys").iterdir()) == \
        sorted(p.name for p in keys_dir.iterdir())
    # Without --output the backup goes under data_dir/backups.
    text = cli.ok("db", "backup").stdout
    [default] = list((cli.config().data_dir / "backups").iterdir())
    assert default.name.startswith("bookingcal-") and str(default) in text

    # Changes after the backup, and a sync token a client received for them.
    with db.write() as session:
        businesses.create_business(session, name="Lost", timezone="Europe/Oslo", now=now)
    lost_booking = _book(db, business_id, calendar_id, service_id,
                         now + dt.timedelta(days=3), now)
    with db.read() as session:
        seq_after = session.get(Calendar, calendar_id).journal_seq
    token_after_backup = journal.make_token(old_epoch, seq_after)
    assert journal.parse_token(token_after_backup, old_epoch) == seq_after

    # A refused confirmation changes nothing.
    result = cli("db", "restore", str(target), input="n\n")
    assert result.exit_code == 1 and "Aborted" in result.output, _show(result)
    assert _epoch(db) == old_epoch and _count(db, Business) == 2
    # A folder that is not a backup is refused.
    [line] = cli.fails("db", "restore", str(tmp_path / "data" / "keys"), "--yes")
    assert "is not a backup folder" in line

    # Restore with every connection of this process to the file closed (as with a stopped
    # server): this test's own engine, and the engines earlier commands left behind.
    db.dispose()
    gc.collect()
    # A backup missing a key file, or with a damaged database file, is refused before anything
    # is replaced: the live database and key files stay as they were.
    keys_before = {p.name: p.read_bytes() for p in keys_dir.iterdir()}
    for broken, damage in (("no-hash-key", lambda f: (f / "keys" / "token-hash.key").unlink()),
                           ("truncated", lambda f: (f / "bookingcal.sqlite3").write_bytes(
                               (target / "bookingcal.sqlite3").read_bytes()[:5000]))):
        folder = tmp_path / broken
        shutil.copytree(target, folder)
        damage(folder)
        [line] = cli.fails("db", "restore", str(folder), "--yes")
        assert "nothing was restored" in line, line
        assert _epoch(db) == old_epoch and _count(db, Business) == 2
        assert {p.name: p.read_bytes() for p in keys_dir.iterdir()} == keys_before
        assert not list(cli.config().data_dir.glob("*.restoring"))
        db.dispose()
        gc.collect()
    text = cli.ok("db", "restore", str(target), "--yes").stdout
    assert text == "restored; a new database epoch makes every client synchronise again\n"
    # The restored key files are secret: readable by their owner only.
    assert {stat.S_IMODE(p.stat().st_mode) for p in keys_dir.iterdir()} == {0o600}

    db = cli.database()
    try:
        with db.read() as session:
            names = session.execute(select(Business.name).order_by(Business.id)).scalars().all()
            booking_ids = session.execute(select(Booking.id)).scalars().all()
            new_epoch = journal.epoch(session)
        assert names == ["Kept"]
        assert booking_ids == [kept_booking] and lost_booking not in booking_ids
        assert new_epoch != old_epoch
        with pytest.raises(GoneError):
            journal.parse_token(token_after_backup, new_epoch)
        assert journal.parse_token(journal.make_token(new_epoch, 2), new_epoch) == 2
        assert cli.ok("business", "list").stdout == f"{business_id}\tKept\tEurope/Copenhagen\n"
        # The restored database takes writes.
        _book(db, business_id, calendar_id, service_id, now + dt.timedelta(days=4), now)
    finally:
        db.dispose()


def test_backup_and_restore_on_postgresql(tmp_path: Path, pg_url: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """pg_dump/pg_restore through the CLI (the whole drill, with servers running, is in
    tests/ops/test_restore_drill.py): the folder holds the dump and the key files; a backup of
    the other engine and a missing pg_dump are refused with what to do, leaving nothing
    behind."""
    cli = Cli(tmp_path, pg_url)
    cli.ok("db", "upgrade")
    target = tmp_path / "out"
    text = cli.ok("db", "backup", "--output", str(target)).stdout
    assert text == f"backup written to {target} (database and key files; keep them together)\n"
    assert sorted(p.name for p in target.iterdir()) == ["bookingcal.dump", "keys"]
    assert (target / "bookingcal.dump").read_bytes().startswith(b"PGDMP")
    sqlite_like = tmp_path / "sqlite-backup"
    (sqlite_like / "keys").mkdir(parents=True)
    (sqlite_like / "bookingcal.sqlite3").write_bytes(b"")
    [line] = cli.fails("db", "restore", str(sqlite_like), "--yes")
    assert "holds a SQLite backup" in line and "PostgreSQL" in line
    [line] = cli.fails("db", "restore", str(tmp_path / "data" / "keys"), "--yes")
    assert "is not a backup folder: it needs bookingcal.dump and keys/" in line
    monkeypatch.setenv("BOOKINGCAL_PG_BIN", str(tmp_path / "nowhere"))
    [line] = cli.fails("db", "backup", "--output", str(tmp_path / "second"))
    assert "not an executable pg_dump" in line and "BOOKINGCAL_PG_BIN" in line
    assert not (tmp_path / "second").exists()
    monkeypatch.delenv("BOOKINGCAL_PG_BIN")
    text = cli.ok("db", "restore", str(target), "--yes").stdout
    assert text == "restored; a new database epoch makes every client synchronise again\n"
    assert cli.ok("business", "list").stdout == ""


def test_new_epoch(tmp_path: Path, database_url: str) -> None:
    cli = Cli(tmp_path, database_url)
    cli.ok("db", "upgrade")
    db = cli.database()
    try:
        before = _epoch(db)
        match = re.fullmatch(r"new epoch ([0-9a-f]{12})\n", cli.ok("db", "new-epoch").stdout)
        assert match
        assert _epoch(db) == match.group(1) != before
        with pytest.raises(GoneError):
            journal.parse_token(journal.make_token(before, 1), match.group(1))
    finally:
        db.dispose()


def test_prune(tmp_path: Path, database_url: str) -> None:
    cli = Cli(tmp_path, database_url)  # journal.retention_days defaults to 90
    cli.ok("db", "upgrade")
    assert cli.ok("db", "prune").stdout == "pruned 0 journal entries\n"
    db = cli.database()
    try:
        now = dt.datetime.now(dt.timezone.utc)
        old = now - dt.timedelta(days=200)
        business_id, calendar_id, service_id = _salon(db, old)  # journal seq 1 (calendar)
        _book(db, business_id, calendar_id, service_id, old + dt.timedelta(days=1), old)  # 2
        _book(db, business_id, calendar_id, service_id, now + dt.timedelta(days=1), now)  # 3
        assert _count(db, JournalEntry) == 3

        assert cli.ok("db", "prune").stdout == "pruned 2 journal entries\n"
        with db.read() as session:
            assert session.execute(select(JournalEntry.seq)).scalars().all() == [3]
            assert session.get(Calendar, calendar_id).journal_floor == 2
        assert cli.ok("db", "prune").stdout == "pruned 0 journal entries\n"
    finally:
        db.dispose()


# --------------------------------------------------------------------------- keys


def test_keys_rotate_keeps_old_ciphertexts_readable(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    cli.ok("db", "upgrade")  # first run: key files generated
    keys_dir = cli.config().keys_dir
    before = Keyring.load(keys_dir)
    assert set(before.versions) == {1}
    old = before.encrypt("Allergic to ammonia")
    assert old.startswith("v1:")

    assert cli.ok("keys", "rotate").stdout.startswith(
        f"encryption key version 2 added in {keys_dir}; restart ")
    after = Keyring.load(keys_dir)
    assert set(after.versions) == {1, 2}
    assert after.decrypt(old) == "Allergic to ammonia"
    new = after.encrypt("Sensitive scalp")
    assert new.startswith("v2:") and after.decrypt(new) == "Sensitive scalp"
    with pytest.raises(KeyFileError):
        before.decrypt(new)  # really a new key, unknown to the old ring
    assert after.hash_key == before.hash_key  # token hashes stay valid
    assert stat.S_IMODE((keys_dir / "encryption.keys").stat().st_mode) == 0o600

    assert cli.ok("keys", "rotate").stdout.startswith(
        f"encryption key version 3 added in {keys_dir}; restart ")
    assert Keyring.load(keys_dir).decrypt(old) == "Allergic to ammonia"


def test_keys_reencrypt_moves_every_secret_to_the_newest_key(tmp_path: Path,
                                                             database_url: str) -> None:
    """rotate, then reencrypt: every stored secret (link tokens, Google refresh tokens) is
    under the new version and still opens; status shows the old version unused, and with its
    line removed from the key file everything still decrypts."""
    from server.db.models import GoogleConnection, Link
    from server.domain import links
    from server.google import oauth

    cli = Cli(tmp_path, database_url)
    cli.ok("db", "upgrade")
    runtime = build_runtime(cli.config())
    now = real_now()  # the CLI runs on the real clock
    try:
        tokens = {}
        with runtime.db.write() as session:
            for number in range(3):
                business = businesses.create_business(session, name=f"Salon {number}",
                                                      timezone="Europe/Oslo", now=now).id
                link, token = links.create_link(session, runtime.keyring, business,
                                                scope="all", profile="busy", now=now)
                tokens[link.id] = token
                oauth.connect(session, runtime.keyring, business,
                              {"refresh_token": f"refresh-{number}", "scope": ""}, now)
    finally:
        runtime.db.dispose()
    assert cli.ok("keys", "status").stdout == "v1 (newest)\t6 secrets\n"
    cli.ok("keys", "rotate")
    assert cli.ok("keys", "status").stdout == "v1\t6 secrets\nv2 (newest)\t0 secrets\n"
    out = cli.ok("keys", "reencrypt").stdout
    assert out == "6 secrets re-encrypted with key version 2; secrets per key version: v2: 6\n"
    assert cli.ok("keys", "reencrypt").stdout.startswith("0 secrets re-encrypted")
    # Retire version 1: only version 2's line stays in the key file.
    keys_file = cli.config().keys_dir / "encryption.keys"
    keys_file.write_text("".join(line + "\n" for line in keys_file.read_text().splitlines()
                                 if line.startswith("2 ")), encoding="ascii")
    assert cli.ok("keys", "status").stdout == "v2 (newest)\t6 secrets\n"
    runtime = build_runtime(cli.config())
    try:
        with runtime.db.read() as session:
            for link in session.execute(select(Link)).scalars():
                assert link.token_encrypted.startswith("v2:")
                assert runtime.keyring.decrypt(link.token_encrypted) == tokens[link.id]
            refresh = sorted(runtime.keyring.decrypt(c.refresh_token_encrypted)
                             for c in session.execute(select(GoogleConnection)).scalars())
            assert refresh == ["refresh-0", "refresh-1", "refresh-2"]
    finally:
        runtime.db.dispose()


# --------------------------------------------------------------------------- unmigrated


@pytest.mark.timeout(30)
def test_serve_refuses_an_unmigrated_database(tmp_path: Path, database_url: str) -> None:
    cli = Cli(tmp_path, database_url)
    # A free port, so that a broken check would block on its own port, not on 5232.
    lines = cli.fails("serve", "--host", "127.0.0.1", "--port", str(_free_port()))
    assert lines == ["error: the database schema is not current; run `bookingcal db upgrade`"]
    db = cli.database()
    try:
        assert current_revision(db.engine) is None  # serve did not migrate on its own
    finally:
        db.dispose()

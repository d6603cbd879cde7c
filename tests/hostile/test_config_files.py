"""Hostile configuration files (issue 12, item 12): other encodings, bytes that are no text,
nesting that exhausts the TOML parser, NUL characters in paths, and folders that are files.
`config check` says each in one line and exits 1 (no traceback, never a false "OK"), and the
commands that would use the configuration (`serve`, `db upgrade`) refuse with the same line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from server.cli import main
from support import HOST_KEY

GOOD = 'data_dir = "data"\n[server]\nport = 5232\n'


def run(config: Path, *args: str) -> Result:
    env = {"BOOKINGCAL_CONFIG": None, "BOOKINGCAL_HOST_KEY": HOST_KEY,
           "BOOKINGCAL_DATABASE_URL": f"sqlite:///{config.parent}/db.sqlite3"}
    return CliRunner(env=env).invoke(main, ["--config", str(config), *args],
                                     prog_name="bookingcal")


def problems(result: Result) -> list[str]:
    """The command failed with exit status 1 and said why in "error: ..." lines on stderr."""
    shown = f"exit {result.exit_code} {result.exception!r}\n{result.output}"
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), shown
    assert "Traceback" not in result.output and result.stdout == "", shown
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), shown
    return lines


def one_line(result: Result) -> str:
    [line] = problems(result)
    return line


@pytest.mark.parametrize("encoding, said", [
    ("utf-16", "the file is UTF-16 text; save it as UTF-8"),
    ("utf-32", "the file is UTF-32 text; save it as UTF-8"),
    ("latin-1", "not UTF-8 text (byte 0xf8 at offset"),
    ("utf-16-be", "looks like UTF-16 or UTF-32 text; save it as UTF-8"),  # no byte order mark
])
def test_a_file_in_another_encoding_is_one_clear_line(tmp_path: Path, encoding: str,
                                                      said: str) -> None:
    config = tmp_path / "bookingcal.toml"
    config.write_bytes((GOOD + "# Salon Søren\n").encode(encoding))
    for command in (("config", "check"), ("db", "upgrade")):
        line = one_line(run(config, *command))
        assert line.startswith(f"error: {config}: ") and said in line, line
    assert not (tmp_path / "data").exists()


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    config = tmp_path / "bookingcal.toml"
    config.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    result = run(config, "config", "check")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("configuration OK")


@pytest.mark.parametrize("content", [
    bytes(range(256)) * 4,
    b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n",
    b"a = " + b"{b=" * 5000 + b"1" + b"}" * 5000 + b"\n",
    b'data_dir = "da\\u0000ta"\n',
    b'[keys]\ndir = "k\\u0000eys"\n',
])
def test_garbage_and_nul_are_one_clear_line(tmp_path: Path, content: bytes) -> None:
    config = tmp_path / "bookingcal.toml"
    config.write_bytes(content)
    line = one_line(run(config, "config", "check"))
    assert str(config) in line


@pytest.mark.parametrize("key, toml", [
    ("keys.dir", 'data_dir = "data"\n[keys]\ndir = "taken"\n'),
    ("keys.dir", 'data_dir = "data"\n[keys]\ndir = "taken/keys"\n'),
    ("data_dir", 'data_dir = "taken"\n'),
])
def test_a_folder_that_is_a_file_is_one_clear_line(tmp_path: Path, key: str, toml: str) -> None:
    config = tmp_path / "bookingcal.toml"
    config.write_text(toml, encoding="utf-8")
    (tmp_path / "taken").write_text("a file, not a folder\n", encoding="utf-8")
    for command in (("config", "check"), ("serve",), ("db", "upgrade")):
        line = one_line(run(config, *command))
        assert f"{key}: found " in line and "expected a folder" in line, line
        assert str(tmp_path / "taken") in line
    assert (tmp_path / "taken").read_text(encoding="utf-8") == "a file, not a folder\n"


def test_every_folder_that_is_a_file_is_reported_at_once(tmp_path: Path) -> None:
    config = tmp_path / "bookingcal.toml"
    config.write_text('data_dir = "taken/data"\n[keys]\ndir = "other/keys"\n',
                      encoding="utf-8")
    for name in ("taken", "other"):
        (tmp_path / name).write_text("a file\n", encoding="utf-8")
    found = problems(run(config, "config", "check"))
    assert [line.split(": ")[2] for line in found] == ["data_dir", "keys.dir"], found


@pytest.mark.parametrize("name", ["encryption.keys", "token-hash.key", "host.key"])
def test_a_key_file_saved_as_utf16_is_one_clear_line(tmp_path: Path, name: str) -> None:
    config = tmp_path / "bookingcal.toml"
    config.write_text(GOOD, encoding="utf-8")
    env = {"BOOKINGCAL_CONFIG": None, "BOOKINGCAL_HOST_KEY": None,
           "BOOKINGCAL_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"}
    runner = CliRunner(env=env)
    made = runner.invoke(main, ["--config", str(config), "db", "upgrade"])  # makes the keys
    assert made.exit_code == 0, made.output
    key = tmp_path / "data" / "keys" / name
    key.write_bytes(key.read_text(encoding="ascii").encode("utf-16"))
    for command in (("config", "check"), ("db", "upgrade")):
        line = one_line(runner.invoke(main, ["--config", str(config), *command]))
        assert line.startswith(f"error: {key}: "), line
        assert "is not ASCII text" in line and "restore it from the backup" in line, line

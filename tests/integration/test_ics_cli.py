"""`bookingcal ics add|list|refresh|remove` and `bookingcal bridge --once` with a calendar
link served by a real HTTP server on loopback: the URL read from standard input, never
printed; the state and the last error shown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from ics_world import IcsWorld, make_ics_world, vevent
from server.cli import main
from support import HOST_KEY


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[IcsWorld]:
    with make_ics_world(tmp_path, database_url) as made:
        yield made


def test_add_list_refresh_remove(world: IcsWorld, tmp_path: Path, database_url: str) -> None:
    runner = CliRunner(env={"BOOKINGCAL_CONFIG": None, "BOOKINGCAL_DATABASE_URL": database_url,
                            "BOOKINGCAL_HOST_KEY": HOST_KEY})

    def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
        result = runner.invoke(main, ["--config", str(tmp_path / "bookingcal.toml"), *args],
                               input=input, obj={"clock": world.runtime.clock})
        return result.exit_code, result.stdout, result.stderr

    world.server.put("/second.ics", "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", vevent("x", world.at(9), world.at(10)),
        "END:VCALENDAR"]))
    secret = world.server.url("/second.ics?token=an0ther-S3CRET")
    code, out, _ = run("ics", "add", str(world.business), str(world.anna), "-",
                       "--label", "School", input=secret + "\n")
    assert code == 0 and "127.0.0.1" in out and "S3CRET" not in out
    code, out, _ = run("ics", "add", str(world.business), str(world.anna), "-",
                       input=secret + "\n")
    assert code == 1  # the same URL twice
    code, _, err = run("ics", "add", str(world.business), str(world.anna),
                       "ftp://example.com/x.ics")
    assert code == 1 and "https://" in err
    world.server.set_mode(world.path, "error")
    code, out, _ = run("bridge", "--once")
    assert code == 0 and "from ICS 1 imported" in out and "S3CRET" not in out
    code, out, _ = run("ics", "list", str(world.business))
    lines = out.splitlines()
    assert code == 0 and "S3CRET" not in out and "s3cr3t" not in out
    assert lines[0].startswith(f"source {world.source}: calendar {world.anna} <- 127.0.0.1: "
                               "stale")
    assert "last error" in lines[1] and "500" in lines[1]
    assert "School (127.0.0.1): ok" in lines[2] and "1 events" in lines[2]
    assert run("ics", "refresh", str(world.business), str(world.source))[0] == 0
    assert run("ics", "remove", str(world.business), str(world.source))[0] == 0
    code, out, _ = run("ics", "list", str(world.business))
    assert len(out.splitlines()) == 1 and "School" in out
    code, _, err = run("ics", "remove", str(world.business), str(world.source))
    assert code == 1 and "does not exist" in err


def test_key_rotation_reencrypts_the_links(world: IcsWorld, tmp_path: Path,
                                           database_url: str) -> None:
    runner = CliRunner(env={"BOOKINGCAL_CONFIG": None, "BOOKINGCAL_DATABASE_URL": database_url,
                            "BOOKINGCAL_HOST_KEY": HOST_KEY})

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(main, ["--config", str(tmp_path / "bookingcal.toml"), *args],
                               obj={"clock": world.runtime.clock})
        return result.exit_code, result.stdout + result.stderr

    world.publish(vevent("a", world.at(10), world.at(11)))
    assert run("keys", "rotate")[0] == 0
    code, out = run("keys", "reencrypt")
    assert code == 0, out
    from sqlalchemy import select

    from server.db.models import IcsSource
    with world.runtime.db.read() as session:
        stored = session.execute(select(IcsSource.url_encrypted)).scalar_one()
    assert stored.startswith("v2:")
    code, out = run("bridge", "--once")
    assert code == 0 and "from ICS 1 imported" in out, out

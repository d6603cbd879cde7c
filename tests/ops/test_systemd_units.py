"""The systemd units in contrib/systemd/: systemd-analyze accepts them without a warning (with
the installed console script in place of /opt/bookingcal/venv/bin/bookingcal), every ExecStart
is a real `bookingcal` command, and every unit carries the same hardening."""

from __future__ import annotations

import configparser
import shlex
import subprocess
from pathlib import Path

import pytest

from processes import BOOKINGCAL

UNITS = Path(__file__).resolve().parents[2] / "contrib" / "systemd"
SHIPPED_BINARY = "/opt/bookingcal/venv/bin/bookingcal"
INSTANCE = {"bookingcal@.service": "5232", "bookingcal-bridge@.service": "2"}
HARDENING = {
    "User": "bookingcal", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
    "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
    "StateDirectory": "bookingcal", "ReadWritePaths": "/var/lib/bookingcal",
    "CapabilityBoundingSet": "", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "UMask": "0077",
}
COMMANDS = {"bookingcal.service": ["serve"], "bookingcal@.service": ["serve", "--port", "%i"],
            "bookingcal-bridge.service": ["bridge"], "bookingcal-bridge@.service": ["bridge"]}


def _service(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path, encoding="utf-8")
    return dict(parser["Service"])


def test_every_unit_is_shipped() -> None:
    assert sorted(p.name for p in UNITS.glob("*.service")) == sorted(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_unit_runs_a_real_command_with_hardening(name: str) -> None:
    service = _service(UNITS / name)
    for key, value in HARDENING.items():
        assert service.get(key) == value, (name, key, service.get(key))
    command = shlex.split(service["ExecStart"])
    assert command[0] == SHIPPED_BINARY
    assert command[1:] == COMMANDS[name]
    assert service["Environment"] == "BOOKINGCAL_CONFIG=/etc/bookingcal/bookingcal.toml"
    if command[1] == "serve":
        # Bounded memory of big CalDAV answers (server/memory.py does the same at start).
        assert "\nEnvironment=MALLOC_ARENA_MAX=2\n" in (UNITS / name).read_text(encoding="utf-8")
    # The command exists with these options: click refuses unknown commands and options.
    arguments = [INSTANCE.get(name, "") if part == "%i" else part for part in command[1:]]
    result = subprocess.run([str(BOOKINGCAL), *arguments, "--help"], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "Usage: bookingcal" in result.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_systemd_analyze_verify_accepts_the_unit(name: str, tmp_path: Path) -> None:
    text = (UNITS / name).read_text(encoding="utf-8")
    assert SHIPPED_BINARY in text
    (tmp_path / name).write_text(text.replace(SHIPPED_BINARY, str(BOOKINGCAL)),
                                 encoding="utf-8")
    target = tmp_path / name
    if name in INSTANCE:
        target = tmp_path / name.replace("@.", f"@{INSTANCE[name]}.")
        target.symlink_to(tmp_path / name)
    result = subprocess.run(["systemd-analyze", "verify", str(target)], capture_output=True,
                            text=True, timeout=60, check=False, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""  # no warning, such as an unknown key

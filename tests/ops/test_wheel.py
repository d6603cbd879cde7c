"""The package as a new user installs it: a wheel built from the project's files (the way
`pip install .` builds one, in an isolated build environment with the current setuptools),
built without a single setuptools warning, and, installed on its own, a working `bookingcal`
that migrates a database and serves the admin pages' templates and static files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests

from processes import Running, clean_environ, free_port, wait_healthy

pytestmark = pytest.mark.clockless  # packaging: no date is read or booked

ROOT = Path(__file__).resolve().parents[2]
BUILD_SECONDS = 600  # the isolated build environment installs setuptools from the index
START_SECONDS = 60


def _project_copy(target: Path) -> Path:
    """The project's tracked files as they are in the work tree (no build/, .venv, data)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _build_wheel(tmp_path: Path) -> tuple[Path, str]:
    source = _project_copy(tmp_path / "source")
    out = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
         "-v", "-w", str(out), str(source)],
        cwd=tmp_path, capture_output=True, text=True, timeout=BUILD_SECONDS)
    log = built.stdout + built.stderr
    assert built.returncode == 0, log
    [wheel] = out.glob("bookingcal-*.whl")
    return wheel, log


def _warnings(log: str) -> list[str]:
    """setuptools' warnings (a data folder taken for a package, deprecated options, the
    editable install's notes) as the build backend prints them."""
    return [line for line in log.splitlines() if "Warning" in line or "deprecated" in line]


def test_the_editable_install_of_the_first_command_prints_no_warning(tmp_path: Path) -> None:
    # scripts/venv.sh installs the project with `pip install -e` (quietly: what remains
    # printed are warnings, which a new user would see at the first command).
    source = _project_copy(tmp_path / "source")
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True,
                   timeout=120)
    installed = subprocess.run(
        # The checkout's own (current) pip, as scripts/venv.sh upgrades it, installing into
        # the new environment.
        [sys.executable, "-m", "pip", "--python", str(tmp_path / "venv" / "bin" / "python"),
         "install", "--quiet",
         "--disable-pip-version-check", "--no-deps", "-e", str(source)],
        cwd=tmp_path, capture_output=True, text=True, timeout=BUILD_SECONDS)
    log = installed.stdout + installed.stderr
    assert installed.returncode == 0, log
    assert _warnings(log) == [], log


def test_the_wheel_builds_without_warnings_and_runs_on_its_own(tmp_path: Path) -> None:
    wheel, log = _build_wheel(tmp_path)
    assert _warnings(log) == [], "\n".join(_warnings(log))

    names = set(zipfile.ZipFile(wheel).namelist())
    for tracked in ("server/admin/templates", "server/admin/static", "server/db/migrations"):
        expected = {name for name in subprocess.run(
            ["git", "ls-files", tracked], cwd=ROOT, check=True, capture_output=True,
            text=True).stdout.split() if "__pycache__" not in name}
        assert expected, tracked
        assert expected <= names, sorted(expected - names)

    # Installed alone into a folder of its own: the editable checkout must not be what runs.
    target = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
                    "--disable-pip-version-check", "--target", str(target), str(wheel)],
                   check=True, timeout=120)
    env = clean_environ(PYTHONPATH=str(target))
    origin = subprocess.run([sys.executable, "-c", "import server; print(server.__file__)"],
                            cwd=tmp_path, env=env, check=True, capture_output=True,
                            text=True).stdout.strip()
    assert Path(origin).resolve().is_relative_to(target.resolve()), origin
    script = target / "bin" / "bookingcal"
    assert script.is_file()

    folder = tmp_path / "site"
    folder.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    (folder / "bookingcal.toml").write_text(
        'data_dir = "data"\n'
        f'public_url = "{url}/"\n'
        '\n[server]\nhost = "127.0.0.1"\n'
        f'port = {port}\n', encoding="utf-8")
    command = [sys.executable, str(script), "--config", str(folder / "bookingcal.toml")]
    upgraded = subprocess.run(command + ["db", "upgrade"], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=120)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    running = Running(command + ["serve"], cwd=folder, env=env)
    try:
        wait_healthy(url, running, START_SECONDS)
        with requests.Session() as session:
            sign_in = session.get(f"{url}/admin/sign-in", timeout=10)
            assert sign_in.status_code == 200, sign_in.text
            assert "<form" in sign_in.text
            css = session.get(f"{url}/admin/static/admin.css", timeout=10)
            assert css.status_code == 200
            assert css.content == (ROOT / "server/admin/static/admin.css").read_bytes()
    finally:
        running.stop()
    assert "Traceback" not in running.output.text, running.output.text
    assert os.path.isdir(folder / "data")

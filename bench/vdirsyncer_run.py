#!/usr/bin/env python
"""vdirsyncer's CalDAV storage tests (`tests/storage/dav/test_caldav.py` of its sdist) against a
writable account, side by side with stock Radicale, in one run.

vdirsyncer picks the server its DAV tests use with DAV_SERVER=<name>, importing the fixture
mixin `tests/storage/servers/<name>/`. Its own `radicale` mixin starts a docker container; this
script copies the suite to a temporary folder and puts in its place a mixin that points at a
live server named by the environment (PEER_DAV_URL, PEER_DAV_USER, PEER_DAV_PASSWORD), used as
`radicale` for stock Radicale (so the suite's own Radicale skips and xfails apply) and as
`bookingcal` for ours. Every test makes its own collection (extended MKCOL in the account's
home: a personal calendar of the employee on ours) and deletes it afterwards.

vdirsyncer and its test dependencies are no dependency of bookingcal: unless `--python` names
an interpreter that has them, the script makes a throwaway venv in a temporary folder and pip
installs vdirsyncer==0.21.0, pytest, pytest-asyncio, aioresponses and hypothesis into it (pip
reaches the package index); unless `--suite` names an unpacked sdist, it downloads the sdist
there too (pip download --no-binary :all:).

Our server: this process (SQLite in a temporary folder, the tests' injected clock), a business
with one employee calendar and a writable link to it. Radicale: started as
tests/caldav_servers.py starts it. The table gives each test's outcome per server, the totals,
and every test ours fails where Radicale passes.

Usage: .venv/bin/python bench/vdirsyncer_run.py [--suite DIR] [--python PATH]
                                                [--tests tests/storage/dav/test_caldav.py]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
for _folder in (str(REPO), str(TESTS)):
    if _folder not in sys.path:
        sys.path.insert(0, _folder)

VERSION = "0.21.0"
TEST_PACKAGES = ("pytest", "pytest-asyncio", "aioresponses", "hypothesis")
MIXIN = '''"""A live server named by PEER_DAV_URL, PEER_DAV_USER and PEER_DAV_PASSWORD
(bookingcal's bench/vdirsyncer_run.py)."""

from __future__ import annotations

import os

import pytest


class ServerMixin:
    @pytest.fixture
    def get_storage_args(self, request, tmpdir, slow_create_collection, aio_connector):
        async def inner(collection="test"):
            args = {"url": os.environ["PEER_DAV_URL"],
                    "username": os.environ["PEER_DAV_USER"],
                    "password": os.environ["PEER_DAV_PASSWORD"],
                    "connector": aio_connector}
            if collection is not None:
                args = await slow_create_collection(self.storage_class, args, collection)
            return args

        return inner
'''


def prepare(work: Path, suite: Path | None, python: Path | None) -> tuple[Path, Path]:
    """(unpacked sdist, interpreter with vdirsyncer and its test dependencies)."""
    if python is None:
        venv = work / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = venv / "bin" / "python"
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"vdirsyncer=={VERSION}",
                        *TEST_PACKAGES], check=True, timeout=900)
    if suite is None:
        subprocess.run([str(python), "-m", "pip", "download", "-q", "--no-binary", ":all:",
                        "--no-deps", f"vdirsyncer=={VERSION}", "-d", str(work)],
                       check=True, timeout=600)
        archive = next(work.glob("vdirsyncer-*.tar.gz"))
        shutil.unpack_archive(archive, work)
        suite = work / f"vdirsyncer-{VERSION}"
    return suite, python


def run_suite(suite: Path, python: Path, tests: str, name: str, url: str, user: str,
              password: str) -> tuple[dict[str, str], str]:
    """test id -> passed / FAIL / error / skip / xfail, and the output's tail."""
    with tempfile.TemporaryDirectory(prefix="vdirsyncer-suite-") as folder:
        copy = Path(folder)
        shutil.copytree(suite / "tests", copy / "tests")
        mixin = copy / "tests" / "storage" / "servers" / name
        mixin.mkdir(exist_ok=True)
        (mixin / "__init__.py").write_text(MIXIN, encoding="utf-8")
        report = copy / "report.xml"
        env = {**os.environ, "DAV_SERVER": name, "PEER_DAV_URL": url, "PEER_DAV_USER": user,
               "PEER_DAV_PASSWORD": password, "DETERMINISTIC_TESTS": "true"}
        env.pop("PYTHONPATH", None)
        answer = subprocess.run(
            [str(python), "-m", "pytest", tests, "-p", "no:cacheprovider", "-q",
             "-o", "addopts=", "-o", "asyncio_default_fixture_loop_scope=function",
             f"--junitxml={report}"],
            cwd=copy, env=env, capture_output=True, text=True, timeout=1800)
        outcomes: dict[str, str] = {}
        if report.exists():
            for case in ET.parse(report).getroot().iter("testcase"):
                outcome = "passed"
                for child in case:
                    if child.tag == "failure":
                        outcome = "FAIL"
                    elif child.tag == "error":
                        outcome = "error"
                    elif child.tag == "skipped":
                        outcome = "xfail" if child.get("type") == "pytest.xfail" else "skip"
                outcomes[case.get("name", "?")] = outcome
    return outcomes, answer.stdout[-3000:] + answer.stderr[-1500:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", type=Path, help="an unpacked vdirsyncer sdist "
                        f"(default: vdirsyncer=={VERSION}'s, downloaded)")
    parser.add_argument("--python", type=Path, help="an interpreter with vdirsyncer and "
                        "pytest, pytest-asyncio, aioresponses, hypothesis (default: a "
                        "throwaway venv)")
    parser.add_argument("--tests", default="tests/storage/dav/test_caldav.py",
                        help="what of the suite to run (pytest's argument)")
    args = parser.parse_args()

    from caldav_servers import radicale
    from support import Api, make_link, make_runtime, make_salon, start_server

    with tempfile.TemporaryDirectory(prefix="bookingcal-vdirsyncer-") as data:
        folder = Path(data)
        suite, python = prepare(folder, args.suite, args.python)
        if not (suite / "tests" / "storage" / "dav").is_dir():
            print(f"{suite} holds no tests/storage/dav: give an unpacked vdirsyncer sdist",
                  file=sys.stderr)
            return 2
        with radicale(folder / "radicale") as stock:
            theirs, their_tail = run_suite(suite, python, args.tests, "radicale", stock.url,
                                           stock.user, stock.password)
        live = start_server(make_runtime(folder, f"sqlite:///{data}/bench.sqlite3"))
        try:
            api = Api(live.url)
            salon = make_salon(api)
            link = make_link(api, salon.business, scope="calendar",
                             calendar_ids=[salon.calendar], writable=True, label="vdirsyncer")
            account = link["caldav"]
            ours, our_tail = run_suite(suite, python, args.tests, "bookingcal",
                                       account["server"], account["username"],
                                       account["password"])
            api.session.close()
        finally:
            live.stop()
    for label, found, tail in (("Radicale", theirs, their_tail), ("ours", ours, our_tail)):
        if not found:
            print(f"the suite produced no results on {label}; its output ends with:\n{tail}")
            return 1
    names = sorted(set(theirs) | set(ours))
    width = max(len(name) for name in names) + 2
    print(f"vdirsyncer {VERSION} {args.tests}, stock Radicale and a writable account, "
          "one run:\n")
    print(f"{'test':<{width}}{'Radicale':>10}{'ours':>10}")
    for name in names:
        print(f"{name:<{width}}{theirs.get(name, '-'):>10}{ours.get(name, '-'):>10}")
    for outcome in ("passed", "FAIL", "error", "skip", "xfail"):
        print(f"{'total ' + outcome:<{width}}"
              f"{sum(1 for o in theirs.values() if o == outcome):>10}"
              f"{sum(1 for o in ours.values() if o == outcome):>10}")
    worse = [name for name in names
             if theirs.get(name) == "passed" and ours.get(name) != "passed"]
    print(f"\nours fails where Radicale passes ({len(worse)}):")
    for name in worse:
        print(f"  ! {name}: {ours.get(name, 'not run')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""python-caldav's functional suite (`tests/test_caldav.py`) against a writable account, side by
side with stock Radicale (the suite's own embedded server), in one run.

The suite is not part of the caldav wheel this project installs, and the project pins no copy
of it: give a folder holding python-caldav's `caldav/` package and `tests/` folder of one
version (an unpacked sdist that ships its tests, or a git checkout). Its `test_caldav.py`
imports `proxy` (proxy.py, for its proxy tests only); give a folder holding it with
`--extra-path` if the venv lacks it.

What runs: our server in this process (SQLite in a temporary folder, the tests' injected clock),
a business with one employee calendar and a writable link to it; the suite copied to a
temporary folder with a caldav_test_servers.yaml naming two servers: stock Radicale (embedded,
the suite's own) and ours (external, the writable account, with the compatibility hints of a
server whose calendars hold events and tasks, no journals; its calendars are made and removed with MKCALENDAR and DELETE,
as personal calendars of the employee; one UID lives in one of the employee's calendars only,
since the employee's other links show them all in one calendar). pytest runs
the suite's per-server classes (`-k TestForServer`) in a subprocess; the table prints passed,
failed and skipped per server and names every failure.

Usage: .venv/bin/python bench/caldav_peer_suite.py --suite /path/to/caldav-source
                                                   [--extra-path /path/with/proxy]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
for _folder in (str(REPO), str(TESTS)):
    if _folder not in sys.path:
        sys.path.insert(0, _folder)

OURS = "bookingcal-writable"
HINTS = """    features:
      test-calendar: {cleanup-regime: wipe-calendar}
      save-load.journal: {support: unsupported}
      scheduling: {support: unsupported}
      principal-search: {support: unsupported}
      save.duplicate-uid.cross-calendar: {support: unsupported}
"""


def configuration(server: str, username: str, password: str) -> str:
    return ("test-servers:\n"
            "  radicale:\n    type: embedded\n    enabled: true\n"
            "    host: 127.0.0.1\n    port: 5232\n    username: user1\n    password: \"\"\n"
            f"  {OURS}:\n    type: external\n    enabled: true\n    url: {server}\n"
            f"    username: {username}\n    password: {password}\n" + HINTS)


def run_suite(suite: Path, extra: list[str], server: str, username: str, password: str,
              keyword: str = "") -> tuple[dict[str, Counter[str]], dict[str, list[str]], str]:
    with tempfile.TemporaryDirectory(prefix="caldav-suite-") as folder:
        copy = Path(folder)
        shutil.copytree(suite / "caldav", copy / "caldav")
        shutil.copytree(suite / "tests", copy / "tests")
        (copy / "tests" / "caldav_test_servers.yaml").write_text(
            configuration(server, username, password), encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(copy), *extra])}
        report = copy / "report.xml"
        answer = subprocess.run(
            [sys.executable, "-m", "pytest", "tests/test_caldav.py", "-k", f"TestForServer and ({keyword})" if keyword else "TestForServer",
             "-p", "no:cacheprovider", "-q", "--timeout", "600", f"--junitxml={report}"],
            cwd=copy, env=env, capture_output=True, text=True, timeout=3600)
        counts: dict[str, Counter[str]] = {}
        failures: dict[str, list[str]] = {}
        if report.exists():
            for case in ET.parse(report).getroot().iter("testcase"):
                server_name = case.get("classname", "").rpartition("TestForServer")[2]
                if not server_name:
                    continue
                outcome = next((child.tag for child in case
                                if child.tag in ("failure", "error", "skipped")), "passed")
                counts.setdefault(server_name, Counter())[outcome] += 1
                if outcome in ("failure", "error"):
                    failed = next(child for child in case if child.tag == outcome)
                    reason = [" ".join((failed.get("message") or "").split())]
                    failures.setdefault(server_name, []).append(
                        case.get("name", "?") + (f" ({reason[0][:600]})" if reason else ""))
    return counts, failures, answer.stdout[-3000:] + answer.stderr[-2000:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", type=Path, required=True,
                        help="folder holding python-caldav's caldav/ and tests/")
    parser.add_argument("--extra-path", action="append", default=[],
                        help="folder to add to the suite's PYTHONPATH (e.g. holding proxy.py)")
    parser.add_argument("--keyword", default="",
                        help="run only the suite's tests matching this pytest -k expression")
    args = parser.parse_args()
    if not (args.suite / "tests" / "test_caldav.py").exists():
        print(f"{args.suite} holds no tests/test_caldav.py: the caldav wheel and some sdists "
              "ship without the suite; give an unpacked source that has it", file=sys.stderr)
        return 2

    from support import Api, make_link, make_runtime, make_salon, start_server

    with tempfile.TemporaryDirectory(prefix="bookingcal-suite-") as data:
        live = start_server(make_runtime(Path(data), f"sqlite:///{data}/bench.sqlite3"))
        try:
            api = Api(live.url)
            salon = make_salon(api)
            link = make_link(api, salon.business, scope="calendar",
                             calendar_ids=[salon.calendar], writable=True, label="suite")
            account = link["caldav"]
            counts, failures, tail = run_suite(args.suite, args.extra_path, account["server"],
                                               account["username"], account["password"],
                                               args.keyword)
            api.session.close()
        finally:
            live.stop()
    if not counts:
        print("the suite produced no per-server results; its output ends with:\n" + tail)
        return 1
    print("python-caldav functional suite (tests/test_caldav.py, per-server classes), "
          "one run:\n")
    print(f"{'server':<28}{'passed':>8}{'failed':>8}{'errors':>8}{'skipped':>9}")
    for name in sorted(counts, key=lambda n: (n != "Radicale", n)):
        found = counts[name]
        shown = "stock Radicale (baseline)" if name == "Radicale" else name
        print(f"{shown:<28}{found['passed']:>8}{found['failure']:>8}{found['error']:>8}"
              f"{found['skipped']:>9}")
    for name, tests in sorted(failures.items()):
        print(f"\nfailed on {name}:\n  " + "\n  ".join(tests))
    return 0


if __name__ == "__main__":
    sys.exit(main())

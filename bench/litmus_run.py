#!/usr/bin/env python
"""litmus's `basic` and `props` suites (Debian package litmus 0.13) against a writable account,
side by side with stock Radicale, in one run.

litmus is a generic WebDAV suite: its `begin` step makes a plain collection `litmus/` below the
URL it is given (MKCOL) and every later step works inside it (PUT of text files, MKCOL, DELETE,
dead properties with PROPPATCH). A suite stops at a failed `begin`. The targets:

- `cal`: the calendar's URL, as clients use it (Radicale started as tests/caldav_servers.py
  starts it, owner_only rights; our writable account's calendar);
- `home`: the account's home (Radicale owner_only; ours);
- `home, W`: Radicale whose rights file grants the account "W" below its home, the one stock
  setup in which litmus gets past `begin` (Radicale makes plain collections for it);
- `cal-in`: the account's home through a loopback proxy (tests/caldav_servers.proxy) that
  sends litmus's bodiless `MKCOL litmus/` on as MKCALENDAR, on both servers (Radicale
  owner_only; ours makes a personal calendar): every later step then runs inside a calendar
  collection, which is where a phone's writes land. Nothing else is altered.

Our server: this process (SQLite in a temporary folder, the tests' injected clock), a business
with one employee calendar and a writable link to it. Radicale: a subprocess on a free loopback
port. Each suite runs in its own temporary folder (litmus writes debug.log and child.log there).
The table gives pass / FAIL / skip / warn per test and target ("-": not run, the suite stopped
before it), the totals, and then every test ours fails where Radicale passes at the same kind
of URL, with litmus's reason.

Usage: .venv/bin/python bench/litmus_run.py [--litmus /usr/libexec/litmus]
                                            [--htdocs /usr/share/litmus/htdocs]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
for _folder in (str(REPO), str(TESTS)):
    if _folder not in sys.path:
        sys.path.insert(0, _folder)

from caldav_servers import Quirks, Server, proxy  # noqa: E402

SUITES = ("basic", "props")
# The account may make plain collections anywhere below its home (litmus's `begin`).
OPEN_RIGHTS = ("[owner]\nuser: .+\ncollection: {user}(/.*)?\npermissions: RrWw\n"
               "[root]\nuser: .+\ncollection:\npermissions: R\n")
LINE = re.compile(r"^\s*(\d+)\.\s+(\w+)\.+\s*(pass|FAIL|SKIPPED|WARNING)?(.*)$")


@dataclass
class Target:
    label: str
    kind: str  # "cal", "home" or "cal-in": which targets compare
    ours: bool
    url: str
    user: str
    password: str
    results: dict[tuple[str, int, str], tuple[str, str]] = field(default_factory=dict)


def parse(suite: str, output: str) -> dict[tuple[str, int, str], tuple[str, str]]:
    """(suite, number, test) -> (outcome, litmus's words) from a suite's output."""
    found: dict[tuple[str, int, str], tuple[str, str]] = {}
    for line in re.split(r"[\r\n]+", output):
        match = LINE.match(line)
        if not match or not match.group(3):
            continue
        number, name, word, rest = match.groups()
        outcome = {"pass": "pass", "FAIL": "FAIL", "SKIPPED": "skip"}.get(word, "warn")
        if word == "pass" and "warning" in rest:
            outcome = "warn"
        found[(suite, int(number), name)] = (outcome, rest.strip().strip("()"))
    return found


def run_litmus(program: Path, htdocs: Path, target: Target) -> None:
    for suite in SUITES:
        with tempfile.TemporaryDirectory(prefix="litmus-") as folder:
            answer = subprocess.run(
                [str(program / suite), "--htdocs", str(htdocs), target.url, target.user,
                 target.password], cwd=folder, capture_output=True, timeout=600)
        text = (answer.stdout + answer.stderr).decode("utf-8", "replace")
        results = parse(suite, text)
        if not results:
            raise SystemExit(f"litmus {suite} printed no results for {target.label}:\n{text}")
        target.results.update(results)


def table(targets: list[Target]) -> str:
    rows = sorted({key for target in targets for key in target.results})
    width = max(len(f"{suite} {number:>2}. {name}") for suite, number, name in rows) + 2
    lines = [f"{'test':<{width}}" + "".join(f"{t.label:>18}" for t in targets)]
    for key in rows:
        suite, number, name = key
        lines.append(f"{f'{suite} {number:>2}. {name}':<{width}}" + "".join(
            f"{t.results.get(key, ('-', ''))[0]:>18}" for t in targets))
    for outcome in ("pass", "FAIL", "skip", "warn"):
        lines.append(f"{'total ' + outcome:<{width}}" + "".join(
            f"{sum(1 for r in t.results.values() if r[0] == outcome):>18}" for t in targets))
    lines.append(f"{'not run':<{width}}" + "".join(
        f"{sum(1 for key in rows if key not in t.results):>18}" for t in targets))
    return "\n".join(lines)


def regressions(targets: list[Target]) -> list[str]:
    """Every test ours fails (or never reaches) where Radicale passes at the same kind of URL."""
    found = []
    for ours in (t for t in targets if t.ours):
        for stock in (t for t in targets if not t.ours and t.kind == ours.kind):
            for key, (outcome, _words) in sorted(stock.results.items()):
                if outcome not in ("pass", "warn"):
                    continue
                mine, why = ours.results.get(key, ("-", "not run: the suite stopped before it"))
                if mine not in ("pass", "warn"):
                    suite, number, name = key
                    found.append(f"{suite} {number}. {name}: ours ({ours.label}) {mine} where "
                                 f"Radicale ({stock.label}) passes: {why}")
    return found


def in_calendar(label: str, ours: bool, server: Server, home_path: str,
                args: argparse.Namespace) -> Target:
    """litmus at the account's home through a proxy that makes its collection a calendar."""
    quirks = Quirks(mkcol_as_mkcalendar="/litmus")
    with proxy(server, quirks) as front:
        target = Target(label, "cal-in", ours, front.url.rstrip("/") + home_path,
                        server.user, server.password)
        run_litmus(args.litmus, args.htdocs, target)
    if not quirks.mkcols_rewritten:
        raise SystemExit(f"{label}: litmus sent no MKCOL of its collection through the proxy")
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--litmus", type=Path, default=Path("/usr/libexec/litmus"),
                        help="folder holding litmus's test programs (dpkg -L litmus)")
    parser.add_argument("--htdocs", type=Path, default=Path("/usr/share/litmus/htdocs"))
    args = parser.parse_args()
    if not all((args.litmus / suite).exists() for suite in SUITES):
        print(f"no litmus programs in {args.litmus}: apt-get install litmus "
              "(scripts/system-packages.sh installs it)", file=sys.stderr)
        return 2

    from caldav.davclient import DAVClient
    from caldav_servers import radicale
    from support import Api, make_link, make_runtime, make_salon, start_server

    with tempfile.TemporaryDirectory(prefix="bookingcal-litmus-") as data:
        folder = Path(data)
        targets: list[Target] = []
        with radicale(folder / "radicale") as stock:
            home = stock.url + stock.user.replace("@", "%40") + "/"
            targets += [Target("Radicale cal", "cal", False, stock.calendar_url, stock.user,
                               stock.password),
                        Target("Radicale home", "home", False, home, stock.user,
                               stock.password)]
            for target in targets:
                run_litmus(args.litmus, args.htdocs, target)
        with radicale(folder / "radicale-open", OPEN_RIGHTS) as stock:
            home = stock.url + stock.user.replace("@", "%40") + "/"
            opened = Target("Radicale home,W", "home", False, home, stock.user, stock.password)
            run_litmus(args.litmus, args.htdocs, opened)
            targets.append(opened)
        live = start_server(make_runtime(folder, f"sqlite:///{data}/bench.sqlite3"))
        try:
            api = Api(live.url)
            salon = make_salon(api)
            link = make_link(api, salon.business, scope="calendar",
                             calendar_ids=[salon.calendar], writable=True, label="litmus")
            account = link["caldav"]
            client = DAVClient(url=account["server"], username=account["username"],
                               password=account["password"], enable_rfc6764=False)
            calendar_url = str(client.principal().calendars()[0].url)
            ours = [Target("ours cal", "cal", True, calendar_url, account["username"],
                           account["password"]),
                    Target("ours home", "home", True,
                           account["server"] + account["username"] + "/",
                           account["username"], account["password"])]
            for target in ours:
                run_litmus(args.litmus, args.htdocs, target)
            targets += ours
            root = Server("bookingcal", live.url.rstrip("/") + "/", account["username"],
                          account["password"], calendar_url)
            targets.append(in_calendar("ours cal-in", True, root,
                                       urlsplit(ours[1].url).path, args))
            api.session.close()
        finally:
            live.stop()
        with radicale(folder / "radicale-again") as stock:
            targets.append(in_calendar("Radicale cal-in", False, stock,
                                       "/" + stock.user.replace("@", "%40") + "/", args))
    order = ["Radicale cal", "ours cal", "Radicale home", "Radicale home,W", "ours home",
             "Radicale cal-in", "ours cal-in"]
    targets.sort(key=lambda t: order.index(t.label))
    print("litmus 0.13 `basic` and `props` against stock Radicale and a writable account, "
          "one run\n")
    print(table(targets))
    found = regressions(targets)
    print(f"\nours fails where Radicale passes ({len(found)}):")
    for line in found:
        print("  ! " + line)
    for ours in (t for t in targets if t.ours):
        failed = [(key, words) for key, (outcome, words) in sorted(ours.results.items())
                  if outcome == "FAIL"]
        print(f"\nours ({ours.label}) failed, litmus's words:")
        for (suite, number, name), words in failed:
            print(f"  {suite} {number}. {name}: {words}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

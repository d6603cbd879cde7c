"""`bookingcal admin reset-password`: a forgotten admin password set again by the host, every
session of the account signed out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from server.admin import sessions
from server.admin.accounts import check_password
from server.cli import main
from server.clock import FixedClock
from server.db.models import AdminSession
from support import HOST_KEY, NOW, make_runtime


def test_reset_password_sets_a_new_one_and_signs_the_account_out(tmp_path: Path) -> None:
    (tmp_path / "bookingcal.toml").write_text('data_dir = "data"\n', encoding="utf-8")
    url = f"sqlite:///{tmp_path}/data/bookingcal.sqlite3"
    runner = CliRunner(env={"BOOKINGCAL_CONFIG": None, "BOOKINGCAL_DATABASE_URL": url,
                            "BOOKINGCAL_HOST_KEY": HOST_KEY})
    config = ["--config", str(tmp_path / "bookingcal.toml")]

    def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
        # On the same clock as the runtime below (a FixedClock at NOW).
        result = runner.invoke(main, [*config, *args], input=input,
                               obj={"clock": FixedClock(NOW)})
        return result.exit_code, result.stdout, result.stderr

    (tmp_path / "data").mkdir()
    assert run("db", "upgrade")[0] == 0
    assert run("business", "create", "Salon", "--timezone", "Europe/Oslo")[0] == 0
    assert run("admin", "create-user", "--business", "1", "--password-stdin",
               "owner@salon.example", input="the first password\n")[0] == 0
    (tmp_path / "rt").mkdir()
    runtime = make_runtime(tmp_path / "rt", url)
    with runtime.db.write() as session:
        user = check_password(session, "owner@salon.example", "the first password", NOW)
        assert user is not None
        sessions.start(session, runtime.keyring, user, NOW, dt.timedelta(hours=1))

    code, out, _ = run("admin", "reset-password", "--business", "1", "owner@salon.example",
                       input="the second password\nthe second password\n")
    assert code == 0 and "new password set for owner@salon.example" in out, out

    with runtime.db.write() as session:
        assert check_password(session, "owner@salon.example", "the first password", NOW) is None
        assert check_password(session, "owner@salon.example", "the second password",
                              NOW) is not None
        assert session.execute(select(func.count()).select_from(AdminSession)).scalar() == 0
    for args, stdin, message in (
            (("--business", "1", "nobody@salon.example"), "a long password\n", "nobody"),
            (("--business", "2", "owner@salon.example"), "a long password\n", "business 2"),
            (("--business", "1", "owner@salon.example"), "short\n", "at least 10")):
        code, out, err = run("admin", "reset-password", "--password-stdin", *args, input=stdin)
        assert code == 1 and message in err and "Traceback" not in err, (args, err)
    runtime.db.dispose()

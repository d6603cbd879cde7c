"""`bookingcal caldav ...` against a real Radicale: connecting finds the calendars (or says the
password was refused and what to do), the password is stored encrypted, a calendar is chosen per
employee calendar, a sync pass reads and writes, the status tells how each calendar is read,
and disconnecting forgets the account, deleting our copies there unless they are kept."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select

from caldav_servers import radicale
from server.db.models import CalDAVConnection
from server.domain import bookings, businesses, calendars, services
from server.runtime import build_runtime
from test_cli import Cli

TOML = 'data_dir = "data"\n[caldav]\nallow_http = true\nallow_private_hosts = true\n'


def test_connect_choose_sync_status_disconnect(tmp_path: Path, database_url: str) -> None:
    cli = Cli(tmp_path, database_url, toml=TOML)
    cli.ok("db", "upgrade")
    runtime = build_runtime(cli.config())
    with runtime.db.write() as session:
        now = runtime.clock.now()
        business = businesses.create_business(session, name="Salon", timezone="UTC",
                                              now=now).id
        anna = calendars.create_calendar(session, business, name="Anna", now=now).id
    wrong, right = tmp_path / "wrong", tmp_path / "right"
    wrong.write_text("wrong\n", encoding="utf-8")
    with radicale(tmp_path / "radicale") as server:
        right.write_text(server.password, encoding="utf-8")
        [line] = cli.fails("caldav", "connect", str(business), "--server", server.url,
                           "--user", server.user, "--password-file", str(wrong))
        assert "refused the user name or password" in line and "app-specific" in line
        [line] = cli.fails("caldav", "connect", str(business), "--server",
                           server.url.replace("http://", "https://"), "--user", server.user,
                           "--password-file", str(right))
        assert "no CalDAV calendars were found" in line
        out = cli.ok("caldav", "connect", str(business), "--server", server.url, "--user",
                     server.user, input=server.password + "\n").stdout
        assert server.calendar_url in out and server.password not in out
        with runtime.db.read() as session:
            [row] = session.execute(select(CalDAVConnection)).scalars().all()
            assert server.password not in row.password_encrypted
            account = row.id
        out = cli.ok("caldav", "settings", str(business), str(account), "--calendar",
                     f"{anna}:{server.calendar_url}").stdout
        assert "not read yet" in out
        [line] = cli.fails("caldav", "settings", str(business), str(account), "--calendar",
                           f"{anna}:https://elsewhere.example/cal/")
        assert "one of the account's calendars" in line
        assert "read 0 events" in cli.ok("caldav", "sync", str(business), str(account)).stdout
        out = cli.ok("caldav", "status", str(business)).stdout
        assert "sync-collection" in out and "connected" in out
        cli.ok("caldav", "disconnect", str(business), str(account))
        assert "no CalDAV account" in cli.ok("caldav", "status", str(business)).stdout
    runtime.db.dispose()


def test_disconnect_deletes_our_copies_unless_kept(tmp_path: Path, database_url: str) -> None:
    cli = Cli(tmp_path, database_url, toml=TOML)
    cli.ok("db", "upgrade")
    runtime = build_runtime(cli.config())
    with runtime.db.write() as session:
        now = runtime.clock.now()
        business = businesses.create_business(session, name="Salon", timezone="UTC",
                                              now=now).id
        anna = calendars.create_calendar(session, business, name="Anna", now=now).id
        service = services.create_service(session, business, name="Haircut",
                                          duration_minutes=45, now=now).id
        start = dt.datetime.combine(now.date() + dt.timedelta(days=7), dt.time(10))
        bookings.create_booking(session, business, calendar_id=anna, service_id=service,
                                start=start, now=now)
    with radicale(tmp_path / "radicale") as server:
        calendar = server.dav().calendar(url=server.calendar_url)

        def copies() -> int:
            return sum("X-BOOKINGCAL-ITEM" in event.data for event in calendar.events())

        for keep, deleted, kept in ((("--keep-copies",), 0, 1), ((), 1, 0)):
            for event in calendar.events():  # what a kept copy became: the user's own event
                event.delete()
            cli.ok("caldav", "connect", str(business), "--server", server.url, "--user",
                   server.user, input=server.password + "\n")
            with runtime.db.read() as session:
                [account] = session.execute(select(CalDAVConnection.id)).scalars().all()
            cli.ok("caldav", "settings", str(business), str(account), "--calendar",
                   f"{anna}:{server.calendar_url}")
            assert "wrote 1 copies" in cli.ok("caldav", "sync", str(business),
                                              str(account)).stdout
            assert copies() == 1
            out = cli.ok("caldav", "disconnect", str(business), str(account), *keep).stdout
            assert f"{deleted} copies deleted from the remote calendar, {kept} kept" in out
            assert copies() == kept
            assert "no CalDAV account" in cli.ok("caldav", "status", str(business)).stdout
    runtime.db.dispose()

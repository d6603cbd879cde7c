"""`bookingcal caldav ...`: connect an employee calendar to a CalDAV account (iCloud, Fastmail,
Nextcloud, any CalDAV server), list the account's calendars, choose them, show the status,
sync now, disconnect. The password is asked for (hidden) or read from a file or
BOOKINGCAL_CALDAV_PASSWORD, never taken as an argument (shell histories keep those)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from server.cli.common import open_runtime, user_errors
from server.errors import BookingCalError

ENV_PASSWORD = "BOOKINGCAL_CALDAV_PASSWORD"


@click.group("caldav")
def caldav() -> None:
    """Other calendars (iCloud, Fastmail, Nextcloud, CalDAV): connect, calendars, settings,
    status, sync, disconnect."""


def _password(password_file: str | None) -> str:
    if password_file:
        return Path(password_file).read_text(encoding="utf-8").strip()
    if os.environ.get(ENV_PASSWORD):
        return os.environ[ENV_PASSWORD]
    return str(click.prompt("App-specific password", hide_input=True, err=True))


def _echo_calendars(found: Any, poll_seconds: int) -> None:
    for item in found.calendars:
        notes = [] if item.writable else ["read-only: busy time only, no copies"]
        if not item.sync_collection:
            notes.append(f"the server does not support sync-collection; polling every "
                         f"{max(1, poll_seconds // 60)} minutes")
        click.echo(f"  {item.url}  {item.name!r}" + (f" ({'; '.join(notes)})" if notes else ""))


@caldav.command("connect")
@click.argument("business_id", type=int)
@click.option("--server", "server_url", required=True,
              help="The CalDAV server (https://caldav.example.com/) or only the domain "
                   "(icloud.com, fastmail.com, your Nextcloud host).")
@click.option("--user", "username", required=True, help="The account's user name (email).")
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help=f"A file holding the app-specific password (else {ENV_PASSWORD}, else "
                   "asked).")
@click.option("--label", default="", help="A name for the account (default: the user name).")
@click.option("--direction", type=click.Choice(["both", "to_caldav", "from_caldav"]),
              default="both", help="Both ways, only our bookings to it, or only its busy time.")
@click.pass_context
@user_errors
def caldav_connect(ctx: click.Context, business_id: int, server_url: str, username: str,
                   password_file: str | None, label: str, direction: str) -> None:
    """Find the account's calendars and store the account (its password encrypted).

    \b
    Example:
      bookingcal caldav connect 1 --server icloud.com --user anna@icloud.com
      bookingcal caldav settings 1 2 --calendar 3:https://p42-caldav.icloud.com/.../home/
    """
    from server.caldav import connections, discovery
    from server.domain.businesses import get_business

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.read() as session:
        get_business(session, business_id)
    password = _password(password_file)
    options = runtime.config.caldav
    found = discovery.discover(server_url, username, password, allow_http=options.allow_http,
                               allow_private=options.allow_private_hosts,
                               networks=options.allowed_networks,
                               timeout=options.timeout_seconds)
    with runtime.db.write() as session:
        row = connections.connect(session, runtime.keyring, business_id,
                                  server_url=server_url, username=username, password=password,
                                  account=found, now=runtime.clock.now(), label=label,
                                  direction=direction)
        number = row.id
    click.echo(f"connected as account {number}; its calendars:")
    _echo_calendars(found, options.poll_seconds)
    click.echo(f"choose one per employee calendar: bookingcal caldav settings {business_id} "
               f"{number} --calendar CALENDAR_ID:URL")


@caldav.command("calendars")
@click.argument("business_id", type=int)
@click.argument("account_id", type=int)
@click.pass_context
@user_errors
def caldav_calendars(ctx: click.Context, business_id: int, account_id: int) -> None:
    """List the account's calendars again (as the server has them now)."""
    from server.caldav import connections, discovery

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.read() as session:
        row = connections.get_connection(session, business_id, account_id)
        server_url, username = row.server_url, row.username
        password = runtime.keyring.decrypt(row.password_encrypted)
    options = runtime.config.caldav
    found = discovery.discover(server_url, username, password, allow_http=options.allow_http,
                               allow_private=options.allow_private_hosts,
                               networks=options.allowed_networks,
                               timeout=options.timeout_seconds)
    _echo_calendars(found, options.poll_seconds)


@caldav.command("settings")
@click.argument("business_id", type=int)
@click.argument("account_id", type=int)
@click.option("--calendar", "calendar_choices", multiple=True, metavar="ID:URL[|READ_URL]",
              help="An employee calendar taking part and the account's calendar it writes to "
                   "(and reads from, default the same); repeat for each; replaces the list.")
@click.option("--direction", type=click.Choice(["both", "to_caldav", "from_caldav"]))
@click.option("--hide-client-details/--show-client-details", default=None)
@click.option("--block-online-booking/--no-block-online-booking", default=None,
              help="Whether busy events of the account block online booking.")
@click.option("--tentative-blocks/--tentative-free", default=None)
@click.option("--all-day-blocks/--all-day-free", default=None)
@click.option("--poll-seconds", type=int, default=None,
              help="Seconds between reads of the account's calendars, within "
                   "caldav.min_poll_seconds and caldav.max_poll_seconds; 0: back to "
                   "caldav.poll_seconds.")
@click.pass_context
@user_errors
def caldav_settings(ctx: click.Context, business_id: int, account_id: int,
                    calendar_choices: tuple[str, ...], direction: str | None,
                    hide_client_details: bool | None, block_online_booking: bool | None,
                    tentative_blocks: bool | None, all_day_blocks: bool | None,
                    poll_seconds: int | None) -> None:
    """Change an account's settings; options not given stay as they are."""
    from server.caldav import connections

    choices = None
    if calendar_choices:
        choices = []
        for text in calendar_choices:
            number, _, urls = text.partition(":")
            write, _, read = urls.partition("|")
            if not number.isdigit() or not write.startswith(("https://", "http://")):
                raise BookingCalError(f"--calendar {text!r}: write CALENDAR_ID:URL, e.g. "
                                      "3:https://caldav.fastmail.com/dav/calendars/user/"
                                      "anna@fastmail.com/Default/")
            choices.append(connections.CalendarChoice(int(number), write, read or None))
    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.write() as session:
        connections.update_settings(
            session, business_id, account_id, now=runtime.clock.now(), direction=direction,
            hide_client_details=hide_client_details, block_online_booking=block_online_booking,
            calendars=choices, block_tentative=tentative_blocks, block_all_day=all_day_blocks,
            poll_seconds=poll_seconds, settings=runtime.config.caldav)
    ctx.invoke(caldav_status, business_id=business_id)


@caldav.command("status")
@click.argument("business_id", type=int)
@click.pass_context
@user_errors
def caldav_status(ctx: click.Context, business_id: int) -> None:
    """Every CalDAV account of the business: health, last error, calendars and how each is
    read."""
    from server.caldav.status import accounts

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.read() as session:
        found = accounts(session, business_id, runtime.clock.now(),
                         runtime.config.caldav)
    if not found:
        click.echo("no CalDAV account (bookingcal caldav connect BUSINESS_ID ...)")
    for item in found:
        click.echo(f"account {item.id} {item.label} ({item.username} at {item.server_url}): "
                   f"{item.status}; direction {item.direction}; {item.pending_changes} "
                   f"pending; read every {item.poll_seconds} s"
                   f"{'' if item.own_poll_seconds else ' (the default)'}; last sync "
                   f"{item.last_sync_at or 'never'}"
                   + (f"; last error {item.last_error}" if item.last_error else ""))
        for calendar in item.calendars:
            click.echo(f"  {calendar.name} (calendar {calendar.calendar_id}): writes to "
                       f"{calendar.write_calendar}, reads {calendar.read_calendar}; "
                       f"{calendar.read_mode}")
            for kind, error in (("writing", calendar.write_error),
                                ("reading", calendar.read_error)):
                if error:
                    click.echo(f"    last error {kind}: {error}")
            if calendar.failing_items:
                click.echo(f"    {calendar.failing_items} items keep failing to be written")
            for error in calendar.item_errors:
                click.echo(f"      {error}")


@caldav.command("sync")
@click.argument("business_id", type=int)
@click.argument("account_id", type=int)
@click.pass_context
@user_errors
def caldav_sync(ctx: click.Context, business_id: int, account_id: int) -> None:
    """One pass over one account now (read, then write), with the adapter's full retries."""
    from server.caldav import connections
    from server.caldav.provider import CalDAVProvider
    from server.sync.engine import Engine

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.read() as session:
        connections.get_connection(session, business_id, account_id)
    provider = CalDAVProvider(runtime)
    engine = Engine(runtime, providers=[provider], unthrottled=True, read_attempts=None,
                    write_attempts=None)
    report = engine.work_connection(provider, account_id, runtime.clock.now(), force_pull=True,
                                    business_id=business_id)
    pulled, pushed = report.pulled, report.pushed
    click.echo(f"read {pulled.imported if pulled else 0} events; wrote "
               f"{pushed.writes if pushed else 0} copies")
    if report.error:
        raise BookingCalError(f"sync stopped: {report.error}")


@caldav.command("disconnect")
@click.argument("business_id", type=int)
@click.argument("account_id", type=int)
@click.option("--keep-copies", is_flag=True,
              help="Leave our copies of bookings in the account's calendars (they stop being "
                   "updated).")
@click.pass_context
@user_errors
def caldav_disconnect(ctx: click.Context, business_id: int, account_id: int,
                      keep_copies: bool) -> None:
    """Disconnect the account: delete our copies of bookings that have not ended from its
    calendars (unless --keep-copies), then forget its password, its calendars' busy time here
    and the record of our copies. Bookings stay."""
    from server.caldav.disconnect import disconnect

    runtime = open_runtime(ctx, need_schema=True)
    report = disconnect(runtime, business_id, account_id, keep_copies=keep_copies)
    click.echo(f"account {account_id} disconnected; {report.copies_deleted} copies deleted "
               f"from the remote calendar, {report.copies_kept} kept"
               + (f"; {report.note}" if report.note else ""))

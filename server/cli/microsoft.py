"""`bookingcal microsoft ...`: Microsoft 365 / Outlook connections: connect, status, calendars,
settings, disconnect."""

from __future__ import annotations

import click

from server.cli.common import open_runtime, user_errors
from server.errors import BookingCalError


@click.group()
def microsoft() -> None:
    """Microsoft 365 / Outlook: connect, status, calendars, settings, disconnect."""


@microsoft.command("connect")
@click.argument("business_id", type=int)
@click.pass_context
@user_errors
def microsoft_connect(ctx: click.Context, business_id: int) -> None:
    """Print the Microsoft consent URL for a business; open it as the business's admin."""
    from server.microsoft.oauth import start_consent

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.write() as session:
        url = start_consent(session, runtime.keyring, runtime.config, business_id,
                            runtime.clock.now())
    click.echo(f"Open this address and allow access to your Outlook calendars:\n{url}")


@microsoft.command("status")
@click.argument("business_id", type=int)
@click.pass_context
@user_errors
def microsoft_status(ctx: click.Context, business_id: int) -> None:
    """Connection, settings, last sync, last error and pending changes per calendar."""
    from server.api.routes_microsoft import status_out

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.read() as session:
        found = status_out(session, business_id, runtime.clock.now())
    if not found.connected:
        click.echo("not connected (bookingcal microsoft connect BUSINESS_ID)")
        return
    click.echo(f"account {found.account_email or '(address not known)'}")
    click.echo(f"{found.status}; direction {found.direction}; hide client details "
               f"{'on' if found.hide_client_details else 'off'}; block online booking "
               f"{'on' if found.block_online_booking else 'off'}")
    click.echo("blocking: " + ", ".join(
        f"{name} {'blocks' if value else 'free'}" for name, value in (
            ("out-of-office", found.block_out_of_office), ("tentative", found.block_tentative),
            ("all-day", found.block_all_day))))
    click.echo(f"last sync {found.last_sync_at or 'never'}"
               + (f"; last error {found.last_error}" if found.last_error else ""))
    for item in found.calendars:
        click.echo(f"  {item.name}: writes to {item.write_calendar}, reads "
                   f"{item.read_calendar}, {item.pending_changes} pending")
        for kind, error, when in (("writing", item.write_error, item.write_error_at),
                                  ("reading", item.read_error, item.read_error_at)):
            if error:
                click.echo(f"    last error {kind} ({when}): {error}")
        if item.write_retry:
            click.echo(f"    writing {item.write_retry}")
        for failing in item.failing:
            click.echo(f"    {failing.kind} {failing.item_id} not in Outlook: {failing.error} "
                       f"({failing.failures} failed writes, {failing.retry})")


@microsoft.command("calendars")
@click.argument("business_id", type=int)
@click.pass_context
@user_errors
def microsoft_calendars(ctx: click.Context, business_id: int) -> None:
    """List the connected account's Outlook calendars with their ids (for `settings
    --calendar`)."""
    from server.microsoft.calendars import outlook_calendars

    runtime = open_runtime(ctx, need_schema=True)
    for found in outlook_calendars(runtime, business_id):
        notes = [n for n, on in (("default", found.default), ("read only", not found.can_edit))
                 if on]
        click.echo(f"{found.id}\t{found.name}" + (f" ({', '.join(notes)})" if notes else ""))


@microsoft.command("settings")
@click.argument("business_id", type=int)
@click.option("--direction", type=click.Choice(["both", "to_microsoft", "from_microsoft"]),
              help="What is mirrored: both ways, only to Outlook or only from Outlook.")
@click.option("--calendar", "calendar_choices", multiple=True, metavar="ID:WRITE[:READ]",
              help="An employee calendar taking part, the Outlook calendar id it writes to "
                   "and reads from (default the same; see `microsoft calendars`); repeat for "
                   "each; replaces the list.")
@click.option("--hide-client-details/--show-client-details", default=None,
              help="Whether the Outlook copies leave out everything about the client.")
@click.option("--block-online-booking/--no-block-online-booking", default=None,
              help="Whether busy Outlook events block online booking.")
@click.option("--out-of-office-blocks/--out-of-office-free", default=None,
              help="Whether out-of-office events block (default: they do).")
@click.option("--tentative-blocks/--tentative-free", default=None,
              help="Whether tentative events block (default: they do).")
@click.option("--all-day-blocks/--all-day-free", default=None,
              help="Whether all-day busy events block (default: they do).")
@click.pass_context
@user_errors
def microsoft_settings(ctx: click.Context, business_id: int, direction: str | None,
                       calendar_choices: tuple[str, ...], hide_client_details: bool | None,
                       block_online_booking: bool | None, out_of_office_blocks: bool | None,
                       tentative_blocks: bool | None, all_day_blocks: bool | None) -> None:
    """Change a business's Microsoft settings; options not given stay as they are."""
    from server.microsoft import connections

    choices = None
    if calendar_choices:
        choices = []
        for text in calendar_choices:
            parts = text.split(":")
            if not parts[0].isdigit() or not 2 <= len(parts) <= 3 or any(not p for p in parts):
                raise BookingCalError(f"--calendar {text!r}: write ID:WRITE[:READ] with Outlook "
                                      "calendar ids (bookingcal microsoft calendars BUSINESS_ID)")
            choices.append(connections.CalendarChoice(int(parts[0]), *parts[1:]))
    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.write() as session:
        connections.update_settings(
            session, business_id, now=runtime.clock.now(), direction=direction,
            hide_client_details=hide_client_details, block_online_booking=block_online_booking,
            calendars=choices, block_out_of_office=out_of_office_blocks,
            block_tentative=tentative_blocks, block_all_day=all_day_blocks)
    ctx.invoke(microsoft_status, business_id=business_id)


@microsoft.command("disconnect")
@click.argument("business_id", type=int)
@click.option("--keep-copies", is_flag=True,
              help="Leave the copies of bookings in Outlook (they stop being updated).")
@click.pass_context
@user_errors
def microsoft_disconnect(ctx: click.Context, business_id: int, keep_copies: bool) -> None:
    """Disconnect the Microsoft account: delete our future copies from Outlook, delete the
    change-notification subscriptions, forget the token, remove the mirrored Outlook events.
    Bookings stay."""
    from server.microsoft.disconnect import disconnect

    runtime = open_runtime(ctx, need_schema=True)
    report = disconnect(runtime, business_id, keep_copies=keep_copies)
    click.echo(f"disconnected; {report.copies_deleted} copies deleted from Outlook, "
               f"{report.copies_kept} kept; {report.subscriptions_deleted} subscriptions "
               f"deleted; the token is forgotten. {report.note}")


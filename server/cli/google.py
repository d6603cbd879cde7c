"""`bookingcal google ...`: Google Calendar connections: connect, status, settings, sync,
disconnect."""

from __future__ import annotations

import click

from server.cli.common import open_runtime, user_errors
from server.cli.sync import echo_pass
from server.errors import BookingCalError


@click.group()
def google() -> None:
    """Google Calendar: connect, status, disconnect, sync."""


@google.command("connect")
@click.argument("business_id", type=int)
@click.pass_context
@user_errors
def google_connect(ctx: click.Context, business_id: int) -> None:
    """Print the Google consent URL for a business; open it as the business's admin."""
    from server.google.oauth import start_consent

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.write() as session:
        url = start_consent(session, runtime.keyring, runtime.config, business_id,
                            runtime.clock.now())
    click.echo(f"Open this address and allow access to Google Calendar:\n{url}")


@google.command("status")
@click.argument("business_id", type=int)
@click.pass_context
@user_errors
def google_status(ctx: click.Context, business_id: int) -> None:
    """Connection, settings, last sync, last error and pending changes per calendar."""
    from server.api.routes_google import status_out

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.read() as session:
        found = status_out(session, business_id, runtime.clock.now())
    if not found.connected:
        click.echo("not connected (bookingcal google connect BUSINESS_ID)")
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
               + (f"; last error {found.last_error}" if found.last_error else "")
               + (f"; {found.copies_restored} copies changed in Google were written again"
                  if found.copies_restored else ""))
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
            click.echo(f"    {failing.kind} {failing.item_id} not in Google: {failing.error} "
                       f"({failing.failures} failed writes, {failing.retry})")


@google.command("disconnect")
@click.argument("business_id", type=int)
@click.option("--keep-copies", is_flag=True,
              help="Leave the copies of bookings in Google (they stop being updated).")
@click.pass_context
@user_errors
def google_disconnect(ctx: click.Context, business_id: int, keep_copies: bool) -> None:
    """Disconnect the Google account: delete our future copies from Google, stop push
    channels, revoke access, remove the mirrored Google events. Bookings stay."""
    from server.google.disconnect import disconnect

    runtime = open_runtime(ctx, need_schema=True)
    report = disconnect(runtime, business_id, keep_copies=keep_copies)
    click.echo(f"disconnected; {report.copies_deleted} copies deleted from Google, "
               f"{report.copies_kept} kept; {report.channels_stopped} push channels stopped; "
               "access "
               f"{'revoked' if report.revoked else 'could not be revoked at Google'}"
               + (f"; {report.note}" if report.note else ""))


@google.command("settings")
@click.argument("business_id", type=int)
@click.option("--direction", type=click.Choice(["both", "to_google", "from_google"]),
              help="What is mirrored: both ways, only to Google or only from Google.")
@click.option("--calendar", "calendar_choices", multiple=True,
              metavar="ID[:WRITE[:READ]]",
              help="An employee calendar taking part, the Google calendar it writes to "
                   "(default primary) and reads from (default the same); repeat for each; "
                   "replaces the list.")
@click.option("--hide-client-details/--show-client-details", default=None,
              help="Whether the Google copies leave out everything about the client.")
@click.option("--block-online-booking/--no-block-online-booking", default=None,
              help="Whether busy Google events block online booking.")
@click.option("--reminders/--no-reminders", default=None,
              help="Whether the Google copies keep the calendar's default reminders.")
@click.option("--out-of-office-blocks/--out-of-office-free", default=None,
              help="Whether out-of-office events block (default: they do).")
@click.option("--tentative-blocks/--tentative-free", default=None,
              help="Whether events answered 'tentative' block (default: they do).")
@click.option("--all-day-blocks/--all-day-free", default=None,
              help="Whether all-day busy events block (default: they do).")
@click.pass_context
@user_errors
def google_settings(ctx: click.Context, business_id: int, direction: str | None,
                    calendar_choices: tuple[str, ...], hide_client_details: bool | None,
                    block_online_booking: bool | None, reminders: bool | None,
                    out_of_office_blocks: bool | None, tentative_blocks: bool | None,
                    all_day_blocks: bool | None) -> None:
    """Change a business's Google settings; options not given stay as they are.

    \b
    Example:
      bookingcal google settings 1 --calendar 3:primary --out-of-office-free
    """
    from server.google import settings

    choices = None
    if calendar_choices:
        choices = []
        for text in calendar_choices:
            parts = text.split(":")
            if not parts[0].isdigit() or len(parts) > 3 or any(not p for p in parts):
                raise BookingCalError(f"--calendar {text!r}: write ID[:WRITE[:READ]], e.g. "
                                      "3:primary or 3:primary:team@group.calendar.google.com")
            choices.append(settings.CalendarChoice(int(parts[0]), *parts[1:]))
    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.write() as session:
        settings.update_settings(
            session, business_id, now=runtime.clock.now(), direction=direction,
            hide_client_details=hide_client_details, block_online_booking=block_online_booking,
            reminders=reminders, calendars=choices, block_out_of_office=out_of_office_blocks,
            block_tentative=tentative_blocks, block_all_day=all_day_blocks)
    ctx.invoke(google_status, business_id=business_id)


@google.command("sync")
@click.argument("business_id", type=int)
@click.option("--once", is_flag=True,
              help="One pass, then exit (default: passes until nothing is pending).")
@click.pass_context
@user_errors
def google_sync(ctx: click.Context, business_id: int, once: bool) -> None:
    """Sync one business with Google now, showing progress after each pass; a large first
    sync (backfill) goes google.backfill_per_minute bookings per pass.

    \b
    Example:
      bookingcal google sync 1
    """
    from itertools import count

    from server.gcal_bridge import Bridge, pending
    from server.google.settings import get_connection

    runtime = open_runtime(ctx, need_schema=True)
    # Syncing now, with someone watching: each call gets the adapter's full retries instead of
    # the daemon's backoff between passes.
    worker = Bridge(runtime, unthrottled=True, read_attempts=None, write_attempts=None)
    with runtime.db.read() as session:
        connection_id = get_connection(session, business_id).id
    before = -1
    for number in count(1):
        report = worker.work(connection_id, runtime.clock.now(), force_pull=number == 1,
                             business_id=business_id)
        if report.pushed is None and report.pulled is None and report.error is None:
            raise BookingCalError("another bridge process is working this business; "
                                  "try again in a moment")
        with runtime.db.read() as session:
            left = pending(session, get_connection(session, business_id),
                           runtime.clock.now())
        click.echo(f"pass {number}: ", nl=False)
        echo_pass(report)
        click.echo(f"  {left} changes pending")
        if report.error:
            raise BookingCalError(f"sync stopped: {report.error}")
        if report.pushed is not None and report.pushed.failed and left >= before >= 0:
            raise BookingCalError(f"sync stopped: {len(report.pushed.failed)} writes keep "
                                  f"failing ({report.pushed.failed[0]})")
        if report.pushed is not None and not report.pushed.writes and left >= before > 0:
            raise BookingCalError(f"sync stopped: {left} changes wait for Google calendars "
                                  "whose writes back off after failing (see google status)")
        if once or left == 0:
            break
        before = left


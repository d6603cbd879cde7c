"""`bookingcal ics ...`: calendar links (ICS URLs) as busy sources: add, list, remove, refresh."""

from __future__ import annotations

import sys

import click

from server.cli.common import open_runtime, user_errors


@click.group("ics")
def ics_group() -> None:
    """Calendar links: ICS URLs an employee calendar subscribes to as busy time."""


@ics_group.command("add")
@click.argument("business_id", type=int)
@click.argument("calendar_id", type=int)
@click.argument("url")
@click.option("--label", default="", help="A name shown instead of the URL's host.")
@click.option("--interval", "interval_seconds", type=int, default=None,
              help="Seconds between fetches (within ics.min/max_interval_seconds); default: "
                   "the feed's REFRESH-INTERVAL, else ics.default_interval_seconds.")
@click.option("--tentative-free", is_flag=True, help="Tentative events do not block.")
@click.option("--all-day-free", is_flag=True, help="All-day events do not block.")
@click.option("--out-of-office-free", is_flag=True, help="Out-of-office events do not block.")
@click.pass_context
@user_errors
def ics_add(ctx: click.Context, business_id: int, calendar_id: int, url: str, label: str,
            interval_seconds: int | None, tentative_free: bool, all_day_free: bool,
            out_of_office_free: bool) -> None:
    """Subscribe an employee calendar to an ICS URL; its busy events block online booking.

    The URL may carry a secret (an Outlook "publish" link does): give "-" to read it from
    standard input, so it stays out of the shell's history. It is stored encrypted; only its
    host is ever shown.

    \b
    Example:
      echo 'https://outlook.office365.com/owa/calendar/.../calendar.ics' | \\
        bookingcal ics add 1 3 -
    """
    from server.ics import sources

    if url == "-":
        url = sys.stdin.readline().strip()
    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.write() as session:
        source = sources.add(session, runtime.keyring, runtime.config.ics, business_id,
                             calendar_id, url, runtime.clock.now(), label=label,
                             interval_seconds=interval_seconds,
                             block_tentative=not tentative_free, block_all_day=not all_day_free,
                             block_out_of_office=not out_of_office_free)
        source_id, host = source.id, source.host
    click.echo(f"source {source_id}: calendar {calendar_id} subscribes to {host}; the bridge "
               "reads it at its next pass (bookingcal ics list shows how it went)")


@ics_group.command("list")
@click.argument("business_id", type=int)
@click.option("--calendar", "calendar_id", type=int, default=None,
              help="Only this employee calendar's sources.")
@click.pass_context
@user_errors
def ics_list(ctx: click.Context, business_id: int, calendar_id: int | None) -> None:
    """Each source: calendar, host, state (pending, ok, stale), last good read, last error."""
    from server.domain.businesses import get_business
    from server.ics import sources

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.read() as session:
        get_business(session, business_id)
        found = sources.statuses(session, runtime.config.ics, business_id,
                                 runtime.clock.now(), calendar_id)
    if not found:
        click.echo("no calendar links (bookingcal ics add BUSINESS_ID CALENDAR_ID URL)")
    for item in found:
        name = f"{item.label} ({item.host})" if item.label else item.host
        click.echo(f"source {item.id}: calendar {item.calendar_id} <- {name}: {item.state}; "
                   f"last good read {item.synced_at or 'never'}; {item.events} events; every "
                   f"{item.interval_seconds} s, next {item.next_poll_at or 'at the next pass'}"
                   + ("; some repeating events left out (ics.max_instances)"
                      if item.truncated else ""))
        if item.last_error:
            click.echo(f"    last error ({item.last_error_at}): {item.last_error}")


@ics_group.command("remove")
@click.argument("business_id", type=int)
@click.argument("source_id", type=int)
@click.pass_context
@user_errors
def ics_remove(ctx: click.Context, business_id: int, source_id: int) -> None:
    """Unsubscribe: the source and the busy time mirrored from it go."""
    from server.ics import sources

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.write() as session:
        sources.remove(session, business_id, source_id)
    click.echo(f"source {source_id} removed")


@ics_group.command("refresh")
@click.argument("business_id", type=int)
@click.argument("source_id", type=int)
@click.pass_context
@user_errors
def ics_refresh(ctx: click.Context, business_id: int, source_id: int) -> None:
    """Ask the bridge to fetch the source at its next pass, whatever its interval."""
    from server.ics import sources

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.write() as session:
        sources.refresh(session, business_id, source_id)
    click.echo(f"source {source_id} will be fetched at the bridge's next pass")


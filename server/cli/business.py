"""`bookingcal business ...`: businesses, their API keys and booking-rule settings."""

from __future__ import annotations

import click

from server.cli.common import open_runtime, user_errors


@click.group()
def business() -> None:
    """Businesses (tenants) and their API keys."""


@business.command("list")
@click.pass_context
@user_errors
def business_list(ctx: click.Context) -> None:
    """List businesses: id, name, time zone."""
    from server.domain.businesses import list_businesses

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.read() as session:
        for item in list_businesses(session):
            click.echo(f"{item.id}\t{item.name}\t{item.timezone}")


@business.command("create")
@click.argument("name")
@click.option("--timezone", required=True, help="IANA zone, e.g. Europe/Copenhagen.")
@click.pass_context
@user_errors
def business_create(ctx: click.Context, name: str, timezone: str) -> None:
    """Create a business.

    \b
    Example:
      bookingcal business create "Salon Vita" --timezone Europe/Copenhagen
    """
    from server.domain.businesses import create_business

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.write() as session:
        item = create_business(session, name=name, timezone=timezone, now=runtime.clock.now())
        click.echo(f"business {item.id} created")


@business.command("phone-writes")
@click.argument("business_id", type=int)
@click.option("--allow-cancel/--no-allow-cancel", "allow_cancel", default=None,
              help="Whether deleting a booking on an employee's phone (a writable link) "
                   "cancels it; off by default (the phone's delete is refused).")
@click.option("--moves-within-hours/--moves-anytime", "within_hours", default=None,
              help="Whether a booking moved on a phone must fall within opening hours.")
@click.option("--edits-from-calendars", "edits", type=click.Choice(["rewrite", "apply"]),
              default=None,
              help="Edits made in Google/Outlook to copies of bookings: 'rewrite' them (the "
                   "default) or 'apply' them (a move reschedules, a delete cancels, when the "
                   "rules allow).")
@click.pass_context
@user_errors
def business_phone_writes(ctx: click.Context, business_id: int, allow_cancel: bool | None,
                          within_hours: bool | None, edits: str | None) -> None:
    """Show or change what employees' phones (writable links) may do with bookings.

    \b
    Example:
      bookingcal business phone-writes 1 --allow-cancel --moves-within-hours
    """
    from server.domain.businesses import update_business

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.write() as session:
        item = update_business(session, business_id, allow_cancel_from_calendar=allow_cancel,
                               calendar_moves_within_hours=within_hours,
                               edits_from_calendars=edits)
        click.echo(f"business {item.id}: cancel from a phone "
                   f"{'allowed' if item.allow_cancel_from_calendar else 'refused'}, moves "
                   f"{'within opening hours' if item.calendar_moves_within_hours else 'anytime'}"
                   f", edits from Google/Outlook: {item.edits_from_calendars}")


@business.command("stale-policy")
@click.argument("business_id", type=int)
@click.argument("policy", type=click.Choice(["offer", "hide", "recheck"]), required=False)
@click.option("--max-age", "max_age", type=click.IntRange(0, 86400), default=None,
              help="Read a source live before an online booking when its mirror is older "
              "than this many seconds (0: always).")
@click.option("--default-max-age", is_flag=True,
              help="Use the server's availability.google_max_age_seconds again.")
@click.pass_context
@user_errors
def business_stale_policy(ctx: click.Context, business_id: int, policy: str | None,
                          max_age: int | None, default_max_age: bool) -> None:
    """Show or set what online booking does with a calendar whose blocking source (Google,
    Outlook, ...) is stale or disconnected: offer its times with a warning, hide them, or
    recheck the provider live before accepting a booking (refused on doubt).

    \b
    Example:
      bookingcal business stale-policy 1 recheck --max-age 120
    """
    from server.domain.businesses import update_business

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.write() as session:
        item = update_business(session, business_id, stale_policy=policy,
                               live_check_max_age_seconds=max_age,
                               default_live_check_max_age=default_max_age)
        age = item.live_check_max_age_seconds
        shown = f"{age} s" if age is not None else \
            f"{runtime.config.availability.google_max_age_seconds} s (the server's default)"
        click.echo(f"business {item.id}: stale-data policy {item.stale_policy}, live check "
                   f"of a mirror older than {shown}")


@business.command("key")
@click.argument("business_id", type=int)
@click.option("--label", default="", help="What the key is for.")
@click.pass_context
@user_errors
def business_key(ctx: click.Context, business_id: int, label: str) -> None:
    """Issue an API key for one business; it is printed once."""
    from server.domain.businesses import create_api_key

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.write() as session:
        key, secret = create_api_key(session, runtime.keyring, business_id, label=label,
                                     now=runtime.clock.now())
        click.echo(f"key {key.id} for business {business_id}: {secret}")


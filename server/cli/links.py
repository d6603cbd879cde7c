"""`bookingcal links ...`: private links (ICS feed and CalDAV account): create, list, show, revoke,
rotate."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from server.cli.common import open_runtime, user_errors


def _echo_link(runtime: Any, session: Any, link: Any, token: str | None) -> None:
    from server.domain.links import scope_calendar_ids
    from server.publishing.linkurls import link_addresses

    now = runtime.clock.now()
    state = ("revoked" if link.revoked_at else
             "expired" if link.expires_at and link.expires_at <= now else "active")
    scope = link.scope if link.scope == "all" else \
        f"{link.scope} {','.join(str(i) for i in scope_calendar_ids(session, link))}"
    click.echo(f"link {link.id}: {scope}, profile {link.profile}, {state}"
               + (", writable" if link.writable else "")
               + (f", label {link.label!r}" if link.label else "")
               + (f", expires {link.expires_at:%Y-%m-%d %H:%M}Z" if link.expires_at else "")
               + (f", last used {link.last_used_at:%Y-%m-%d %H:%M}Z"
                  if link.last_used_at else ""))
    if token is not None:
        where = link_addresses(runtime.config, link.id, token)
        click.echo(f"  feed:   {where.feed_url}")
        click.echo(f"  webcal: {where.webcal_url}")
        if link.profile == "slots":
            click.echo(f"  JSON:   {where.slots_json_url}")
            return
        click.echo(f"  free/busy: {where.freebusy_url}")
        click.echo(f"  CalDAV: server {where.caldav_server}  user {where.caldav_username}  "
                   f"password {where.caldav_password}")


@click.group()
def links() -> None:
    """Private links: ICS feeds and CalDAV accounts for calendars."""


@links.command("create")
@click.argument("business_id", type=int)
@click.option("--calendar", "calendar_ids", type=int, multiple=True,
              help="Calendar id; repeat for a set. Omit for all calendars of the business.")
@click.option("--profile", type=click.Choice(["full", "limited", "busy", "slots"]), required=True,
              help="full; limited (no client information); busy (times only); slots (the "
              "open times of --service, for partners).")
@click.option("--service", "service_id", type=int, default=None,
              help="The service whose open times a slots link shows.")
@click.option("--reminder", "reminder_minutes", type=int, default=None,
              help="An alarm this many minutes before each booking (in the feed).")
@click.option("--label", default="", help="What the link is for (\"Anna's iPhone\").")
@click.option("--expires", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]), default=None,
              help="Expiry (UTC), e.g. 2027-06-30.")
@click.option("--writable", is_flag=True, default=False,
              help="The employee's phone: its CalDAV account may add personal events and "
                   "move bookings under the staff rules (one calendar, profile full).")
@click.pass_context
@user_errors
def links_create(ctx: click.Context, business_id: int, calendar_ids: tuple[int, ...],
                 profile: str, service_id: int | None, reminder_minutes: int | None,
                 label: str, expires: Any, writable: bool) -> None:
    """Create a link and print its feed URL and CalDAV account.

    \b
    Example:
      bookingcal links create 1 --calendar 2 --profile limited --label "Anna's iPhone"
      bookingcal links create 1 --calendar 2 --profile full --writable --label "Anna's phone"
    """
    import datetime as dt

    from server.domain.links import create_link

    runtime = open_runtime(ctx, need_schema=True)
    scope = "all" if not calendar_ids else "calendar" if len(calendar_ids) == 1 else "set"
    with runtime.db.write() as session:
        link, token = create_link(
            session, runtime.keyring, business_id, scope=scope, profile=profile, label=label,
            calendar_ids=calendar_ids, now=runtime.clock.now(), service_id=service_id,
            reminder_minutes=reminder_minutes, writable=writable,
            expires_at=expires.replace(tzinfo=dt.timezone.utc) if expires else None)
        _echo_link(runtime, session, link, token)


@links.command("list")
@click.argument("business_id", type=int)
@click.option("--calendar", "calendar_id", type=int, default=None,
              help="Only links that show this calendar.")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked links.")
@click.pass_context
@user_errors
def links_list(ctx: click.Context, business_id: int, calendar_id: int | None,
               include_revoked: bool) -> None:
    """List a business's links (without their tokens; `links show` prints one)."""
    from server.domain.links import list_links

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.read() as session:
        for link in list_links(session, business_id, calendar_id=calendar_id,
                               include_revoked=include_revoked):
            _echo_link(runtime, session, link, None)


@links.command("show")
@click.argument("business_id", type=int)
@click.argument("link_id", type=int)
@click.pass_context
@user_errors
def links_show(ctx: click.Context, business_id: int, link_id: int) -> None:
    """Print a link again, with its feed URL and CalDAV account."""
    from server.domain.links import get_link, reveal_token

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.read() as session:
        link = get_link(session, business_id, link_id)
        _echo_link(runtime, session, link, reveal_token(runtime.keyring, link))


@links.command("revoke")
@click.argument("business_id", type=int)
@click.argument("link_id", type=int)
@click.pass_context
@user_errors
def links_revoke(ctx: click.Context, business_id: int, link_id: int) -> None:
    """Revoke a link; it stops working with the next request."""
    from server.domain.links import revoke_link

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.write() as session:
        link = revoke_link(session, business_id, link_id, runtime.clock.now())
        _echo_link(runtime, session, link, None)


@links.command("rotate")
@click.argument("business_id", type=int)
@click.argument("link_id", type=int)
@click.pass_context
@user_errors
def links_rotate(ctx: click.Context, business_id: int, link_id: int) -> None:
    """Give a link a new token (the old one stops working) and print it."""
    from server.domain.links import rotate_link

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.write() as session:
        link, token = rotate_link(session, runtime.keyring, business_id, link_id,
                                  runtime.clock.now())
        _echo_link(runtime, session, link, token)


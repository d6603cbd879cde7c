"""`bookingcal availability`: a calendar's day for a service, every start time bookable or why
not."""

from __future__ import annotations

import datetime as dt

import click

from server.cli.common import open_runtime, user_errors


@click.command("availability")
@click.argument("calendar_id", type=int)
@click.argument("service_id", type=int)
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.pass_context
@user_errors
def availability_day(ctx: click.Context, calendar_id: int, service_id: int,
                     day: dt.datetime) -> None:
    """Show a calendar's day for a service: every start time, bookable or why not.

    Example: bookingcal availability 3 1 2026-12-01
    """
    from server.publishing.availability_text import render_day
    from server.db.models import Calendar
    from server.domain.schedules import LATEST, availability
    from server.sync.freshness import freshness_of
    from server.errors import NotFoundError

    runtime = open_runtime(ctx, need_schema=True)
    now = runtime.clock.now()
    with runtime.db.read() as session:
        calendar = session.get(Calendar, calendar_id)
        if calendar is None or calendar.deleted_at is not None:
            raise NotFoundError(f"calendar {calendar_id} does not exist; "
                                "see GET /api/v1/businesses/<id>/calendars")
        service, [answer] = availability(
            session, calendar.business_id, [calendar_id], service_id, day.date(),
            min(day.date(), LATEST) + dt.timedelta(days=1), now, runtime.config.availability,
            explain=True, titles=True, freshness=freshness_of(
                session, calendar.business_id, [calendar_id], now, runtime.config))
        for line in render_day(answer, calendar.name, service, day.date(), now):
            click.echo(line)


"""`bookingcal bridge` and `bookingcal sync status`: the sync daemon over every provider, and its
health."""

from __future__ import annotations

import threading
from typing import Any

import click

from server.cli.common import open_runtime, user_errors


@click.command()
@click.option("--once", is_flag=True, help="One pass over every connection, then exit.")
@click.pass_context
@user_errors
def bridge(ctx: click.Context, once: bool) -> None:
    """Run the sync bridge over every provider (Google Calendar today): bookings out as
    copies, busy time back in.

    Several bridge processes may share one PostgreSQL database; each connection is worked by
    one of them at a time.

    \b
    Example:
      bookingcal bridge
    """
    import signal

    from server.gcal_bridge import Bridge
    from server.memory import limit_malloc_arenas

    # Before any thread exists (the engine's workers, the listener): see server/memory.py.
    limit_malloc_arenas()
    runtime = open_runtime(ctx, need_schema=True)
    # One pass (--once) gets the adapter's full retries; the daemon backs off between passes.
    worker = Bridge(runtime, unthrottled=once)
    if once:
        worker.read_attempts = worker.write_attempts = None
    if once:
        for report in worker.run_once(force_pull=True):
            echo_pass(report)
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo(f"bridge {worker.worker} running; Ctrl-C stops it")
    worker.run(stop)


def echo_pass(report: Any) -> None:
    name = {"google": "Google", "microsoft": "Microsoft", "ics": "ICS"}.get(
        report.provider, report.provider or "Google")
    parts = [f"{'source' if report.provider == 'ics' else 'connection'} "
             f"{report.connection_id}:"]
    if report.pulled is not None:
        parts.append(f"from {name} {report.pulled.imported} imported, "
                     f"{report.pulled.removed} removed ({report.pulled.pages} pages)")
    if report.pulled is not None and report.pulled.failed:
        parts.append(f"could not read {', '.join(report.pulled.failed)} (see "
                     f"{'ics list' if report.provider == 'ics' else 'google status'})")
    if report.pushed is not None:
        parts.append(f"to Google {report.pushed.inserted} inserted, {report.pushed.updated} "
                     f"updated, {report.pushed.deleted} deleted, "
                     f"{len(report.pushed.failed)} failed")
    if report.error:
        parts.append(f"error: {report.error}")
    click.echo(" ".join(parts))


@click.group("sync")
def sync_group() -> None:
    """Every provider's connections and calendars: health."""


@sync_group.command("status")
@click.option("--business", "business_id", type=int, default=None,
              help="Only this business's connections.")
@click.option("--problems", is_flag=True, help="Only what is not ok.")
@click.pass_context
@user_errors
def sync_status(ctx: click.Context, business_id: int | None, problems: bool) -> None:
    """List every connection and synced calendar (Google, Microsoft, ...) with its state
    (ok, stale, needs_reconnecting, error), last success, next try and last error, newest
    problems first. Exit status 2 when something needs reconnecting or fails.

    \b
    Example:
      bookingcal sync status --problems
    """
    from server.sync.alerts import failed_deliveries
    from server.sync.status import overview, render, render_failed_mail

    runtime = open_runtime(ctx, need_schema=True)
    now = runtime.clock.now()
    with runtime.db.read() as session:
        lines = overview(session, runtime.config, now, business_id)
        failed = render_failed_mail(failed_deliveries(session, business_id), now)
    if problems:
        lines = [line for line in lines if line.state != "ok"]
    for text in render(lines, now):
        click.echo(text)
    for text in failed:
        click.echo(text)
    if failed or any(line.state in ("needs_reconnecting", "error") for line in lines):
        ctx.exit(2)


@sync_group.command("retry-mail")
@click.option("--business", "business_id", type=int, default=None,
              help="Only this business's e-mails.")
@click.pass_context
@user_errors
def sync_retry_mail(ctx: click.Context, business_id: int | None) -> None:
    """Send again, at the health notifier's next run, the notification e-mails the SMTP
    server never took (shown as failed deliveries by `bookingcal sync status`).

    \b
    Example:
      bookingcal sync retry-mail
    """
    from server.sync.alerts import retry_failed

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.write() as session:
        count = retry_failed(session, runtime.clock.now(), business_id)
    click.echo(f"{count} e-mail(s) to send again at the notifier's next run")


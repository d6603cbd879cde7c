"""`bookingcal db ...`: schema upgrades, backup and restore, the journal's epoch and pruning."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from server.cli.common import open_runtime, safe_url, user_errors
from server.errors import BookingCalError


@click.group()
def db() -> None:
    """Database schema, backups and the journal's pruning."""


@db.command("upgrade")
@click.pass_context
@user_errors
def db_upgrade(ctx: click.Context) -> None:
    """Bring the database to the newest schema (a fresh one too)."""
    from server.db.migrate import current_revision, upgrade

    runtime = open_runtime(ctx)
    before = current_revision(runtime.db.engine)
    upgrade(runtime.db.engine)
    after = current_revision(runtime.db.engine)
    click.echo(f"database schema: {before or 'empty'} -> {after}")


@db.command("backup")
@click.option("--output", type=click.Path(file_okay=False), default=None,
              help="Folder to create (default: data_dir/backups/bookingcal-<time>).")
@click.pass_context
@user_errors
def db_backup(ctx: click.Context, output: str | None) -> None:
    """The database and the key files, into a new folder; the servers may keep running.

    SQLite: a consistent copy of the live file. PostgreSQL: pg_dump (custom format).
    """
    from server.ops.maintenance import backup

    runtime = open_runtime(ctx, need_schema=True)
    config = runtime.config
    stamp = runtime.clock.now().strftime("%Y%m%d-%H%M%S-%f")
    target = Path(output) if output else config.data_dir / "backups" / f"bookingcal-{stamp}"
    try:
        target.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise BookingCalError(f"{target} exists already; choose another --output") from None
    try:
        backup(runtime, target)
    except BookingCalError:
        shutil.rmtree(target, ignore_errors=True)  # no half backup that looks whole
        raise
    click.echo(f"backup written to {target} (database and key files; keep them together)")


@db.command("restore")
@click.argument("backup", type=click.Path(exists=True, file_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
@user_errors
def db_restore(ctx: click.Context, backup: str, yes: bool) -> None:
    """Replace the database and key files with a folder made by `db backup`. Stop the servers
    and bridges first. The database gets a new epoch, so every client synchronises again."""
    from server.ops.maintenance import restore

    runtime = open_runtime(ctx)
    if not yes:
        click.confirm(f"Replace {safe_url(runtime.config.database_url)} with {backup}?",
                      abort=True)
    restore(runtime, Path(backup))
    click.echo("restored; a new database epoch makes every client synchronise again")


@db.command("new-epoch")
@click.pass_context
@user_errors
def db_new_epoch(ctx: click.Context) -> None:
    """Start a new database epoch (run after restoring PostgreSQL from a dump)."""
    from server.domain.journal import new_epoch

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.write() as session:
        click.echo(f"new epoch {new_epoch(session)}")


@db.command("prune")
@click.pass_context
@user_errors
def db_prune(ctx: click.Context) -> None:
    """Prune journal entries older than journal.retention_days now (serve does it hourly)."""
    from server.ops.maintenance import prune_journal

    runtime = open_runtime(ctx, need_schema=True)
    click.echo(f"pruned {prune_journal(runtime)} journal entries")


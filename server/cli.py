"""The `bookingcal` command. A user error is one line saying what to do, exit status 1."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import shutil
import sys
import threading
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from server import __version__
from server.config import Config, ConfigError, load
from server.errors import BookingCalError
from server.keys import KeyFileError

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("bookingcal")


def user_errors(func: F) -> F:
    """Turn our errors into one line on stderr and exit status 1, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            for line in exc.problems:
                click.echo(f"error: {line}", err=True)
            sys.exit(1)
        except (KeyFileError, BookingCalError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
    return wrapper  # type: ignore[return-value]


def _config(ctx: click.Context) -> Config:
    config = load(ctx.obj["config_path"])
    logging.basicConfig(level=config.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic announces every schema check at INFO; `db upgrade` prints what it did itself.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(
        config.log_level)))
    return config


def _runtime(ctx: click.Context, *, need_schema: bool = False) -> Any:
    from server.db.migrate import current_revision, head_revision
    from server.runtime import build_runtime

    # A caller may hand the command group a clock (`main(obj={"clock": clock})`): the tests run
    # the CLI on the same injected clock as the rest of the world they drive.
    runtime = build_runtime(_config(ctx), ctx.obj.get("clock"))
    if need_schema and current_revision(runtime.db.engine) != head_revision(runtime.db.engine):
        raise BookingCalError("the database schema is not current; run `bookingcal db upgrade`")
    return runtime


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Configuration file (default: $BOOKINGCAL_CONFIG, else "
                   "config/bookingcal.toml).")
@click.version_option(__version__, prog_name="bookingcal")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """bookingcal: calendar server of an appointment-booking system.

    \b
    Example:
      bookingcal --config config/bookingcal.toml serve
    """
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path


# --- serve ------------------------------------------------------------------------------------

@main.command()
@click.option("--demo", is_flag=True,
              help="Migrate the database and load the demo business on first run.")
@click.option("--host", default=None, help="Override server.host.")
@click.option("--port", type=int, default=None, help="Override server.port.")
@click.pass_context
@user_errors
def serve(ctx: click.Context, demo: bool, host: str | None, port: int | None) -> None:
    """Serve the API (and later the feeds and CalDAV) with waitress.

    \b
    Example:
      bookingcal serve --port 5232
    """
    import waitress

    from server.app import create_app
    from server.db.migrate import upgrade
    from server.maintenance import start_pruner
    from server.memory import limit_malloc_arenas

    # Before any thread exists (the pruner, waitress's workers): see server/memory.py.
    limit_malloc_arenas()
    runtime = _runtime(ctx, need_schema=not demo)
    config = runtime.config
    if demo:
        upgrade(runtime.db.engine)
        _load_demo_if_missing(runtime)
    stop = threading.Event()
    start_pruner(runtime, stop)
    host = host or config.server_host
    port = port or config.server_port
    click.echo(f"bookingcal {__version__} serving on http://{host}:{port}/ "
               f"(public address {config.public_url})")
    click.echo(f"  API document: {config.public_link('/api/v1/openapi.json')}")
    click.echo(f"  health:       {config.public_link('/healthz')}")
    if config.host_key:
        click.echo("  host API key: from $BOOKINGCAL_HOST_KEY")
    else:
        click.echo(f"  host API key: in {config.host_key_file}  (send it as "
                   "'Authorization: Bearer <key>')")
    click.echo(f"  database:     {_safe_url(config.database_url)}")
    if config.database_direct_url:
        click.echo(f"  (a transaction pooler; PostgreSQL itself: "
                   f"{_safe_url(config.database_direct_url)})")
    if demo:
        _print_demo_links(runtime)
    try:
        waitress.serve(create_app(runtime), host=host, port=port,
                       threads=config.server_threads,
                       # waitress refuses beyond this before the app sees the body; up to
                       # it, the app answers 413 in the API's JSON error shape.
                       max_request_body_size=config.max_body_bytes + (1 << 20),
                       # TrustedProxy decides whose X-Forwarded-* to believe (and strips them
                       # from everyone else); waitress would drop them from every peer.
                       clear_untrusted_proxy_headers=False,
                       ident="bookingcal", _quiet=True)
    finally:
        stop.set()


def _safe_url(url: str) -> str:
    """A database URL without its password, for printing."""
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)


def _print_demo_links(runtime: Any) -> None:
    from server.demo import demo_admin, demo_links
    from server.linkurls import link_addresses

    found = demo_links(runtime.db, runtime.keyring)
    if found:
        click.echo("Private links of the demo business (subscribe with Outlook, iPhone, macOS, "
                   "Google 'From URL'):")
    for label, link_id, token in found:
        where = link_addresses(runtime.config, link_id, token)
        click.echo(f"  {label}:\n    {where.feed_url}\n    {where.webcal_url}")
    admin = demo_admin(runtime.db, runtime.clock.now())
    if admin is not None:
        email, password = admin
        click.echo(f"Admin pages: {runtime.config.public_link('/admin/')}\n"
                   f"  sign in as {email} with {password}  (a new password at every start of "
                   "serve --demo)")


def _load_demo_if_missing(runtime: Any) -> None:
    from server.demo import DEMO_DAYS, demo_exists, load_demo
    if demo_exists(runtime.db) or not runtime.config.demo_on_first_run:
        return
    click.echo("Loading the demo business (first run) ...")
    with click.progressbar(length=DEMO_DAYS, label="  demo bookings, day by day") as bar:
        load_demo(runtime.db, runtime.keyring, runtime.clock.now(), progress=bar.update)


@main.command()
@click.pass_context
@user_errors
def demo(ctx: click.Context) -> None:
    """Load the demo business (three employees, services, clients, ~500 bookings around today,
    across DST changes) unless it exists."""
    from server.db.migrate import upgrade
    from server.demo import demo_exists

    runtime = _runtime(ctx)
    upgrade(runtime.db.engine)
    if demo_exists(runtime.db):
        click.echo("The demo business exists already.")
        return
    _load_demo_if_missing(runtime)
    click.echo("Demo business loaded.")


# --- db ---------------------------------------------------------------------------------------

@main.group()
def db() -> None:
    """Database schema, backups and the journal's pruning."""


@db.command("upgrade")
@click.pass_context
@user_errors
def db_upgrade(ctx: click.Context) -> None:
    """Bring the database to the newest schema (a fresh one too)."""
    from server.db.migrate import current_revision, upgrade

    runtime = _runtime(ctx)
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
    from server.maintenance import backup

    runtime = _runtime(ctx, need_schema=True)
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
    from server.maintenance import restore

    runtime = _runtime(ctx)
    if not yes:
        click.confirm(f"Replace {_safe_url(runtime.config.database_url)} with {backup}?",
                      abort=True)
    restore(runtime, Path(backup))
    click.echo("restored; a new database epoch makes every client synchronise again")


@db.command("new-epoch")
@click.pass_context
@user_errors
def db_new_epoch(ctx: click.Context) -> None:
    """Start a new database epoch (run after restoring PostgreSQL from a dump)."""
    from server.domain.journal import new_epoch

    runtime = _runtime(ctx, need_schema=True)
    with runtime.db.write() as session:
        click.echo(f"new epoch {new_epoch(session)}")


@db.command("prune")
@click.pass_context
@user_errors
def db_prune(ctx: click.Context) -> None:
    """Prune journal entries older than journal.retention_days now (serve does it hourly)."""
    from server.maintenance import prune_journal

    runtime = _runtime(ctx, need_schema=True)
    click.echo(f"pruned {prune_journal(runtime)} journal entries")


# --- config and keys --------------------------------------------------------------------------

@main.group("config")
def config_group() -> None:
    """Configuration."""


@config_group.command("check")
@click.pass_context
@user_errors
def config_check(ctx: click.Context) -> None:
    """Validate the configuration file, the key files and the database connection.

    \b
    Example:
      bookingcal --config /etc/bookingcal/bookingcal.toml config check
    """
    from sqlalchemy import text

    from server.db import Database
    from server.keys import Keyring, read_secret_file

    config = _config(ctx)
    if (config.keys_dir / "encryption.keys").exists():
        Keyring.load(config.keys_dir)
        if not config.host_key and (config.host_key_file_explicit
                                    or config.host_key_file.exists()):
            read_secret_file(config.host_key_file, "the host API key file")
        keys = f"key files in {config.keys_dir} are readable"
    else:
        keys = f"key files will be generated in {config.keys_dir} on first run"
    from sqlalchemy.engine import make_url
    sqlite_file = Path(make_url(config.database_url).database or "") if config.is_sqlite else None
    if sqlite_file is not None and not sqlite_file.exists():
        database_state = "will be created on first run"
    else:
        database = Database(config.database_url, pool_size=1,
                            direct_url=config.database_direct_url)
        try:
            with database.read() as session:
                session.execute(text("SELECT 1"))
        finally:
            database.dispose()
        database_state = "reachable"
    click.echo(f"configuration OK: {config.source or '(defaults)'}; {keys}; database "
               f"{_safe_url(config.database_url)} {database_state}")


@main.group()
def keys() -> None:
    """Encryption keys."""


@keys.command("rotate")
@click.pass_context
@user_errors
def keys_rotate(ctx: click.Context) -> None:
    """Add a new encryption key version; new secrets are encrypted with it, old ones still
    decrypt. Then restart every server and bridge process and run `keys reencrypt`. Back up
    the key folder afterwards."""
    from server.keys import add_encryption_key

    runtime = _runtime(ctx)
    version = add_encryption_key(runtime.config.keys_dir)
    click.echo(f"encryption key version {version} added in {runtime.config.keys_dir}; restart "
               "the server and bridge processes, then run: bookingcal keys reencrypt")


@keys.command("reencrypt")
@click.pass_context
@user_errors
def keys_reencrypt(ctx: click.Context) -> None:
    """Rewrite every stored secret (link tokens, Google refresh tokens, consents in progress)
    under the newest key version, in short batches; safe while the processes run."""
    from server.rekey import reencrypt, versions_in_use

    runtime = _runtime(ctx, need_schema=True)
    count = reencrypt(runtime.db, runtime.keyring)
    left = ", ".join(f"{name}: {n}" for name, n in sorted(versions_in_use(runtime.db).items()))
    click.echo(f"{count} secrets re-encrypted with key version "
               f"{runtime.keyring.current_version}; secrets per key version: {left or 'none'}")


@keys.command("status")
@click.pass_context
@user_errors
def keys_status(ctx: click.Context) -> None:
    """The key versions loaded and how many stored secrets each one encrypts. A version that
    encrypts nothing can be removed from the key file (after `keys reencrypt`)."""
    from server.rekey import versions_in_use

    runtime = _runtime(ctx, need_schema=True)
    counts = versions_in_use(runtime.db)
    for version in sorted(runtime.keyring.versions):
        newest = " (newest)" if version == runtime.keyring.current_version else ""
        click.echo(f"v{version}{newest}\t{counts.pop(f'v{version}', 0)} secrets")
    for name, count in sorted(counts.items()):
        click.echo(f"{name} (NOT LOADED)\t{count} secrets: restore its key line")


# --- businesses -------------------------------------------------------------------------------

@main.group()
def business() -> None:
    """Businesses (tenants) and their API keys."""


@business.command("list")
@click.pass_context
@user_errors
def business_list(ctx: click.Context) -> None:
    """List businesses: id, name, time zone."""
    from server.domain.businesses import list_businesses

    runtime = _runtime(ctx, need_schema=True)
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

    runtime = _runtime(ctx, need_schema=True)
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

    runtime = _runtime(ctx, need_schema=True)
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

    runtime = _runtime(ctx, need_schema=True)
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

    runtime = _runtime(ctx, need_schema=True)
    with runtime.db.write() as session:
        key, secret = create_api_key(session, runtime.keyring, business_id, label=label,
                                     now=runtime.clock.now())
        click.echo(f"key {key.id} for business {business_id}: {secret}")


if __name__ == "__main__":  # pragma: no cover
    main()


# --- private links ----------------------------------------------------------------------------

def _echo_link(runtime: Any, session: Any, link: Any, token: str | None) -> None:
    from server.domain.links import scope_calendar_ids
    from server.linkurls import link_addresses

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


@main.group()
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

    runtime = _runtime(ctx, need_schema=True)
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

    runtime = _runtime(ctx, need_schema=True)
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

    runtime = _runtime(ctx, need_schema=True)
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

    runtime = _runtime(ctx, need_schema=True)
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

    runtime = _runtime(ctx, need_schema=True)
    with runtime.db.write() as session:
        link, token = rotate_link(session, runtime.keyring, business_id, link_id,
                                  runtime.clock.now())
        _echo_link(runtime, session, link, token)


# --- Google Calendar --------------------------------------------------------------------------

@main.command()
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

    runtime = _runtime(ctx, need_schema=True)
    # One pass (--once) gets the adapter's full retries; the daemon backs off between passes.
    worker = Bridge(runtime, unthrottled=once)
    if once:
        worker.read_attempts = worker.write_attempts = None
    if once:
        for report in worker.run_once(force_pull=True):
            _echo_pass(report)
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo(f"bridge {worker.worker} running; Ctrl-C stops it")
    worker.run(stop)


def _echo_pass(report: Any) -> None:
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


@main.group("sync")
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

    runtime = _runtime(ctx, need_schema=True)
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

    runtime = _runtime(ctx, need_schema=True)
    with runtime.db.write() as session:
        count = retry_failed(session, runtime.clock.now(), business_id)
    click.echo(f"{count} e-mail(s) to send again at the notifier's next run")


@main.group()
def google() -> None:
    """Google Calendar: connect, status, disconnect, sync."""


@google.command("connect")
@click.argument("business_id", type=int)
@click.pass_context
@user_errors
def google_connect(ctx: click.Context, business_id: int) -> None:
    """Print the Google consent URL for a business; open it as the business's admin."""
    from server.google.oauth import start_consent

    runtime = _runtime(ctx, need_schema=True)
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

    runtime = _runtime(ctx, need_schema=True)
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

    runtime = _runtime(ctx, need_schema=True)
    report = disconnect(runtime, business_id, keep_copies=keep_copies)
    click.echo(f"disconnected; {report.copies_deleted} copies deleted from Google, "
               f"{report.copies_kept} kept; {report.channels_stopped} push channels stopped; "
               "access "
               f"{'revoked' if report.revoked else 'could not be revoked at Google'}"
               + (f"; {report.note}" if report.note else ""))


@main.command("availability")
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
    from server.availability_text import render_day
    from server.db.models import Calendar
    from server.domain.schedules import LATEST, availability
    from server.sync.freshness import freshness_of
    from server.errors import NotFoundError

    runtime = _runtime(ctx, need_schema=True)
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
    runtime = _runtime(ctx, need_schema=True)
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

    runtime = _runtime(ctx, need_schema=True)
    # Syncing now, with someone watching: each call gets the adapter's full retries instead of
    # the daemon's backoff between passes.
    worker = Bridge(runtime, unthrottled=True, read_attempts=None, write_attempts=None)
    with runtime.db.read() as session:
        connection_id = get_connection(session, business_id).id
    before = -1
    for number in count(1):
        report = worker.work(connection_id, runtime.clock.now(), force_pull=number == 1)
        if report.pushed is None and report.pulled is None and report.error is None:
            raise BookingCalError("another bridge process is working this business; "
                                  "try again in a moment")
        with runtime.db.read() as session:
            left = pending(session, get_connection(session, business_id),
                           runtime.clock.now())
        click.echo(f"pass {number}: ", nl=False)
        _echo_pass(report)
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


@main.group()
def microsoft() -> None:
    """Microsoft 365 / Outlook: connect, status, calendars, settings, disconnect."""


@microsoft.command("connect")
@click.argument("business_id", type=int)
@click.pass_context
@user_errors
def microsoft_connect(ctx: click.Context, business_id: int) -> None:
    """Print the Microsoft consent URL for a business; open it as the business's admin."""
    from server.microsoft.oauth import start_consent

    runtime = _runtime(ctx, need_schema=True)
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

    runtime = _runtime(ctx, need_schema=True)
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

    runtime = _runtime(ctx, need_schema=True)
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
    runtime = _runtime(ctx, need_schema=True)
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

    runtime = _runtime(ctx, need_schema=True)
    report = disconnect(runtime, business_id, keep_copies=keep_copies)
    click.echo(f"disconnected; {report.copies_deleted} copies deleted from Outlook, "
               f"{report.copies_kept} kept; {report.subscriptions_deleted} subscriptions "
               f"deleted; the token is forgotten. {report.note}")
# --- Calendar links (ICS URLs) ----------------------------------------------------------------

@main.group("ics")
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
    runtime = _runtime(ctx, need_schema=True)
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

    runtime = _runtime(ctx, need_schema=True)
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

    runtime = _runtime(ctx, need_schema=True)
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

    runtime = _runtime(ctx, need_schema=True)
    with runtime.db.write() as session:
        sources.refresh(session, business_id, source_id)
    click.echo(f"source {source_id} will be fetched at the bridge's next pass")


# --- Admin pages ------------------------------------------------------------------------------

@main.group("admin")
def admin_group() -> None:
    """Accounts for the admin pages under /admin/."""


@admin_group.command("create-user")
@click.option("--business", "business_id", type=int, required=True,
              help="The business the account manages.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
@click.argument("email")
@click.pass_context
@user_errors
def admin_create_user(ctx: click.Context, business_id: int, email: str,
                      password_stdin: bool) -> None:
    """Make an admin account for the admin pages; the password is asked for.

    \b
    Example:
      bookingcal admin create-user --business 1 owner@salon.example
    """
    from server.admin.accounts import create_user

    runtime = _runtime(ctx, need_schema=True)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with runtime.db.write() as session:
        user = create_user(session, business_id, email, password, runtime.clock.now())
        click.echo(f"admin account {user.email} created for business {business_id}; sign in at "
                   f"{runtime.config.public_link('/admin/')}")


@admin_group.command("reset-password")
@click.option("--business", "business_id", type=int, required=True)
@click.option("--password-stdin", is_flag=True,
              help="Read the new password from the first line of standard input.")
@click.argument("email")
@click.pass_context
@user_errors
def admin_reset_password(ctx: click.Context, business_id: int, email: str,
                         password_stdin: bool) -> None:
    """Set a forgotten admin password (the new one is asked for) and sign the account out
    everywhere."""
    from server.admin.accounts import reset_password

    runtime = _runtime(ctx, need_schema=True)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    with runtime.db.write() as session:
        user = reset_password(session, business_id, email, password)
        click.echo(f"new password set for {user.email}; every session of it is signed out")


@admin_group.command("list-users")
@click.option("--business", "business_id", type=int, required=True)
@click.pass_context
@user_errors
def admin_list_users(ctx: click.Context, business_id: int) -> None:
    """The admin accounts of a business: address, when made, last sign-in (UTC)."""
    from server.admin.accounts import list_users

    runtime = _runtime(ctx, need_schema=True)
    with runtime.db.read() as session:
        users = list_users(session, business_id)
    if not users:
        click.echo(f"business {business_id} has no admin account (bookingcal admin create-user)")
    for user in users:
        last = user.last_sign_in_at.strftime("%Y-%m-%d %H:%M") if user.last_sign_in_at \
            else "never"
        click.echo(f"{user.email}\tmade {user.created_at:%Y-%m-%d}\tlast sign-in {last}")


@admin_group.command("remove-user")
@click.option("--business", "business_id", type=int, required=True)
@click.argument("email")
@click.pass_context
@user_errors
def admin_remove_user(ctx: click.Context, business_id: int, email: str) -> None:
    """Remove an admin account and sign it out; never the business's last one."""
    from server.admin.accounts import find_user, remove_user

    runtime = _runtime(ctx, need_schema=True)
    with runtime.db.write() as session:
        removed = remove_user(session, business_id, find_user(session, business_id, email).id)
    click.echo(f"admin account {removed} removed from business {business_id}")


def _add_caldav() -> None:
    """The `caldav` group (server/caldav_cli.py), added last: it uses this module's helpers."""
    from server.caldav_cli import caldav as group

    main.add_command(group)


_add_caldav()

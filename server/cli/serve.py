"""`bookingcal serve` and `bookingcal demo`: the server on the configured database, the demo
data."""

from __future__ import annotations

import threading
from typing import Any

import click

from server import __version__
from server.cli.common import open_runtime, safe_url, user_errors


@click.command()
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
    from server.ops.maintenance import start_pruner
    from server.memory import limit_malloc_arenas

    # Before any thread exists (the pruner, waitress's workers): see server/memory.py.
    limit_malloc_arenas()
    runtime = open_runtime(ctx, need_schema=not demo)
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
    click.echo(f"  database:     {safe_url(config.database_url)}")
    if config.database_direct_url:
        click.echo(f"  (a transaction pooler; PostgreSQL itself: "
                   f"{safe_url(config.database_direct_url)})")
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



def _print_demo_links(runtime: Any) -> None:
    from server.ops.demo import demo_admin, demo_links
    from server.publishing.linkurls import link_addresses

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
    from server.ops.demo import DEMO_DAYS, demo_exists, load_demo
    if demo_exists(runtime.db) or not runtime.config.demo_on_first_run:
        return
    click.echo("Loading the demo business (first run) ...")
    with click.progressbar(length=DEMO_DAYS, label="  demo bookings, day by day") as bar:
        load_demo(runtime.db, runtime.keyring, runtime.clock.now(), progress=bar.update,
                  rules=runtime.config.availability)


@click.command()
@click.pass_context
@user_errors
def demo(ctx: click.Context) -> None:
    """Load the demo business (three employees, services, clients, ~500 bookings around today,
    across DST changes) unless it exists."""
    from server.db.migrate import upgrade
    from server.ops.demo import demo_exists

    runtime = open_runtime(ctx)
    upgrade(runtime.db.engine)
    if demo_exists(runtime.db):
        click.echo("The demo business exists already.")
        return
    _load_demo_if_missing(runtime)
    click.echo("Demo business loaded.")


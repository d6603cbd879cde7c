"""`bookingcal config check`: the configuration file, its secrets and the database, checked."""

from __future__ import annotations

from pathlib import Path

import click

from server.cli.common import load_config, safe_url, user_errors


@click.group("config")
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

    config = load_config(ctx)
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
               f"{safe_url(config.database_url)} {database_state}")


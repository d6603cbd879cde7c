"""What every command shares: one-line user errors (exit 1), the configuration and the runtime."""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any, Callable, TypeVar

import click

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


def load_config(ctx: click.Context) -> Config:
    config = load(ctx.obj["config_path"])
    logging.basicConfig(level=config.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic announces every schema check at INFO; `db upgrade` prints what it did itself.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(
        config.log_level)))
    return config


def open_runtime(ctx: click.Context, *, need_schema: bool = False) -> Any:
    from server.db.migrate import current_revision, head_revision
    from server.runtime import build_runtime

    # A caller may hand the command group a clock (`main(obj={"clock": clock})`): the tests run
    # the CLI on the same injected clock as the rest of the world they drive.
    runtime = build_runtime(load_config(ctx), ctx.obj.get("clock"))
    if need_schema and current_revision(runtime.db.engine) != head_revision(runtime.db.engine):
        raise BookingCalError("the database schema is not current; run `bookingcal db upgrade`")
    return runtime


def safe_url(url: str) -> str:
    """A database URL without its password, for printing."""
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)

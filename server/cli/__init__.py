"""The `bookingcal` command: one module per command group (server/cli/<group>.py). A user error
is one line saying what to do, exit status 1 (server/cli/common.py)."""

from __future__ import annotations

import click

from server import __version__


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


# The command groups, each in its own module (they import server.cli.common, not this one).
from server.cli.serve import serve, demo  # noqa: E402
from server.cli.db import db  # noqa: E402
from server.cli.configuration import config_group  # noqa: E402
from server.cli.keys import keys  # noqa: E402
from server.cli.business import business  # noqa: E402
from server.cli.links import links  # noqa: E402
from server.cli.sync import bridge, sync_group  # noqa: E402
from server.cli.google import google  # noqa: E402
from server.cli.availability import availability_day  # noqa: E402
from server.cli.microsoft import microsoft  # noqa: E402
from server.cli.ics import ics_group  # noqa: E402
from server.cli.admin import admin_group  # noqa: E402
from server.cli.caldav import caldav  # noqa: E402

for _command in (serve, demo, db, config_group, keys, business, links, bridge, sync_group, google,
                 availability_day, microsoft, ics_group, admin_group, caldav):
    main.add_command(_command)

"""How often an ICS source is fetched: its own interval, else the feed's advertised one, else
the default, within the configured bounds. Kept apart from the adapter so that the sync health
views (server/sync/sources.py) judge a source's freshness by it without importing the engine."""

from __future__ import annotations

import datetime as dt

from server.config import IcsConfig


def interval(settings: IcsConfig, own: int | None, advertised: int | None) -> dt.timedelta:
    """Time until a source's next fetch: its own interval, else the feed's, else the
    default, within the configured bounds."""
    wanted = own or advertised or settings.default_interval_seconds
    return dt.timedelta(seconds=min(max(wanted, settings.min_interval_seconds),
                                    settings.max_interval_seconds))

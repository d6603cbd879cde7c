"""The kinds of synced sources the health views know: per provider, its tables, its label,
when its data counts as stale, where an admin reconnects it, and its live check before an
online booking (the `recheck` policy). The web server reads them without the bridge's
provider objects; a new provider adds one `SourceKind` to KINDS (its tables to
server/sync/tables.py's BY_PROVIDER), and its live check to server/api/stale_policy.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func

from server.caldav.intervals import poll_interval as caldav_interval
from server.config import Config
from server.ics.intervals import interval
from server.sync.tables import BY_PROVIDER, Tables


@dataclass(frozen=True)
class SourceKind:
    """One provider as the health views see it."""

    name: str  # the provider's name (Provider.name, tables.BY_PROVIDER's key)
    label: str  # "Google", for people
    calendar_word: str  # "Google calendar", "Outlook calendar"
    stale_after: Callable[[Config], dt.timedelta]  # its freshness target
    reconnect_path: str  # below public_url: where an admin reconnects it
    poll: Callable[[Config], dt.timedelta]  # how often a connection is read without a push
    # A source that is its own connection (tables.calendar_map is None: ICS URLs, each for one
    # employee calendar, on its own interval): its target from its row, and its name for
    # people (never its URL).
    own_target: Callable[[Config, Any], dt.timedelta] | None = None
    # The same target in seconds as an SQL expression over the connection table (metrics).
    own_target_sql: Callable[[Config, Any], Any] | None = None
    own_name: Callable[[Any], str] | None = None
    # A failed read keeps the last good copy blocking (ICS): the source is stale, not in error.
    keeps_last_copy: bool = False
    # A connection with its own poll interval (CalDAV): the column holding it (None: the
    # default), and the freshness target of its sources from that column's value.
    interval_column: str | None = None
    own_interval_target: Callable[[Config, int | None], dt.timedelta] | None = None

    @property
    def tables(self) -> Tables:
        return BY_PROVIDER[self.name]

    def target(self, config: Config, connection: Any) -> dt.timedelta:
        """The freshness target of one connection's sources (`connection`: its row)."""
        if self.own_target is not None:
            return self.own_target(config, connection)
        if self.interval_column is not None and self.own_interval_target is not None:
            return self.own_interval_target(config, getattr(connection, self.interval_column))
        return self.stale_after(config)

    def connection_target(self, config: Config, own_interval: int | None) -> dt.timedelta:
        """The freshness target of the sources of a connection whose own poll interval (the
        `interval_column`'s value) is `own_interval`."""
        if self.own_interval_target is not None:
            return self.own_interval_target(config, own_interval)
        return self.stale_after(config)


def push_or_poll(push: bool, poll_seconds: int, config: Config) -> dt.timedelta:
    """The target of a source read on push notifications (health.push_stale_minutes, never
    shorter than a poll plus slack) or by polling only (its interval plus
    health.poll_slack_minutes)."""
    polled = dt.timedelta(seconds=poll_seconds) + dt.timedelta(
        minutes=config.health.poll_slack_minutes)
    if not push:
        return polled
    return max(dt.timedelta(minutes=config.health.push_stale_minutes),
               dt.timedelta(seconds=poll_seconds) * 2)


def _google(config: Config) -> dt.timedelta:
    return push_or_poll(config.google.push_notifications, config.google.poll_seconds, config)


def _microsoft(config: Config) -> dt.timedelta:
    return push_or_poll(config.microsoft.notifications, config.microsoft.poll_seconds, config)


def _caldav_target(config: Config, own: int | None) -> dt.timedelta:
    """A CalDAV account's interval (its own or caldav.poll_seconds, within the bounds) plus
    health.poll_slack_minutes (CalDAV has no push)."""
    every = caldav_interval(config.caldav, own)
    return push_or_poll(False, int(every.total_seconds()), config)


def _caldav_target_sql(config: Config, table: Any) -> Any:
    """_caldav_target in SQL: seconds, per row of `table` (caldav_connections)."""
    settings = config.caldav
    wanted = func.coalesce(func.nullif(table.poll_seconds, 0), settings.poll_seconds)
    bounded = case((wanted < settings.min_poll_seconds, settings.min_poll_seconds),
                   (wanted > settings.max_poll_seconds, settings.max_poll_seconds),
                   else_=wanted)
    return bounded + config.health.poll_slack_minutes * 60


def _ics_target(config: Config, source: Any) -> dt.timedelta:
    """An ICS source's interval (its own, the feed's or the default, within the bounds) plus
    health.poll_slack_minutes."""
    every = interval(config.ics, source.interval_seconds, source.feed_interval_seconds)
    return push_or_poll(False, int(every.total_seconds()), config)


def _ics_target_sql(config: Config, table: Any) -> Any:
    """_ics_target in SQL: seconds, per row of `table` (ics_sources)."""
    settings = config.ics
    wanted = func.coalesce(func.nullif(table.interval_seconds, 0),
                           func.nullif(table.feed_interval_seconds, 0),
                           settings.default_interval_seconds)
    bounded = case((wanted < settings.min_interval_seconds, settings.min_interval_seconds),
                   (wanted > settings.max_interval_seconds, settings.max_interval_seconds),
                   else_=wanted)
    return bounded + config.health.poll_slack_minutes * 60


@dataclass(frozen=True)
class _IcsIntervals:
    interval_seconds: int | None = None
    feed_interval_seconds: int | None = None


_DEFAULT_ICS = _IcsIntervals()  # a source with no interval of its own nor of its feed


def _ics_name(source: Any) -> str:
    return str(source.label or source.host)


KINDS: dict[str, SourceKind] = {
    "google": SourceKind("google", "Google", "Google calendar", _google, "/admin/apps/google",
                         lambda config: dt.timedelta(seconds=config.google.poll_seconds)),
    "microsoft": SourceKind("microsoft", "Microsoft", "Outlook calendar", _microsoft,
                            "/admin/sync",
                            lambda config: dt.timedelta(seconds=config.microsoft.poll_seconds)),
    "caldav": SourceKind("caldav", "CalDAV", "CalDAV calendar",
                         lambda config: _caldav_target(config, None), "/admin/apps/caldav",
                         lambda config: caldav_interval(config.caldav, None),
                         own_target_sql=_caldav_target_sql,
                         interval_column="poll_seconds", own_interval_target=_caldav_target),
    "ics": SourceKind("ics", "ICS", "calendar link",
                      lambda config: _ics_target(config, _DEFAULT_ICS),
                      "/admin/apps/calendar-links",
                      lambda config: dt.timedelta(seconds=config.ics.default_interval_seconds),
                      own_target=_ics_target, own_target_sql=_ics_target_sql,
                      own_name=_ics_name, keeps_last_copy=True),
}


def kinds() -> list[SourceKind]:
    """Every known kind whose tables exist, in registration order."""
    return [kind for name, kind in KINDS.items() if name in BY_PROVIDER]

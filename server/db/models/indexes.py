"""Partial indexes over several providers' tables (the health notifier's reads)."""

from __future__ import annotations

from sqlalchemy import Index, literal_column, or_

from server.db.models.caldav import CalDAVCalendarMap, CalDAVConnection, CalDAVReadState
from server.db.models.google import GoogleCalendarMap, GoogleConnection, GoogleReadState
from server.db.models.health import SyncAlert
from server.db.models.ics import IcsReadState, IcsSource
from server.db.models.microsoft import MicrosoftCalendarMap, MicrosoftConnection, MicrosoftReadState


# The health notifier (server/sync/alerts.py) reads only the rows with a problem: these partial
# indexes hold just those rows, so its reads do not grow with the number of healthy
# connections and calendars. Their predicates are literal: a query's WHERE must repeat them.
NEEDS_RECONNECT_SQL = "'needs_reconnect'"


def _problem_indexes() -> None:
    for connection in (GoogleConnection, MicrosoftConnection, CalDAVConnection, IcsSource):
        where = or_(connection.__table__.c.status == literal_column(NEEDS_RECONNECT_SQL),
                    connection.__table__.c.last_error.is_not(None))
        Index(f"ix_{connection.__tablename__}_problems", connection.__table__.c.id,
              sqlite_where=where, postgresql_where=where)
    for table in (GoogleReadState, MicrosoftReadState, CalDAVReadState, IcsReadState,
                  GoogleCalendarMap, MicrosoftCalendarMap, CalDAVCalendarMap):
        failing = table.__table__.c.last_error.is_not(None)
        Index(f"ix_{table.__tablename__}_failing", table.__table__.c.connection_id,
              sqlite_where=failing, postgresql_where=failing)
    # Alerts whose recovery is not told yet, and whose e-mail failed: few, whatever the history.
    alerts = SyncAlert.__table__.c
    untold = alerts.recovered_sent_at.is_(None)
    Index("ix_sync_alerts_untold", alerts.id, sqlite_where=untold, postgresql_where=untold)
    undelivered = alerts.mail_failures > literal_column("0")
    Index("ix_sync_alerts_undelivered", alerts.business_id, sqlite_where=undelivered,
          postgresql_where=undelivered)


_problem_indexes()


def _due_indexes() -> None:
    """The bridge loop's quick looks (server/sync/due.py) read only what changed: the read
    states asked to be read (few), the maps of the calendars in new journal entries, and the
    connections other processes read since the last look."""
    for state in (GoogleReadState, MicrosoftReadState, CalDAVReadState, IcsReadState):
        asked = state.__table__.c.pull_requested.is_(True)
        Index(f"ix_{state.__tablename__}_asked", state.__table__.c.connection_id,
              sqlite_where=asked, postgresql_where=asked)
    for maps in (GoogleCalendarMap, MicrosoftCalendarMap, CalDAVCalendarMap):
        Index(f"ix_{maps.__tablename__}_calendar", maps.__table__.c.calendar_id)
    for connection in (GoogleConnection, MicrosoftConnection, CalDAVConnection, IcsSource):
        Index(f"ix_{connection.__tablename__}_last_sync", connection.__table__.c.last_sync_at)


_due_indexes()

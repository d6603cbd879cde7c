"""The bookkeeping tables of one provider, as the engine reaches them. Each provider keeps its
own rows (its connection, calendar maps, read states, copies, per-item write errors and
mirrored events) so foreign keys and cascades stay exact; the columns the engine touches have
the same names in every set (server/db/models.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.db.models import (
    CalDAVCalendarMap, CalDAVConnection, CalDAVCopy, CalDAVMirroredEvent, CalDAVReadState,
    CalDAVWriteError, GoogleCalendarMap, GoogleConnection, GoogleCopy, GoogleReadState, GoogleWriteError,
    MicrosoftCalendarMap, MicrosoftConnection, MicrosoftCopy, MicrosoftMirroredEvent,
    MicrosoftReadState, MicrosoftWriteError, MirroredEvent,
)


@dataclass(frozen=True)
class Tables:
    """One provider's tables, and the direction value that means "read only"."""

    connection: Any
    calendar_map: Any
    read_state: Any
    copy: Any
    write_error: Any
    mirrored: Any
    read_only: str  # ConnectionRow.direction when nothing is sent to the provider


GOOGLE = Tables(GoogleConnection, GoogleCalendarMap, GoogleReadState, GoogleCopy,
                GoogleWriteError, MirroredEvent, "from_google")
MICROSOFT = Tables(MicrosoftConnection, MicrosoftCalendarMap, MicrosoftReadState, MicrosoftCopy,
                   MicrosoftWriteError, MicrosoftMirroredEvent, "from_microsoft")
CALDAV = Tables(CalDAVConnection, CalDAVCalendarMap, CalDAVReadState, CalDAVCopy,
                CalDAVWriteError, CalDAVMirroredEvent, "from_caldav")

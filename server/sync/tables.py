"""The bookkeeping tables of one provider, as the engine reaches them. Each provider keeps its
own rows (its connection, calendar maps, read states, copies, per-item write errors and
mirrored events) so foreign keys and cascades stay exact; the columns the engine touches have
the same names in every set (server/db/models/)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.db.models import (
    CalDAVCalendarMap, CalDAVConnection, CalDAVCopy, CalDAVMirroredEvent, CalDAVReadState,
    CalDAVWriteError, GoogleCalendarMap, GoogleConnection, GoogleCopy, GoogleReadState, GoogleWriteError,
    IcsMirroredEvent, IcsReadState, IcsSource, MicrosoftCalendarMap, MicrosoftConnection, MicrosoftCopy, MicrosoftMirroredEvent,
    MicrosoftReadState, MicrosoftWriteError, MirroredEvent,
)


@dataclass(frozen=True)
class Tables:
    """One provider's tables, and the direction value that means "read only". A read-only
    provider (ICS URLs) has no calendar maps, copies or write errors: None."""

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
# ICS URLs (server/ics/): read only, a source is the connection; nothing is ever written.
ICS = Tables(IcsSource, None, IcsReadState, None, None, IcsMirroredEvent, "from_ics")

# Every provider's tables by its name (Provider.name): what the sync health views (freshness of
# the sources that block booking, alerts, `bookingcal sync status`, metrics) go through. A new
# provider adds its set here (and its SourceKind in server/sync/sources.py).
BY_PROVIDER: dict[str, Tables] = {"google": GOOGLE, "microsoft": MICROSOFT, "caldav": CALDAV,
                                  "ics": ICS}

"""SQLAlchemy models of the booking database. Every row belongs to one business (tenant).

Instants are stored as naive UTC (`UTCDateTime` converts); bookings and blocked time also keep their
local wall-clock time and zone, so a future booking keeps its local time if DST rules change.

One module per subsystem (base, bookings, links, admin, google, microsoft, caldav, ics,
health, directory); `indexes` adds the partial indexes spanning providers. Import models from here.
"""

from __future__ import annotations

from server.db.models.base import Base, Meta, UTCDateTime
from server.db.models.bookings import (
    ApiKey, BlockedTime, Booking, Business, Calendar, Client, JournalEntry, OpeningException,
    OpeningHours, Service,
)
from server.db.models.links import (
    AccountAlarm, CalendarEditRefusal, Link, LinkCalendar, PersonalCalendar, PhoneTask,
    RenderedItem,
)
from server.db.models.google import (
    GoogleCalendarMap, GoogleConnection, GoogleCopy, GoogleOAuthState, GoogleReadState,
    GoogleWriteError, MirroredEvent,
)
from server.db.models.admin import AdminSession, AdminUser
from server.db.models.microsoft import (
    MicrosoftCalendarMap, MicrosoftConnection, MicrosoftCopy, MicrosoftMirroredEvent,
    MicrosoftOAuthState, MicrosoftReadState, MicrosoftWriteError,
)
from server.db.models.ics import IcsMirroredEvent, IcsReadState, IcsSource
from server.db.models.health import (
    SyncAlert, SyncFullRead, SyncJob, WebhookAttempt, WebhookDelivery,
)
from server.db.models.caldav import (
    CalDAVCalendarMap, CalDAVConnection, CalDAVCopy, CalDAVFormerConnection,
    CalDAVMirroredEvent, CalDAVReadState, CalDAVWriteError,
)
from server.db.models.directory import KeyDirectoryEntry
from server.db.models.indexes import NEEDS_RECONNECT_SQL

__all__ = [
    "AccountAlarm", "AdminSession", "AdminUser", "ApiKey", "Base", "BlockedTime", "Booking",
    "Business", "CalDAVCalendarMap", "CalDAVConnection", "CalDAVCopy",
    "CalDAVFormerConnection", "CalDAVMirroredEvent",
    "CalDAVReadState", "CalDAVWriteError", "Calendar", "CalendarEditRefusal", "Client",
    "GoogleCalendarMap", "GoogleConnection", "GoogleCopy", "GoogleOAuthState",
    "GoogleReadState", "GoogleWriteError", "IcsMirroredEvent", "IcsReadState", "IcsSource",
    "JournalEntry", "KeyDirectoryEntry", "Link", "LinkCalendar", "Meta", "MicrosoftCalendarMap",
    "MicrosoftConnection", "MicrosoftCopy", "MicrosoftMirroredEvent", "MicrosoftOAuthState",
    "MicrosoftReadState", "MicrosoftWriteError", "MirroredEvent", "NEEDS_RECONNECT_SQL",
    "OpeningException", "OpeningHours", "PersonalCalendar", "PhoneTask", "RenderedItem",
    "Service",
    "SyncAlert", "SyncFullRead", "SyncJob", "UTCDateTime", "WebhookAttempt", "WebhookDelivery",
]

"""Private links and what they publish: the links, their calendars, a writable account's alarms
and personal calendars, refused calendar edits, and the render cache."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models.base import Base, UTCDateTime


class Link(Base):
    """A private link: a secret token that shows a scope of calendars through one redaction
    profile. The token is stored as a keyed hash (for lookup) and encrypted (so that an admin can
    display the link again), never in plain text."""

    __tablename__ = "links"
    __table_args__ = (
        CheckConstraint("scope IN ('calendar', 'set', 'all')", name="link_scope"),
        CheckConstraint("profile IN ('full', 'limited', 'busy', 'slots')", name="link_profile"),
        # The token hash is unique in the installation by the key directory
        # (server/db/key_directory.py).
        UniqueConstraint("token_hash", "business_id", name="uq_links_token_hash"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    scope: Mapped[str] = mapped_column(String(16))
    profile: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(200), default="")
    token_hash: Mapped[str] = mapped_column(String(64))
    token_encrypted: Mapped[str] = mapped_column(Text)
    # An alarm on the link's bookings, this many minutes before each starts (None: no alarm).
    reminder_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The service whose open slots a `slots` link shows (None for every other profile). No
    # foreign key: the link checks it against its business when it is set and when it is read.
    service_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # A writable link (one employee calendar, profile full): its CalDAV account may write.
    writable: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # A writable account's own change counter: bumped when its phone's alarms on a booking
    # change (account_alarms.seq), part of its sync token and ctag (no journal entry: the
    # booking itself did not change).
    alarm_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class LinkCalendar(Base):
    """The calendars of a link whose scope is one calendar or a chosen set."""

    __tablename__ = "link_calendars"
    link_id: Mapped[int] = mapped_column(ForeignKey("links.id", ondelete="CASCADE"),
                                         primary_key=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"),
                                             primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             primary_key=True, index=True)


class AccountAlarm(Base):
    """The alarms a writable account's phone added to one of our bookings: kept for that
    account (served back to it only), never on the booking. `version` changes its ETag."""

    __tablename__ = "account_alarms"
    __table_args__ = (Index("ix_account_alarms_link_seq", "link_id", "seq"),)
    link_id: Mapped[int] = mapped_column(ForeignKey("links.id", ondelete="CASCADE"),
                                         primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"),
                                            primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             primary_key=True, index=True)
    text: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The link's alarm_seq when this row last changed: what a sync since a position lists.
    seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class PersonalCalendar(Base):
    """A calendar a writable account made (MKCALENDAR) beside its employee's calendar: its
    events are the employee's personal events (blocked_times.collection_id), shown through
    redaction in the employee's other links; `blocks` says whether they block booking."""

    __tablename__ = "personal_calendars"
    __table_args__ = (UniqueConstraint("calendar_id", "slug", "business_id",
                                       name="uq_personal_calendar_slug"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"))
    # Its name in the URL as the phone chose it (any printable text:
    # server/domain/resource_names.py).
    slug: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200))
    blocks: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    # Its CalDAV calendar-color, "#RRGGBB" or "#RRGGBBAA" as the phone sent it (None: removed,
    # then it shows none); made with its employee calendar's colour unless the phone chose.
    colour: Mapped[str | None] = mapped_column(String(9), nullable=True)
    # What it holds (CalDAV supported-calendar-component-set, chosen by MKCALENDAR): "VEVENT",
    # "VTODO" or both, comma-separated.
    components: Mapped[str] = mapped_column(String(32), default="VEVENT,VTODO",
                                            server_default="VEVENT,VTODO")
    # Who made it ("link:<id>").
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PhoneTask(Base):
    """A task (VTODO: a phone's reminder or to-do) a writable account put in one of its
    employee's personal calendars: the client's text kept as sent, served back to that
    employee's writable accounts only. It takes no time: it never blocks booking and no other
    view (feeds, other links, providers' copies, free/busy, availability) reads this table.
    Changes are journaled on the employee's calendar (kind "task"), for the accounts' sync."""

    __tablename__ = "phone_tasks"
    __table_args__ = (
        # One UID per calendar across its tasks; blocked times and bookings are checked too.
        UniqueConstraint("calendar_id", "uid", "business_id", name="uq_phone_task_uid"),
        Index("ix_phone_tasks_collection", "collection_id", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"))
    collection_id: Mapped[int] = mapped_column(ForeignKey("personal_calendars.id",
                                                          ondelete="CASCADE"))
    uid: Mapped[str] = mapped_column(String(255))  # as sent (resource_names.MAX_UID)
    source_text: Mapped[str] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CalendarEditRefusal(Base):
    """An edit made in a provider's calendar to our copy of a booking that the booking rules
    refused (the copy was written again): shown in the provider's status and the admin page.
    The newest few per business are kept."""

    __tablename__ = "calendar_edit_refusals"
    __table_args__ = (Index("ix_edit_refusals_business_id", "business_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(16))
    booking_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(8))  # "move" or "cancel"
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class RenderedItem(Base):
    """An item's iCalendar text for one profile, as of journal sequence `seq` and renderer
    `version`: rendered once on first read, served many times. The item's business is part of
    the key (the distribution column of a sharded cluster, docs/scaling.md)."""

    __tablename__ = "rendered_items"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    item_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile: Mapped[str] = mapped_column(String(16), primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             primary_key=True, index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)

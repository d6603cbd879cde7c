"""The declarative base, the UTC date-time column type, and `meta` (installation-wide values)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, DateTime, Integer, String, Text, TypeDecorator, false
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored naive in UTC on every engine."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC instant is expected")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.timezone.utc)


class Base(DeclarativeBase):
    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        """A row of a business is written by the ORM as `WHERE id = ? AND business_id = ?`:
        every UPDATE and DELETE of a flush names its business (a single-shard statement on a
        cluster distributed by business_id, docs/scaling.md), and a row found under another
        business is never written. SQLAlchemy's version column does exactly that with its
        generator off: the loaded value joins the WHERE and is never changed (a row does not
        move between businesses). Tables keyed by business_id already need nothing."""
        column = cls.__table__.c.get("business_id")  # type: ignore[attr-defined]
        if column is None or column.primary_key:
            return {}
        return {"version_id_col": column, "version_id_generator": False}


class ResumableRead:
    """A read state's columns for a read of its remote calendar that spans turns
    (server/sync/reading.py): a pass reads at most a turn's worth of events per calendar (a
    first import of 200,000 events is many turns), stores them, and notes where the next turn
    goes on. None of it is set between reads."""

    # The provider's page to go on from (Google's pageToken, Graph's nextLink).
    page_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    # When the read began: its listing's window, and the mark of the rows it listed.
    read_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    read_full: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    read_items: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SeenCopy:
    """A copy's last sign of life in the provider: written by us, or listed by a full read
    that spans turns, which finds by it the copies it did not list (server/sync/reading.py)."""

    seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Meta(Base):
    """Installation-wide values, such as the database epoch (new on restore from backup)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)

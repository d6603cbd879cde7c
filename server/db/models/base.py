"""The declarative base, the UTC date-time column type, and `meta` (installation-wide values)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime, String, Text, TypeDecorator
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


class Meta(Base):
    """Installation-wide values, such as the database epoch (new on restore from backup)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)

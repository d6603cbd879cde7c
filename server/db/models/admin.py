"""Accounts of the admin pages and their sessions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models.base import Base, UTCDateTime


class AdminUser(Base):
    """A person who signs in to the admin pages of one business. The password is kept as an
    argon2id hash only."""

    __tablename__ = "admin_users"
    # The address is unique in the installation by the key directory
    # (server/db/key_directory.py): it names one business's account.
    __table_args__ = (UniqueConstraint("email", "business_id", name="uq_admin_users_email"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    email: Mapped[str] = mapped_column(String(320))  # stored lower-case
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AdminSession(Base):
    """A signed-in browser. The cookie holds a random token; only its keyed hash is stored, so
    a copy of the database opens no session. Deleting the row signs the browser out."""

    __tablename__ = "admin_sessions"
    __table_args__ = (UniqueConstraint("token_hash", "business_id",
                                       name="uq_admin_sessions_token_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("admin_users.id", ondelete="CASCADE"),
                                         index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

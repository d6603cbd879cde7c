"""The key directory: which business owns a key that is looked up before the business is known
(a link's token hash, an API key's hash, an admin's e-mail or session hash, an OAuth state's
hash). Installation-wide: on a sharded cluster a reference table, replicated to every node, so
that the lookup it serves is a primary-key read on any node and the owning row is then read
from its business's shard. Kept by server/db/key_directory.py."""

from __future__ import annotations

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models.base import Base


class KeyDirectoryEntry(Base):
    """One key: (kind, key) -> the business whose row holds it. No foreign key to businesses (a
    reference table cannot refer to a distributed one): deleting a business removes its entries
    in the same transaction (server/domain/businesses.py)."""

    __tablename__ = "key_directory"
    __table_args__ = (Index("ix_key_directory_business_id", "business_id"),)
    kind: Mapped[str] = mapped_column(String(24), primary_key=True)
    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    business_id: Mapped[int] = mapped_column(Integer)

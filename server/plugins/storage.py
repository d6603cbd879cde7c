"""Radicale storage plugin: the booking database, through server/storage_backend.py."""

from server.storage_backend import Storage

__all__ = ["Storage"]

"""The booking database: models, engine and sessions, migrations, backup."""

from server.db.engine import Database

__all__ = ["Database"]

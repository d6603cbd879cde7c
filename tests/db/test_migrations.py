"""Migrations reach the newest schema from an empty database, and again from any older one."""

from __future__ import annotations

from sqlalchemy import inspect

from server.db.engine import engine_for
from server.db.migrate import current_revision, head_revision, upgrade
from server.db.models import Base

from alembic import command
from alembic.config import Config as AlembicConfig

from server.db.migrate import MIGRATIONS


def test_empty_database_reaches_the_newest_schema(database_url: str) -> None:
    engine = engine_for(database_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision(engine)
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        upgrade(engine)  # a second run changes nothing
        assert current_revision(engine) == head_revision(engine)
    finally:
        engine.dispose()


def test_the_migrated_schema_matches_the_models(database_url: str) -> None:
    """Autogenerate finds no difference: the models and the migrations describe one schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = engine_for(database_url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            differences = compare_metadata(context, Base.metadata)
        assert differences == []
    finally:
        engine.dispose()


def test_downgrade_to_empty_and_up_again(database_url: str) -> None:
    engine = engine_for(database_url)
    try:
        upgrade(engine)
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, "base")
        assert "bookings" not in inspect(engine).get_table_names()
        upgrade(engine)
        assert current_revision(engine) == head_revision(engine)
    finally:
        engine.dispose()

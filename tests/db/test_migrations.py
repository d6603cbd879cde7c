"""Migrations reach the newest schema from an empty database, and again from any older one."""

from __future__ import annotations

from typing import Any

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


def _business_form(differences: list[Any]) -> tuple[list[Any], set[Any], set[Any]]:
    """Splits autogenerate's differences: on PostgreSQL each reference between two rows of a
    business also carries business_id (migration 0034, for Citus) where the models keep the
    single-column form SQLite enforces; each such reference shows as a remove_fk (the
    database's) and an add_fk (the model's). Returns the other differences and both sides."""
    others, database, models = [], set(), set()
    for difference in differences:
        if isinstance(difference, tuple) and difference[0] in ("remove_fk", "add_fk"):
            constraint = difference[1]
            columns = tuple(column.name for column in constraint.columns
                            if column.name != "business_id")
            shape = (constraint.table.name, columns, constraint.referred_table.name)
            (database if difference[0] == "remove_fk" else models).add(shape)
        else:
            others.append(difference)
    return others, database, models


def test_the_migrated_schema_matches_the_models(database_url: str) -> None:
    """Autogenerate finds no difference: the models and the migrations describe one schema
    (on PostgreSQL, with every reference within a business also carrying business_id)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = engine_for(database_url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            differences = compare_metadata(context, Base.metadata)
        if engine.dialect.name == "postgresql":
            differences, database, models = _business_form(differences)
            assert database == models and len(models) > 30, sorted(database ^ models)
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

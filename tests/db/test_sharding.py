"""The schema shards by business (docs/scaling.md, "Sharding by business"): every table of a
business carries `business_id` (NOT NULL, a foreign key to businesses, indexed), and every
unique constraint or primary key includes it, since a distributed PostgreSQL (Citus) enforces
uniqueness only within a shard. What does not is listed here with its reason."""

from __future__ import annotations

from sqlalchemy import PrimaryKeyConstraint, Table, UniqueConstraint

from server.db.models import Base

# Tables that are not a business's: replicated to every node (a reference table) or kept on the
# coordinator.
NOT_DISTRIBUTED = {
    "businesses": "the distribution key itself (its id)",
    "meta": "installation-wide values (database epoch, key versions): a reference table",
    "sync_jobs": "installation-wide bridge jobs (the health notifier's lease), of no business: "
                 "a reference table",
    "key_directory": "which business owns a key looked up before the business is known "
                     "(server/db/key_directory.py): a reference table, read on any node",
}

# Keys looked up before the business is known (link tokens, API keys, admin e-mails and sessions,
# OAuth states) are unique in the installation by the key directory (a reference table) and
# unique with business_id in their tables: none is listed here, so a new unscoped unique key
# fails. Keep it empty; a key that must be unique alone goes through the directory too.
GLOBAL_UNIQUES: dict[tuple[str, tuple[str, ...]], str] = {}
# Reference tables that carry a business id without being a business's rows.
REFERENCES_A_BUSINESS = {"key_directory"}


def _tables() -> list[Table]:
    return [table for table in Base.metadata.sorted_tables
            if table.name not in NOT_DISTRIBUTED]


def _keys(table: Table) -> list[tuple[str, ...]]:
    """Every set of columns the table keeps unique: its primary key, unique constraints,
    unique columns and unique indexes."""
    keys = [tuple(c.name for c in table.primary_key.columns)]
    keys += [tuple(c.name for c in constraint.columns) for constraint in table.constraints
             if isinstance(constraint, UniqueConstraint)
             and not isinstance(constraint, PrimaryKeyConstraint)]
    keys += [(column.name,) for column in table.columns if column.unique]
    keys += [tuple(c.name for c in index.columns) for index in table.indexes if index.unique]
    return keys


def test_every_table_of_a_business_carries_business_id() -> None:
    missing, nullable, no_foreign_key, no_index = [], [], [], []
    for table in _tables():
        column = table.columns.get("business_id")
        if column is None:
            missing.append(table.name)
            continue
        if column.nullable:
            nullable.append(table.name)
        if not any(fk.column.table.name == "businesses" for fk in column.foreign_keys):
            no_foreign_key.append(table.name)
        # Deleting a business cascades: each table is found by an index led by business_id.
        led = [index.columns[0].name for index in table.indexes] + [
            constraint.columns[0].name for constraint in table.constraints
            if isinstance(constraint, UniqueConstraint) and constraint.columns]
        if "business_id" not in led and not column.unique:
            no_index.append(table.name)
    assert missing == [], f"tables without business_id (add it, or list why): {missing}"
    assert nullable == [], f"business_id may be NULL in: {nullable}"
    assert no_foreign_key == [], f"business_id is no foreign key to businesses in: {no_foreign_key}"
    assert no_index == [], f"no index led by business_id in: {no_index}"


def test_every_unique_key_of_a_distributed_table_includes_business_id() -> None:
    wrong = []
    for table in _tables():
        for key in _keys(table):
            if "business_id" in key or (table.name, key) in GLOBAL_UNIQUES:
                continue
            # A surrogate id from a sequence is unique by itself; on a distributed cluster the
            # primary key becomes (id, business_id) when the table is distributed.
            if key == ("id",) and table.primary_key.columns.keys() == ["id"]:
                continue
            wrong.append(f"{table.name}{key}")
    assert wrong == [], f"unique keys without business_id (add it, or list why): {wrong}"


def test_the_listed_exceptions_still_exist() -> None:
    """A stale entry would hide the next table added without business_id."""
    tables = {table.name: table for table in Base.metadata.sorted_tables}
    assert set(NOT_DISTRIBUTED) <= set(tables)
    for table_name, key in GLOBAL_UNIQUES:
        assert key in _keys(tables[table_name]), (table_name, key)
    for table_name in NOT_DISTRIBUTED:
        if table_name != "businesses" and table_name not in REFERENCES_A_BUSINESS:
            assert "business_id" not in tables[table_name].columns, table_name

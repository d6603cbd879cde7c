"""Changing a SQLite table that ALTER TABLE cannot change (a column's declared type, a unique
key, a primary key): the table is rebuilt with its CREATE TABLE text edited, by SQLite's
documented procedure (https://sqlite.org/lang_altertable.html, "other kinds of table schema
changes"). Foreign keys are switched off in a transaction of their own (SQLite ignores the
pragma inside one; with them on, dropping the old table would cascade to its children) and
checked before the commit. Used by migrations 0030 and 0032."""

from __future__ import annotations

import re

from alembic import op


def rebuild(edits: dict[str, tuple[str, str]], revision: str) -> None:
    """Rebuild each table of `edits` (table -> (pattern, replacement) applied to its CREATE
    TABLE text), rows and indexes kept. A table whose text the pattern no longer changes (a
    run cut short after its commit) is left alone. `revision` names the migration in the
    error raised when rows would lose their parent."""
    bind = op.get_bind()
    bind.exec_driver_sql("COMMIT")
    bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
    bind.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        for table, (pattern, replacement) in edits.items():
            sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' "
                                       "AND name = ?", (table,)).scalar_one()
            new = re.sub(pattern, replacement, sql)
            if new == sql:
                continue
            new = re.sub(r'^CREATE TABLE "?' + table + r'"? \(', f'CREATE TABLE _new_{table} (',
                         new)
            indexes = [row[0] for row in bind.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                "AND sql IS NOT NULL", (table,))]
            bind.exec_driver_sql(new)
            bind.exec_driver_sql(f"INSERT INTO _new_{table} SELECT * FROM {table}")
            bind.exec_driver_sql(f"DROP TABLE {table}")
            bind.exec_driver_sql(f"ALTER TABLE _new_{table} RENAME TO {table}")
            for index in indexes:
                bind.exec_driver_sql(index)
        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"{revision} left rows without their parent: {broken[:5]}")
        bind.exec_driver_sql("COMMIT")
    except BaseException:
        bind.exec_driver_sql("ROLLBACK")
        bind.exec_driver_sql("PRAGMA foreign_keys=ON")
        bind.exec_driver_sql("BEGIN")
        raise
    bind.exec_driver_sql("PRAGMA foreign_keys=ON")
    bind.exec_driver_sql("BEGIN")

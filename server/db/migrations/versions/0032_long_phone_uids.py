"""a phone's UIDs may be up to 255 characters: blocked_times.uid, phone_tasks.uid and
journal.item_uid become VARCHAR(255) (were 64)

RFC 5545 sets no limit on a UID and real clients' run long (Outlook/Exchange: 112 and more hex
digits; an iPhone copying an Outlook invitation into a personal calendar keeps it);
server/domain/resource_names.py MAX_UID checks them. Their unique keys and indexes stay as
they are (a btree entry of 255 characters is far below PostgreSQL's ~2.7 kB).

PostgreSQL widens the columns in place (a catalogue change: no rewrite, no index rebuild).
SQLite does not enforce the length but keeps the declared type; it rebuilds the three tables
with the type edited in their CREATE TABLE text (CHECK and named UNIQUE constraints kept
as written, rows and indexes copied) by its documented procedure, foreign keys off in a
transaction of its own, as 0030 does (nothing references these tables). A downgrade refuses
while a longer UID is stored.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-04 04:00:00
"""
import re

from alembic import op
import sqlalchemy as sa


revision = '0032'
down_revision = '0031'
branch_labels = None
depends_on = None

COLUMNS = {'blocked_times': 'uid', 'phone_tasks': 'uid', 'journal': 'item_uid'}
LONG, SHORT = 255, 64


def _sqlite_retype(old: int, new: int) -> None:
    """Rebuild each table with its column's declared VARCHAR(old) edited to VARCHAR(new), rows
    and indexes kept, foreign keys off in a transaction of its own (SQLite ignores the pragma
    inside one). A table already edited (a run cut short after its commit) is left alone."""
    bind = op.get_bind()
    bind.exec_driver_sql("COMMIT")
    bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
    bind.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        for table, column in COLUMNS.items():
            sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' "
                                       "AND name = ?", (table,)).scalar_one()
            new_sql, edits = re.subn(r'(?m)^(\s*"?' + column + r'"? )VARCHAR\(' + str(old)
                                     + r'\)', rf'\g<1>VARCHAR({new})', sql)
            if edits == 0:
                continue
            new_sql = re.sub(r'^CREATE TABLE "?' + table + r'"? \(',
                             f'CREATE TABLE _new_{table} (', new_sql)
            indexes = [row[0] for row in bind.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                "AND sql IS NOT NULL", (table,))]
            bind.exec_driver_sql(new_sql)
            bind.exec_driver_sql(f"INSERT INTO _new_{table} SELECT * FROM {table}")
            bind.exec_driver_sql(f"DROP TABLE {table}")
            bind.exec_driver_sql(f"ALTER TABLE _new_{table} RENAME TO {table}")
            for index in indexes:
                bind.exec_driver_sql(index)
        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"0032 left rows without their parent: {broken[:5]}")
        bind.exec_driver_sql("COMMIT")
    except BaseException:
        bind.exec_driver_sql("ROLLBACK")
        bind.exec_driver_sql("PRAGMA foreign_keys=ON")
        bind.exec_driver_sql("BEGIN")
        raise
    bind.exec_driver_sql("PRAGMA foreign_keys=ON")
    bind.exec_driver_sql("BEGIN")


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table, column in COLUMNS.items():
            op.alter_column(table, column, type_=sa.String(length=LONG),
                            existing_type=sa.String(length=SHORT), existing_nullable=False)
    else:
        _sqlite_retype(SHORT, LONG)


def downgrade() -> None:
    bind = op.get_bind()
    for table, column in COLUMNS.items():
        longer = bind.exec_driver_sql(
            f"SELECT COUNT(*) FROM {table} WHERE LENGTH({column}) > {SHORT}").scalar_one()
        if longer:
            raise RuntimeError(f"cannot downgrade below 0032: {table}.{column} holds {longer} "
                               f"UID(s) longer than {SHORT} characters; remove those items "
                               "first")
    if bind.dialect.name == 'postgresql':
        for table, column in COLUMNS.items():
            op.alter_column(table, column, type_=sa.String(length=SHORT),
                            existing_type=sa.String(length=LONG), existing_nullable=False)
    else:
        _sqlite_retype(LONG, SHORT)

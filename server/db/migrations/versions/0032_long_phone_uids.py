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
from alembic import op
import sqlalchemy as sa

from server.db.migrations.sqlite_rebuild import rebuild


revision = '0032'
down_revision = '0031'
branch_labels = None
depends_on = None

COLUMNS = {'blocked_times': 'uid', 'phone_tasks': 'uid', 'journal': 'item_uid'}
LONG, SHORT = 255, 64


def _sqlite_retype(old: int, new: int) -> None:
    """Each column's declared VARCHAR(old) edited to VARCHAR(new), the tables rebuilt."""
    rebuild({table: (r'(?m)^(\s*"?' + column + r'"? )VARCHAR\(' + str(old) + r'\)',
                     rf'\g<1>VARCHAR({new})') for table, column in COLUMNS.items()}, '0032')


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

"""a CalDAV connection's calendar user addresses (NULL: not discovered; the user name stands in);
write errors the engine gave up retrying (gave_up, on every provider's write-error table)

Revision ID: 0029
Revises: 0027
Create Date: 2026-12-03 19:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None

WRITE_ERRORS = ('google_write_errors', 'microsoft_write_errors', 'caldav_write_errors')


def upgrade() -> None:
    op.add_column('caldav_connections', sa.Column('addresses', sa.Text(), nullable=True))
    for table in WRITE_ERRORS:
        op.add_column(table, sa.Column('gave_up', sa.Boolean(), nullable=False,
                                       server_default=sa.false()))


def _drop(table: str, column: str) -> None:
    """Drop a plain column in place: on SQLite (3.35 and later) by ALTER TABLE, not by
    copying the table, whose DROP would cascade to the rows referring to it."""
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(f'ALTER TABLE {table} DROP COLUMN {column}')
    else:
        op.drop_column(table, column)


def downgrade() -> None:
    for table in WRITE_ERRORS:
        _drop(table, 'gave_up')
    _drop('caldav_connections', 'addresses')

"""a CalDAV connection's calendar user addresses (NULL: not discovered; the user name stands in);
write errors the engine gave up retrying (gave_up, on every provider's write-error table)

Revision ID: 0029
Revises: 0027
Create Date: 2026-12-03 19:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0029'
down_revision = '0027'
branch_labels = None
depends_on = None

WRITE_ERRORS = ('google_write_errors', 'microsoft_write_errors', 'caldav_write_errors')


def upgrade() -> None:
    op.add_column('caldav_connections', sa.Column('addresses', sa.Text(), nullable=True))
    for table in WRITE_ERRORS:
        op.add_column(table, sa.Column('gave_up', sa.Boolean(), nullable=False,
                                       server_default=sa.false()))


def downgrade() -> None:
    for table in WRITE_ERRORS:
        with op.batch_alter_table(table) as batch:
            batch.drop_column('gave_up')
    with op.batch_alter_table('caldav_connections') as batch:
        batch.drop_column('addresses')

"""a CalDAV connection's calendar user addresses (NULL: not discovered; the user name stands in)

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


def upgrade() -> None:
    op.add_column('caldav_connections', sa.Column('addresses', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('caldav_connections') as batch:
        batch.drop_column('addresses')

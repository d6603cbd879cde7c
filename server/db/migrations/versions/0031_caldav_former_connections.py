"""the row ids of forgotten CalDAV connections, under a keyed hash of their account in the
business (caldav_former_connections): copies named by the former scheme (keyed by the
connection's row) are adopted when the same account is connected again under a new row

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-04 03:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('caldav_former_connections',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('business_id', sa.Integer(), nullable=False),
                    sa.Column('owner_hash', sa.String(length=64), nullable=False),
                    sa.Column('connection_id', sa.Integer(), nullable=False),
                    sa.Column('forgotten_at', sa.DateTime(), nullable=False),
                    sa.ForeignKeyConstraint(['business_id'], ['businesses.id'],
                                            ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('business_id', 'owner_hash', 'connection_id',
                                        name='uq_caldav_former_connections_row'))


def downgrade() -> None:
    op.drop_table('caldav_former_connections')

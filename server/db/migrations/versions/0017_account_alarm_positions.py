"""a writable account's alarm changes advance its sync token

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 08:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, as in 0014 (a batch copy of links would cascade-delete rows).
    op.add_column('links', sa.Column('alarm_seq', sa.BigInteger(), nullable=False,
                                     server_default='0'))
    op.add_column('account_alarms', sa.Column('seq', sa.BigInteger(), nullable=False,
                                              server_default='0'))
    op.create_index('ix_account_alarms_link_seq', 'account_alarms', ['link_id', 'seq'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_account_alarms_link_seq', table_name='account_alarms')
    op.drop_column('account_alarms', 'seq')
    op.drop_column('links', 'alarm_seq')

"""writable accounts: alarm changes advance the account's sync token; overridden instances
and RDATEs of a phone's event stored at their own times (blocked_times.parent_id)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 08:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0020'
down_revision = '0019'
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
    op.add_column('blocked_times', sa.Column('parent_id', sa.Integer(), nullable=True))
    op.create_index('ix_blocked_times_parent_id', 'blocked_times', ['parent_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_blocked_times_parent_id', table_name='blocked_times')
    op.drop_column('blocked_times', 'parent_id')
    op.drop_index('ix_account_alarms_link_seq', table_name='account_alarms')
    op.drop_column('account_alarms', 'seq')
    op.drop_column('links', 'alarm_seq')

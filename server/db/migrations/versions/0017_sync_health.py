"""sync health: the business's stale-data policy, alerts, webhook deliveries, leased jobs,
weekly full reads

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
    # Plain ALTER TABLE, as in 0007 (a batch copy would cascade-delete rows pointing here).
    op.add_column('businesses', sa.Column('stale_policy', sa.String(length=16), nullable=False,
                                          server_default='offer'))
    op.create_table('sync_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('business_id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=1100), nullable=False),
    sa.Column('problem', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(), nullable=False),
    sa.Column('notified_at', sa.DateTime(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('recovered_sent_at', sa.DateTime(), nullable=True),
    sa.Column('mail_failures', sa.Integer(), server_default='0', nullable=False),
    sa.Column('retry_at', sa.DateTime(), nullable=True),
    sa.Column('problem_queued', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('recovery_queued', sa.Boolean(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['business_id'], ['businesses.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_sync_alerts_business_id', 'sync_alerts', ['business_id'], unique=False)
    op.create_index('ix_sync_alerts_open', 'sync_alerts',
                    ['resolved_at', 'provider', 'connection_id'], unique=False)
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('business_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('delivered_at', sa.DateTime(), nullable=True),
    sa.Column('gave_up_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['business_id'], ['businesses.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_webhook_deliveries_business_id', 'webhook_deliveries', ['business_id'],
                    unique=False)
    op.create_index('ix_webhook_deliveries_due', 'webhook_deliveries',
                    ['delivered_at', 'gave_up_at', 'next_attempt_at'], unique=False)
    op.create_table('webhook_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['delivery_id'], ['webhook_deliveries.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_webhook_attempts_delivery_id', 'webhook_attempts', ['delivery_id'],
                    unique=False)
    op.create_table('sync_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_until', sa.DateTime(), nullable=True),
    sa.Column('last_run_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('sync_full_reads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('read_table', sa.String(length=64), nullable=False),
    sa.Column('read_state_id', sa.Integer(), nullable=False),
    sa.Column('full_read_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('read_table', 'read_state_id')
    )


def downgrade() -> None:
    op.drop_table('sync_full_reads')
    op.drop_table('sync_jobs')
    op.drop_index('ix_webhook_attempts_delivery_id', table_name='webhook_attempts')
    op.drop_table('webhook_attempts')
    op.drop_index('ix_webhook_deliveries_due', table_name='webhook_deliveries')
    op.drop_index('ix_webhook_deliveries_business_id', table_name='webhook_deliveries')
    op.drop_table('webhook_deliveries')
    op.drop_index('ix_sync_alerts_open', table_name='sync_alerts')
    op.drop_index('ix_sync_alerts_business_id', table_name='sync_alerts')
    op.drop_table('sync_alerts')
    op.drop_column('businesses', 'stale_policy')

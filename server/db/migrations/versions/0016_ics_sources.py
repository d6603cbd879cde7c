"""ics url sources

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 08:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ics_sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('business_id', sa.Integer(), nullable=False),
    sa.Column('calendar_id', sa.Integer(), nullable=False),
    sa.Column('url_encrypted', sa.Text(), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('direction', sa.String(length=16), nullable=False),
    sa.Column('block_online_booking', sa.Boolean(), nullable=False),
    sa.Column('block_out_of_office', sa.Boolean(), nullable=False),
    sa.Column('block_tentative', sa.Boolean(), nullable=False),
    sa.Column('block_all_day', sa.Boolean(), nullable=False),
    sa.Column('interval_seconds', sa.Integer(), nullable=True),
    sa.Column('feed_interval_seconds', sa.Integer(), nullable=True),
    sa.Column('next_poll_at', sa.DateTime(), nullable=True),
    sa.Column('paused_until', sa.DateTime(), nullable=True),
    sa.Column('last_sync_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', sa.DateTime(), nullable=True),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_until', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status IN ('connected', 'needs_reconnect', 'paused')", name='ics_status'),
    sa.ForeignKeyConstraint(['business_id'], ['businesses.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['calendar_id'], ['calendars.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ics_sources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ics_sources_business_id'), ['business_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ics_sources_calendar_id'), ['calendar_id'], unique=False)
        batch_op.create_index('ix_ics_sources_next_poll', ['status', 'next_poll_at'], unique=False)

    op.create_table('ics_read_states',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('google_calendar', sa.String(length=64), nullable=False),
    sa.Column('sync_token', sa.Text(), nullable=True),
    sa.Column('synced_at', sa.DateTime(), nullable=True),
    sa.Column('pull_requested', sa.Boolean(), nullable=False),
    sa.Column('max_span_seconds', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['ics_sources.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('connection_id', 'google_calendar')
    )
    with op.batch_alter_table('ics_read_states', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ics_read_states_connection_id'), ['connection_id'], unique=False)

    op.create_table('ics_mirrored_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('business_id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('google_calendar', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=1024), nullable=False),
    sa.Column('recurring_event_id', sa.String(length=1024), nullable=True),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('all_day', sa.Boolean(), nullable=False),
    sa.Column('start_utc', sa.DateTime(), nullable=False),
    sa.Column('end_utc', sa.DateTime(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('transparency', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('event_type', sa.String(length=32), nullable=False),
    sa.Column('self_response', sa.String(length=16), nullable=True),
    sa.Column('blocks', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['business_id'], ['businesses.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['connection_id'], ['ics_sources.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('connection_id', 'google_calendar', 'event_id')
    )
    with op.batch_alter_table('ics_mirrored_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ics_mirrored_events_business_id'), ['business_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ics_mirrored_events_connection_id'), ['connection_id'], unique=False)
        batch_op.create_index('ix_ics_mirrored_connection_calendar_start', ['connection_id', 'google_calendar', 'start_utc'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ics_mirrored_events', schema=None) as batch_op:
        batch_op.drop_index('ix_ics_mirrored_connection_calendar_start')
        batch_op.drop_index(batch_op.f('ix_ics_mirrored_events_connection_id'))
        batch_op.drop_index(batch_op.f('ix_ics_mirrored_events_business_id'))
    op.drop_table('ics_mirrored_events')
    with op.batch_alter_table('ics_read_states', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ics_read_states_connection_id'))
    op.drop_table('ics_read_states')
    with op.batch_alter_table('ics_sources', schema=None) as batch_op:
        batch_op.drop_index('ix_ics_sources_next_poll')
        batch_op.drop_index(batch_op.f('ix_ics_sources_calendar_id'))
        batch_op.drop_index(batch_op.f('ix_ics_sources_business_id'))
    op.drop_table('ics_sources')

"""caldav sources

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 08:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('caldav_connections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('business_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('server_url', sa.String(length=1024), nullable=False),
    sa.Column('home_url', sa.String(length=1024), nullable=False),
    sa.Column('username', sa.String(length=320), nullable=False),
    sa.Column('password_encrypted', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('direction', sa.String(length=16), nullable=False),
    sa.Column('hide_client_details', sa.Boolean(), nullable=False),
    sa.Column('block_online_booking', sa.Boolean(), nullable=False),
    sa.Column('reminders', sa.Boolean(), nullable=False),
    sa.Column('block_out_of_office', sa.Boolean(), nullable=False),
    sa.Column('block_tentative', sa.Boolean(), nullable=False),
    sa.Column('block_all_day', sa.Boolean(), nullable=False),
    sa.Column('copy_version', sa.Integer(), nullable=False),
    sa.Column('paused_until', sa.DateTime(), nullable=True),
    sa.Column('last_sync_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', sa.DateTime(), nullable=True),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_until', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("direction IN ('both', 'to_caldav', 'from_caldav')", name='caldav_direction'),
    sa.CheckConstraint("status IN ('connected', 'needs_reconnect', 'paused')", name='caldav_status'),
    sa.ForeignKeyConstraint(['business_id'], ['businesses.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('caldav_connections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_caldav_connections_business_id'), ['business_id'], unique=False)

    op.create_table('caldav_calendar_maps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('calendar_id', sa.Integer(), nullable=False),
    sa.Column('write_calendar', sa.String(length=1024), nullable=False),
    sa.Column('read_calendar', sa.String(length=1024), nullable=False),
    sa.Column('sent_seq', sa.BigInteger(), nullable=False),
    sa.Column('backfilled', sa.Boolean(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', sa.DateTime(), nullable=True),
    sa.Column('failures', sa.Integer(), server_default='0', nullable=False),
    sa.Column('retry_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['calendar_id'], ['calendars.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['connection_id'], ['caldav_connections.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('calendar_id', name='uq_caldav_calendar_maps_calendar'),
    sa.UniqueConstraint('connection_id', 'calendar_id')
    )
    with op.batch_alter_table('caldav_calendar_maps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_caldav_calendar_maps_connection_id'), ['connection_id'], unique=False)

    op.create_table('caldav_copies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('calendar_id', sa.Integer(), nullable=False),
    sa.Column('google_calendar', sa.String(length=1024), nullable=False),
    sa.Column('event_id', sa.String(length=512), nullable=False),
    sa.Column('sent_seq', sa.BigInteger(), nullable=False),
    sa.Column('sent_version', sa.Integer(), nullable=False),
    sa.Column('etag', sa.String(length=256), nullable=True),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('restored_count', sa.Integer(), nullable=False),
    sa.Column('last_restored_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['caldav_connections.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('connection_id', 'event_id'),
    sa.UniqueConstraint('connection_id', 'kind', 'item_id')
    )
    with op.batch_alter_table('caldav_copies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_caldav_copies_connection_id'), ['connection_id'], unique=False)

    op.create_table('caldav_mirrored_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('business_id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('google_calendar', sa.String(length=1024), nullable=False),
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
    sa.ForeignKeyConstraint(['connection_id'], ['caldav_connections.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('connection_id', 'google_calendar', 'event_id')
    )
    with op.batch_alter_table('caldav_mirrored_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_caldav_mirrored_events_business_id'), ['business_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_caldav_mirrored_events_connection_id'), ['connection_id'], unique=False)
        batch_op.create_index('ix_caldav_mirrored_connection_calendar_start', ['connection_id', 'google_calendar', 'start_utc'], unique=False)
        batch_op.create_index('ix_caldav_mirrored_connection_series', ['connection_id', 'google_calendar', 'recurring_event_id'], unique=False)

    op.create_table('caldav_read_states',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('google_calendar', sa.String(length=1024), nullable=False),
    sa.Column('sync_token', sa.Text(), nullable=True),
    sa.Column('synced_at', sa.DateTime(), nullable=True),
    sa.Column('pull_requested', sa.Boolean(), nullable=False),
    sa.Column('max_span_seconds', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['caldav_connections.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('connection_id', 'google_calendar')
    )
    with op.batch_alter_table('caldav_read_states', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_caldav_read_states_connection_id'), ['connection_id'], unique=False)

    op.create_table('caldav_write_errors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('calendar_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('permanent', sa.Boolean(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('first_failed_at', sa.DateTime(), nullable=False),
    sa.Column('last_failed_at', sa.DateTime(), nullable=False),
    sa.Column('retry_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['caldav_connections.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('connection_id', 'kind', 'item_id')
    )
    with op.batch_alter_table('caldav_write_errors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_caldav_write_errors_connection_id'), ['connection_id'], unique=False)


def downgrade() -> None:
    for table in ('caldav_write_errors', 'caldav_read_states', 'caldav_mirrored_events',
                  'caldav_copies', 'caldav_calendar_maps', 'caldav_connections'):
        op.drop_table(table)

"""sync health: a business's own live-check age; indexes bounding the notifier's reads

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03 15:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


CONNECTIONS = ('google_connections', 'microsoft_connections', 'caldav_connections',
               'ics_sources')
FAILING = ('google_read_states', 'microsoft_read_states', 'caldav_read_states',
           'ics_read_states', 'google_calendar_maps', 'microsoft_calendar_maps',
           'caldav_calendar_maps')
PROBLEM = "status = 'needs_reconnect' OR last_error IS NOT NULL"


def upgrade() -> None:
    op.add_column('businesses', sa.Column('live_check_max_age_seconds', sa.Integer(),
                                          nullable=True))
    for table in CONNECTIONS:
        where = sa.text(PROBLEM)
        op.create_index(f'ix_{table}_problems', table, ['id'], unique=False,
                        sqlite_where=where, postgresql_where=where)
    for table in FAILING:
        where = sa.text('last_error IS NOT NULL')
        op.create_index(f'ix_{table}_failing', table, ['connection_id'], unique=False,
                        sqlite_where=where, postgresql_where=where)
    untold = sa.text('recovered_sent_at IS NULL')
    op.create_index('ix_sync_alerts_untold', 'sync_alerts', ['id'], unique=False,
                    sqlite_where=untold, postgresql_where=untold)
    undelivered = sa.text('mail_failures > 0')
    op.create_index('ix_sync_alerts_undelivered', 'sync_alerts', ['business_id'], unique=False,
                    sqlite_where=undelivered, postgresql_where=undelivered)


def downgrade() -> None:
    op.drop_index('ix_sync_alerts_undelivered', table_name='sync_alerts')
    op.drop_index('ix_sync_alerts_untold', table_name='sync_alerts')
    for table in FAILING:
        op.drop_index(f'ix_{table}_failing', table_name=table)
    for table in CONNECTIONS:
        op.drop_index(f'ix_{table}_problems', table_name=table)
    op.drop_column('businesses', 'live_check_max_age_seconds')

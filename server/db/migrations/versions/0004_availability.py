"""availability: per-service online booking rules, longest mirrored event span

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('services') as batch:
        batch.add_column(sa.Column('slot_step_minutes', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('min_notice_minutes', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('max_horizon_days', sa.Integer(), nullable=True))
    with op.batch_alter_table('google_read_states') as batch:
        batch.add_column(sa.Column('max_span_seconds', sa.Integer(), nullable=False,
                                   server_default='0'))
    # Events mirrored before this revision: their longest span, computed once.
    connection = op.get_bind()
    longest: dict[tuple[int, str], int] = {}
    for row in connection.execute(sa.text(
            "SELECT connection_id, google_calendar, start_utc, end_utc FROM mirrored_events")):
        start, end = row.start_utc, row.end_utc
        if isinstance(start, str):  # SQLite hands back text
            from datetime import datetime
            start, end = datetime.fromisoformat(start), datetime.fromisoformat(end)
        key = (row.connection_id, row.google_calendar)
        longest[key] = max(longest.get(key, 0), int((end - start).total_seconds()))
    for (connection_id, google_calendar), seconds in longest.items():
        connection.execute(sa.text(
            "UPDATE google_read_states SET max_span_seconds = :seconds "
            "WHERE connection_id = :cid AND google_calendar = :cal"),
            {"seconds": seconds, "cid": connection_id, "cal": google_calendar})


def downgrade() -> None:
    with op.batch_alter_table('google_read_states') as batch:
        batch.drop_column('max_span_seconds')
    with op.batch_alter_table('services') as batch:
        batch.drop_column('max_horizon_days')
        batch.drop_column('min_notice_minutes')
        batch.drop_column('slot_step_minutes')

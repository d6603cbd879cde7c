"""a phone's names and tasks: a personal calendar's name in its URL may be up to 128 characters
of any printable text; personal calendars say what they hold (VEVENT, VTODO); phone_tasks keeps
the tasks (VTODO) a writable account puts in them

vdirsyncer, Thunderbird and the like name a calendar as their user does ("test @ foo ät bar"
and a UUID); server/domain/resource_names.py checks the names.
Existing personal calendars hold events and tasks, as new ones do unless MKCALENDAR says.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-03 19:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Before phone_tasks references it: SQLite copies the table (nothing else references it).
    with op.batch_alter_table('personal_calendars') as batch_op:
        batch_op.alter_column('slug', type_=sa.String(length=128),
                              existing_type=sa.String(length=64), existing_nullable=False)
        batch_op.add_column(sa.Column('components', sa.String(length=32),
                                      server_default='VEVENT,VTODO', nullable=False))
    op.create_table(
        'phone_tasks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('business_id', sa.Integer(), nullable=False),
        sa.Column('calendar_id', sa.Integer(), nullable=False),
        sa.Column('collection_id', sa.Integer(), nullable=False),
        sa.Column('uid', sa.String(length=64), nullable=False),
        sa.Column('source_text', sa.Text(), nullable=False),
        sa.Column('revision', sa.Integer(), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['business_id'], ['businesses.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['calendar_id'], ['calendars.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['collection_id'], ['personal_calendars.id'],
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('calendar_id', 'uid', 'business_id', name='uq_phone_task_uid'),
    )
    op.create_index('ix_phone_tasks_business_id', 'phone_tasks', ['business_id'], unique=False)
    op.create_index('ix_phone_tasks_collection', 'phone_tasks', ['collection_id', 'id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_phone_tasks_collection', table_name='phone_tasks')
    op.drop_index('ix_phone_tasks_business_id', table_name='phone_tasks')
    op.drop_table('phone_tasks')
    with op.batch_alter_table('personal_calendars') as batch_op:
        batch_op.drop_column('components')
        batch_op.alter_column('slug', type_=sa.String(length=64),
                              existing_type=sa.String(length=128), existing_nullable=False)

"""business_id on every table of a business (the distribution column of a sharded cluster)

Each table that reached its business only through a parent (a connection, a link, an admin
user, a delivery, an item) gets `business_id` (NOT NULL, foreign key, indexed), filled from
that parent. Unique constraints (of these tables, and of the journal, blocked times, personal
calendars and mirrored events, which had the column) and the natural primary keys of
rendered_items, link_calendars and account_alarms take business_id as their last column: the
same uniqueness, since the parent belongs to one business, and the lookups by connection or
calendar keep their index prefix. The OAuth states get an index led by business_id.
Rows whose parent is gone (the render cache and the full-read log have no foreign key) are
dropped: both are rebuilt on demand. See docs/scaling.md, "Sharding by business".

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03 15:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None

# SQLite keeps unnamed table constraints: the batch copy names them by this convention.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}


def _from_connection(connections: str, table: str) -> str:
    return (f"(SELECT p.business_id FROM {connections} p "
            f"WHERE p.id = {table}.connection_id)")


def _full_read_owner() -> str:
    """A sync_full_reads row's business, through the read state it names."""
    cases = []
    for provider, connections in (('google', 'google_connections'),
                                  ('microsoft', 'microsoft_connections'),
                                  ('caldav', 'caldav_connections'), ('ics', 'ics_sources')):
        cases.append(f"WHEN '{provider}_read_states' THEN (SELECT c.business_id "
                     f"FROM {provider}_read_states s JOIN {connections} c "
                     f"ON c.id = s.connection_id "
                     f"WHERE s.id = sync_full_reads.read_state_id)")
    return "(CASE sync_full_reads.read_table " + " ".join(cases) + " END)"


# table -> SQL giving a row's business (a correlated subquery on its parent)
OWNERS: dict[str, str] = {
    'link_calendars': "(SELECT p.business_id FROM links p WHERE p.id = link_calendars.link_id)",
    'account_alarms': "(SELECT p.business_id FROM links p WHERE p.id = account_alarms.link_id)",
    'rendered_items': ("(CASE rendered_items.kind "
                       "WHEN 'booking' THEN (SELECT p.business_id FROM bookings p "
                       "WHERE p.id = rendered_items.item_id) "
                       "WHEN 'blocked' THEN (SELECT p.business_id FROM blocked_times p "
                       "WHERE p.id = rendered_items.item_id) END)"),
    'admin_sessions': ("(SELECT p.business_id FROM admin_users p "
                       "WHERE p.id = admin_sessions.user_id)"),
    'webhook_attempts': ("(SELECT p.business_id FROM webhook_deliveries p "
                         "WHERE p.id = webhook_attempts.delivery_id)"),
    'sync_full_reads': _full_read_owner(),
    'ics_read_states': _from_connection('ics_sources', 'ics_read_states'),
}
for _provider in ('google', 'microsoft', 'caldav'):
    for _kind in ('calendar_maps', 'read_states', 'copies', 'write_errors'):
        OWNERS[f'{_provider}_{_kind}'] = _from_connection(f'{_provider}_connections',
                                                          f'{_provider}_{_kind}')

# table -> its unique constraints: (columns before business_id, new name, old name or None
# where it was unnamed)
UNIQUES: dict[str, list[tuple[list[str], str, str | None]]] = {
    'sync_full_reads': [(['read_table', 'read_state_id'], 'uq_sync_full_reads_state', None)],
    'ics_read_states': [(['connection_id', 'google_calendar'], 'uq_ics_read_states_remote',
                         None)],
    'journal': [(['calendar_id', 'seq'], 'uq_journal_calendar_seq', 'uq_journal_calendar_seq')],
    'blocked_times': [(['calendar_id', 'uid'], 'uq_blocked_calendar_uid',
                       'uq_blocked_calendar_uid')],
    'personal_calendars': [(['calendar_id', 'slug'], 'uq_personal_calendar_slug',
                            'uq_personal_calendar_slug')],
}
for _provider in ('google', 'microsoft', 'caldav'):
    UNIQUES[f'{_provider}_calendar_maps'] = [
        (['connection_id', 'calendar_id'], f'uq_{_provider}_calendar_maps_connection_calendar',
         None)]
    UNIQUES[f'{_provider}_read_states'] = [
        (['connection_id', 'google_calendar'], f'uq_{_provider}_read_states_remote', None)]
    UNIQUES[f'{_provider}_copies'] = [
        (['connection_id', 'kind', 'item_id'], f'uq_{_provider}_copies_item', None),
        (['connection_id', 'event_id'], f'uq_{_provider}_copies_event', None)]
    UNIQUES[f'{_provider}_write_errors'] = [
        (['connection_id', 'kind', 'item_id'], f'uq_{_provider}_write_errors_item', None)]
UNIQUES['caldav_calendar_maps'].append((['calendar_id'], 'uq_caldav_calendar_maps_calendar',
                                        'uq_caldav_calendar_maps_calendar'))
for _mirror in ('mirrored_events', 'microsoft_mirrored_events', 'ics_mirrored_events',
                'caldav_mirrored_events'):
    UNIQUES[_mirror] = [(['connection_id', 'google_calendar', 'event_id'],
                         f'uq_{_mirror}_event', None)]

# Tables whose primary key (a natural, composite one) takes business_id as its last column.
KEYS: dict[str, list[str]] = {'rendered_items': ['kind', 'item_id', 'profile'],
                              'link_calendars': ['link_id', 'calendar_id'],
                              'account_alarms': ['link_id', 'booking_id']}

# The range indexes availability reads mirrored events by: built again after the widened unique
# index on PostgreSQL, which otherwise wins the planner's ties (an empty or small table).
RANGE_INDEXES = {'mirrored_events': 'ix_mirrored_connection_calendar_start',
                 'microsoft_mirrored_events': 'ix_ms_mirrored_connection_calendar_start',
                 'ics_mirrored_events': 'ix_ics_mirrored_connection_calendar_start',
                 'caldav_mirrored_events': 'ix_caldav_mirrored_connection_calendar_start'}

# Tables that had business_id without an index led by it (deleting a business scans them).
INDEXED = ['google_oauth_states', 'microsoft_oauth_states']

TABLES = list(OWNERS) + [table for table in UNIQUES if table not in OWNERS]


def _found(table: str, columns: list[str]) -> str | None:
    """The reflected name of the unique constraint on exactly these columns."""
    for found in sa.inspect(op.get_bind()).get_unique_constraints(table):
        if list(found['column_names']) == columns:
            return str(found['name']) if found['name'] else None
    return None


def _convention(table: str, columns: list[str]) -> str:
    """NAMING's name of an unnamed unique constraint (as the SQLite batch copy reflects it)."""
    return f"uq_{table}_{'_'.join(columns)}"


def _old_postgres(table: str, columns: list[str], old: str | None) -> str:
    return old or f"{table}_{'_'.join(columns)}_key"[:63]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == 'postgresql'
    for table in TABLES:
        if table in OWNERS:
            op.add_column(table, sa.Column('business_id', sa.Integer(), nullable=True))
            op.execute(f"UPDATE {table} SET business_id = {OWNERS[table]}")
            op.execute(f"DELETE FROM {table} WHERE business_id IS NULL")
        uniques = UNIQUES.get(table, [])
        if postgres:
            if table in OWNERS:
                op.alter_column(table, 'business_id', nullable=False)
                op.create_foreign_key(f'{table}_business_id_fkey', table, 'businesses',
                                      ['business_id'], ['id'], ondelete='CASCADE')
            for columns, name, _ in uniques:
                found = _found(table, columns)
                if found is not None:
                    op.drop_constraint(found, table, type_='unique')
                op.create_unique_constraint(name, table, columns + ['business_id'])
            if table in KEYS:
                op.drop_constraint(f'{table}_pkey', table, type_='primary')
                op.create_primary_key(f'{table}_pkey', table, KEYS[table] + ['business_id'])
            if table in RANGE_INDEXES:
                op.drop_index(RANGE_INDEXES[table], table_name=table)
                op.create_index(RANGE_INDEXES[table], table,
                                ['connection_id', 'google_calendar', 'start_utc'])
        else:
            found_names = {name: _found(table, columns) for columns, name, _ in uniques}
            # A key's new column is reflected as part of it (the copy gets the wider key).
            keyed = ((sa.Column('business_id', sa.Integer(), primary_key=True),)
                     if table in KEYS else ())
            with op.batch_alter_table(table, naming_convention=NAMING, recreate='always',
                                      reflect_args=keyed) as batch_op:
                if table in OWNERS:
                    batch_op.alter_column('business_id', existing_type=sa.Integer(),
                                          nullable=False)
                    batch_op.create_foreign_key(f'{table}_business_id_fkey', 'businesses',
                                                ['business_id'], ['id'], ondelete='CASCADE')
                for columns, name, _ in uniques:
                    batch_op.drop_constraint(found_names[name] or _convention(table, columns),
                                             type_='unique')
                    batch_op.create_unique_constraint(name, columns + ['business_id'])
        if table in OWNERS:
            op.create_index(f'ix_{table}_business_id', table, ['business_id'], unique=False)
    for table in INDEXED:
        op.create_index(f'ix_{table}_business_id', table, ['business_id'], unique=False)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == 'postgresql'
    for table in INDEXED:
        op.drop_index(f'ix_{table}_business_id', table_name=table)
    for table in reversed(TABLES):
        uniques = UNIQUES.get(table, [])
        if table in OWNERS:
            op.drop_index(f'ix_{table}_business_id', table_name=table)
        if postgres:
            for columns, name, old in uniques:
                op.drop_constraint(name, table, type_='unique')
                op.create_unique_constraint(_old_postgres(table, columns, old), table, columns)
            if table in KEYS:
                op.drop_constraint(f'{table}_pkey', table, type_='primary')
                op.create_primary_key(f'{table}_pkey', table, KEYS[table])
            if table in OWNERS:
                op.drop_constraint(f'{table}_business_id_fkey', table, type_='foreignkey')
                op.drop_column(table, 'business_id')
        else:
            with op.batch_alter_table(table, naming_convention=NAMING,
                                      recreate='always') as batch_op:
                for columns, name, old in uniques:
                    batch_op.drop_constraint(name, type_='unique')
                    batch_op.create_unique_constraint(old or _convention(table, columns),
                                                      columns)
                if table in KEYS:
                    batch_op.create_primary_key(f'{table}_pkey', KEYS[table])
                if table in OWNERS:
                    batch_op.drop_constraint(f'{table}_business_id_fkey', type_='foreignkey')
                    batch_op.drop_column('business_id')

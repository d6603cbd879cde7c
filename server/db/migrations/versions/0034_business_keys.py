"""PostgreSQL: every business's row keyed by (id, business_id), every reference between two
rows of a business carrying business_id, so the schema distributes by business (Citus refuses
a primary key, unique constraint or foreign key between distributed tables that lacks the
distribution column). SQLite (one machine) keeps its single-column keys: nothing to do there.

Rebuilds the primary key index of every such table: on a large database this takes a while
and holds each table's lock while it runs (take a backup and a quiet moment).

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-04 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0034'
down_revision = '0033'
branch_labels = None
depends_on = None


def _plan() -> tuple[list[str], list[dict[str, object]]]:
    """The tables keyed by `id` alone that carry business_id, and every foreign key between
    two of them (name, columns, target, on delete), as the schema at 0033 has them."""
    inspector = sa.inspect(op.get_bind())
    keyed = []
    for table in sorted(inspector.get_table_names()):
        columns = {column['name'] for column in inspector.get_columns(table)}
        key = inspector.get_pk_constraint(table)['constrained_columns']
        if 'business_id' in columns and key == ['id']:
            keyed.append(table)
    references = []
    for table in sorted(inspector.get_table_names()):
        for foreign in inspector.get_foreign_keys(table):
            if foreign['referred_table'] in keyed:
                references.append({'table': table, **foreign})
    return keyed, references


def _on_delete(reference: dict[str, object], columns: list[str]) -> str | None:
    options: dict[str, object] = reference.get('options') or {}  # type: ignore[assignment]
    ondelete = options.get('ondelete')
    if ondelete and str(ondelete).upper() == 'SET NULL':
        # Only the reference's own column: business_id stays (PostgreSQL 15's column list).
        return f"SET NULL ({', '.join(columns)})"
    return str(ondelete) if ondelete else None


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    keyed, references = _plan()
    for reference in references:
        op.drop_constraint(str(reference['name']), str(reference['table']), type_='foreignkey')
    for table in keyed:
        name = str(sa.inspect(op.get_bind()).get_pk_constraint(table)['name'])
        op.drop_constraint(name, table, type_='primary')
        op.create_primary_key(name, table, ['id', 'business_id'])
    for reference in references:
        columns = list(reference['constrained_columns'])  # type: ignore[call-overload]
        op.create_foreign_key(
            str(reference['name']), str(reference['table']), str(reference['referred_table']),
            [*columns, 'business_id'], ['id', 'business_id'],
            ondelete=_on_delete(reference, columns))


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    inspector = sa.inspect(op.get_bind())
    keyed = [table for table in sorted(inspector.get_table_names())
             if inspector.get_pk_constraint(table)['constrained_columns'] == ['id',
                                                                              'business_id']]
    references = [{'table': table, **foreign}
                  for table in sorted(inspector.get_table_names())
                  for foreign in inspector.get_foreign_keys(table)
                  if foreign['referred_table'] in keyed
                  and foreign['referred_columns'] == ['id', 'business_id']]
    for reference in references:
        op.drop_constraint(str(reference['name']), str(reference['table']), type_='foreignkey')
    for table in keyed:
        name = str(inspector.get_pk_constraint(table)['name'])
        op.drop_constraint(name, table, type_='primary')
        op.create_primary_key(name, table, ['id'])
    for reference in references:
        columns = [column for column in reference['constrained_columns']  # type: ignore
                   if column != 'business_id']
        ondelete = (reference.get('options') or {}).get('ondelete')  # type: ignore
        op.create_foreign_key(
            str(reference['name']), str(reference['table']), str(reference['referred_table']),
            columns, ['id'],
            ondelete='SET NULL' if ondelete and 'SET NULL' in str(ondelete).upper()
            else ondelete)

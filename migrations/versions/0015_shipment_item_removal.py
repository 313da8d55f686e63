"""shipment item removal: a dose taken out of a box before dispatch keeps its row (audited
rows are never deleted), marked removed with who, when and why; a dose may be packed again

Revision ID: 0015
Revises: 0014_local_time_language
Create Date: 2026-12-03 15:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014_local_time_language'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('shipment_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('removed_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('removal_reason', sa.Text(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_shipment_items_removed_by_id_users'), 'users',
                                    ['removed_by_id'], ['id'])
        batch_op.drop_constraint('uq_shipment_items_shipment_id_dose_id', type_='unique')
        batch_op.create_index('uq_shipment_items_packed_dose', ['shipment_id', 'dose_id'], unique=True,
                              sqlite_where=sa.text('removed_at IS NULL'),
                              postgresql_where=sa.text('removed_at IS NULL'))


def downgrade():
    with op.batch_alter_table('shipment_items', schema=None) as batch_op:
        batch_op.drop_index('uq_shipment_items_packed_dose')
        batch_op.create_unique_constraint('uq_shipment_items_shipment_id_dose_id', ['shipment_id', 'dose_id'])
        batch_op.drop_constraint(batch_op.f('fk_shipment_items_removed_by_id_users'), type_='foreignkey')
        batch_op.drop_column('removal_reason')
        batch_op.drop_column('removed_by_id')
        batch_op.drop_column('removed_at')

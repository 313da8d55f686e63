"""temperature waivers: QA's signed decision that a shipment's doses may be dispensed without
its logger file

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('temperature_waivers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('waived_by_id', sa.Integer(), nullable=False),
    sa.Column('waived_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_temperature_waivers_shipment_id_shipments')),
    sa.ForeignKeyConstraint(['waived_by_id'], ['users.id'], name=op.f('fk_temperature_waivers_waived_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_temperature_waivers')),
    sa.UniqueConstraint('shipment_id', name=op.f('uq_temperature_waivers_shipment_id'))
    )


def downgrade():
    op.drop_table('temperature_waivers')

"""bedside timing: when a dose was quarantined, the infusion's partial reason, duration
confirmation, lookback flag and correction time, and the nurse's infusion drafts

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('doses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('quarantined_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('infusions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('partial_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('duration_confirmed', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
        batch_op.add_column(sa.Column('lookback_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('corrected_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('infusion_drafts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('nurse_id', sa.Integer(), nullable=False),
    sa.Column('dose_id', sa.Integer(), nullable=False),
    sa.Column('patient_scan', sa.String(length=512), nullable=False),
    sa.Column('dose_scan', sa.String(length=512), nullable=False),
    sa.Column('fields_json', sa.Text(), nullable=False),
    sa.Column('saved_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dose_id'], ['doses.id'], name=op.f('fk_infusion_drafts_dose_id_doses')),
    sa.ForeignKeyConstraint(['nurse_id'], ['users.id'], name=op.f('fk_infusion_drafts_nurse_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_infusion_drafts')),
    sa.UniqueConstraint('nurse_id', 'dose_id', name=op.f('uq_infusion_drafts_nurse_id_dose_id'))
    )


def downgrade():
    op.drop_table('infusion_drafts')
    with op.batch_alter_table('infusions', schema=None) as batch_op:
        batch_op.drop_column('corrected_at')
        batch_op.drop_column('lookback_reason')
        batch_op.drop_column('duration_confirmed')
        batch_op.drop_column('partial_reason')
    with op.batch_alter_table('doses', schema=None) as batch_op:
        batch_op.drop_column('quarantined_at')

"""labels: print jobs, printed labels, label verifications; doses.bag_label_verified_at

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('doses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bag_label_verified_at', sa.DateTime(timezone=True), nullable=True))

    op.create_table('print_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=64), nullable=False),
    sa.Column('format', sa.String(length=8), nullable=False),
    sa.Column('label_kind', sa.String(length=16), nullable=False),
    sa.Column('template_version', sa.String(length=16), nullable=False),
    sa.Column('copies', sa.Integer(), nullable=False),
    sa.Column('is_reprint', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('override_by_id', sa.Integer(), nullable=True),
    sa.Column('sent_to', sa.String(length=128), nullable=True),
    sa.Column('printed_by_id', sa.Integer(), nullable=False),
    sa.Column('printed_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('dose', 'lot', 'assignment', 'wristband', 'shipment')", name=op.f('ck_print_jobs_kind_known')),
    sa.CheckConstraint("format IN ('pdf', 'zpl')", name=op.f('ck_print_jobs_format_known')),
    sa.CheckConstraint('copies > 0', name=op.f('ck_print_jobs_copies_positive')),
    sa.ForeignKeyConstraint(['override_by_id'], ['users.id'], name=op.f('fk_print_jobs_override_by_id_users')),
    sa.ForeignKeyConstraint(['printed_by_id'], ['users.id'], name=op.f('fk_print_jobs_printed_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_print_jobs'))
    )
    op.create_table('printed_labels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('label_kind', sa.String(length=16), nullable=False),
    sa.Column('subject_key', sa.String(length=64), nullable=False),
    sa.Column('dose_id', sa.Integer(), nullable=True),
    sa.Column('print_number', sa.Integer(), nullable=False),
    sa.Column('payloads', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['dose_id'], ['doses.id'], name=op.f('fk_printed_labels_dose_id_doses')),
    sa.ForeignKeyConstraint(['job_id'], ['print_jobs.id'], name=op.f('fk_printed_labels_job_id_print_jobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_printed_labels'))
    )
    with op.batch_alter_table('printed_labels', schema=None) as batch_op:
        batch_op.create_index('ix_printed_labels_subject', ['label_kind', 'subject_key'], unique=False)

    op.create_table('label_verifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dose_id', sa.Integer(), nullable=False),
    sa.Column('label_kind', sa.String(length=16), nullable=True),
    sa.Column('scanned', sa.Text(), nullable=False),
    sa.Column('matched', sa.Boolean(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=True),
    sa.Column('verified_by_id', sa.Integer(), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dose_id'], ['doses.id'], name=op.f('fk_label_verifications_dose_id_doses')),
    sa.ForeignKeyConstraint(['verified_by_id'], ['users.id'], name=op.f('fk_label_verifications_verified_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_label_verifications'))
    )
    with op.batch_alter_table('label_verifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_label_verifications_dose_id'), ['dose_id'], unique=False)


def downgrade():
    with op.batch_alter_table('label_verifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_label_verifications_dose_id'))
    op.drop_table('label_verifications')
    with op.batch_alter_table('printed_labels', schema=None) as batch_op:
        batch_op.drop_index('ix_printed_labels_subject')
    op.drop_table('printed_labels')
    op.drop_table('print_jobs')
    with op.batch_alter_table('doses', schema=None) as batch_op:
        batch_op.drop_column('bag_label_verified_at')

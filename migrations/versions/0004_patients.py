"""patients, visits, allocations, subject and COI sequences

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('subject_sequences',
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('last_number', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_subject_sequences_site_id_sites')),
    sa.PrimaryKeyConstraint('site_id', name=op.f('pk_subject_sequences'))
    )
    op.create_table('coi_sequences',
    sa.Column('facility', sa.String(length=5), nullable=False),
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_sequence', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('facility', 'year', name=op.f('pk_coi_sequences'))
    )
    op.create_table('patients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.String(length=16), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('arm', sa.String(length=8), nullable=False),
    sa.Column('initials', sa.String(length=4), nullable=False),
    sa.Column('birth_year', sa.Integer(), nullable=False),
    sa.Column('enrolled_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawal_reason', sa.Text(), nullable=True),
    sa.Column('enrolled_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("arm IN ('msc', 'control')", name=op.f('ck_patients_arm_known')),
    sa.CheckConstraint("status IN ('active', 'withdrawn')", name=op.f('ck_patients_status_known')),
    sa.ForeignKeyConstraint(['enrolled_by_id'], ['users.id'], name=op.f('fk_patients_enrolled_by_id_users')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_patients_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patients')),
    sa.UniqueConstraint('subject_id', name=op.f('uq_patients_subject_id'))
    )
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patients_site_id'), ['site_id'], unique=False)

    op.create_table('visits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('target_date', sa.Date(), nullable=False),
    sa.Column('window_start', sa.Date(), nullable=False),
    sa.Column('window_end', sa.Date(), nullable=False),
    sa.Column('recorded', sa.String(length=24), nullable=False),
    sa.Column('skip_reason', sa.Text(), nullable=True),
    sa.CheckConstraint('number BETWEEN 1 AND 4', name=op.f('ck_visits_number_range')),
    sa.CheckConstraint("recorded IN ('open', 'done', 'done_out_of_window', 'skipped')", name=op.f('ck_visits_recorded_known')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_visits_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visits')),
    sa.UniqueConstraint('patient_id', 'number', name=op.f('uq_visits_patient_id_number'))
    )
    op.create_table('allocations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dose_id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('coi', sa.String(length=13), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('allocated_by_id', sa.Integer(), nullable=False),
    sa.Column('allocated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('assignment_label_verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['allocated_by_id'], ['users.id'], name=op.f('fk_allocations_allocated_by_id_users')),
    sa.ForeignKeyConstraint(['dose_id'], ['doses.id'], name=op.f('fk_allocations_dose_id_doses')),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_allocations_visit_id_visits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_allocations')),
    sa.UniqueConstraint('coi', name=op.f('uq_allocations_coi'))
    )
    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.create_index('uq_allocations_active_dose', ['dose_id'], unique=True,
                              sqlite_where=sa.text('active'), postgresql_where=sa.text('active'))
        batch_op.create_index('uq_allocations_active_visit', ['visit_id'], unique=True,
                              sqlite_where=sa.text('active'), postgresql_where=sa.text('active'))


def downgrade():
    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.drop_index('uq_allocations_active_visit')
        batch_op.drop_index('uq_allocations_active_dose')
    op.drop_table('allocations')
    op.drop_table('visits')
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patients_site_id'))
    op.drop_table('patients')
    op.drop_table('coi_sequences')
    op.drop_table('subject_sequences')

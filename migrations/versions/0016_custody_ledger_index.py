"""custody ledger index covers the chain: (dose, time, id) plus kind and both parties, so that
the reports' current custodian and chain check over every dose read the index alone

Revision ID: 0015
Revises: 0014_local_time_language
Create Date: 2026-12-03 15:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('custody_events', schema=None) as batch_op:
        batch_op.drop_index('ix_custody_events_dose')
        batch_op.create_index('ix_custody_events_dose',
                              ['dose_id', 'occurred_at', 'id', 'kind', 'from_party', 'to_party'], unique=False)


def downgrade():
    with op.batch_alter_table('custody_events', schema=None) as batch_op:
        batch_op.drop_index('ix_custody_events_dose')
        batch_op.create_index('ix_custody_events_dose', ['dose_id', 'occurred_at', 'id'], unique=False)

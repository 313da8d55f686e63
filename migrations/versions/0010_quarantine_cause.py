"""quarantine cause: why a dose is quarantined, as a code the rules read (the reason stays
the words people read)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 09:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

CAUSES = "('recall', 'lot_rejected', 'seal_broken', 'excursion', 'other')"


def upgrade():
    with op.batch_alter_table('doses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('quarantine_cause', sa.String(length=16), nullable=True))
        batch_op.create_check_constraint('quarantine_cause_known', f"quarantine_cause IN {CAUSES}")
    # Doses quarantined before the code existed: the services wrote these reasons.
    for cause, pattern in (("excursion", "temperature excursion%"), ("seal_broken", "shipment seal broken%"),
                           ("recall", "lot recalled:%"), ("lot_rejected", "lot rejected:%")):
        op.execute(sa.text("UPDATE doses SET quarantine_cause = :cause "
                           "WHERE status = 'quarantined' AND quarantine_reason LIKE :pattern")
                   .bindparams(cause=cause, pattern=pattern))


def downgrade():
    with op.batch_alter_table('doses', schema=None) as batch_op:
        batch_op.drop_constraint('quarantine_cause_known', type_='check')
        batch_op.drop_column('quarantine_cause')

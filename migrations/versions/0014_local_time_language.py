"""local time and language: each site's IANA time zone and language; a user's own choice of
either (none: the site's, or the facility's for users without a site)

Revision ID: 0014_local_time_language
Revises: 0013
Create Date: 2026-12-03 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014_local_time_language'
down_revision = '0013'
branch_labels = None
depends_on = None

LANGUAGES = "('en', 'zh_Hans')"


def upgrade():
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), nullable=False, server_default='UTC'))
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=False, server_default='en'))
        batch_op.create_check_constraint('language_known', f"language IN {LANGUAGES}")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), nullable=True))
        batch_op.create_check_constraint('language_known', f"language IS NULL OR language IN {LANGUAGES}")


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint('language_known', type_='check')
        batch_op.drop_column('time_zone')
        batch_op.drop_column('language')
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_constraint('language_known', type_='check')
        batch_op.drop_column('language')
        batch_op.drop_column('time_zone')

"""Sessions and tokens: disabled accounts, expiring API tokens (issue 20 §3)

An admin can disable an account: its sessions and tokens stop working at once. A token can be
made to expire after a number of days.

Revision ID: 4c654bebb124
Revises: c5a7e3f1d905
Create Date: 2026-12-07 13:40:00

"""
from alembic import op
import sqlalchemy as sa

import portal.models.base


# revision identifiers, used by Alembic.
revision = '4c654bebb124'
down_revision = 'c5a7e3f1d905'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disabled_at', portal.models.base.UTCDateTime(), nullable=True))
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', portal.models.base.UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('disabled_at')

"""API tokens: per-token rate limits (issue 8)

Revision ID: 7b4e3c2a9f02
Revises: 5f2a9d1c8e01
Create Date: 2026-11-23 09:00:00

"""
from alembic import op
import sqlalchemy as sa

import portal.models.base


# revision identifiers, used by Alembic.
revision = '7b4e3c2a9f02'
down_revision = '5f2a9d1c8e01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rate_limit', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))


def downgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('rate_limit')

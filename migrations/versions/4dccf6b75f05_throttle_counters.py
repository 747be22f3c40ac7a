"""Throttle counters in the database while Redis is down (issue 20)

With Redis unreachable each app process counted guesses on its own, so four workers gave a guesser
four budgets. The counters fall back to this table instead, shared by every process.

Revision ID: 4dccf6b75f05
Revises: 4c654bebb124
Create Date: 2026-12-07 13:40:00

"""
from alembic import op
import sqlalchemy as sa

import portal.models.base


# revision identifiers, used by Alembic.
revision = '4dccf6b75f05'
down_revision = '4c654bebb124'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('throttle_counters',
    sa.Column('key', sa.String(length=400), nullable=False),
    sa.Column('count', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('window_ends', portal.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_throttle_counters'))
    )


def downgrade():
    op.drop_table('throttle_counters')

"""Daily loads: what each customer has had loaded per currency and day, the daily maximum's counter (issue 25)

Revision ID: 5b8d3f1a2c47
Revises: 7e2a9c4d1b36
Create Date: 2026-12-07 16:55:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5b8d3f1a2c47'
down_revision = '7e2a9c4d1b36'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table('daily_loads',
    sa.Column('customer', sa.String(length=260), nullable=False),
    sa.Column('currency', sa.String(length=4), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('loaded', _ID, nullable=False),
    sa.CheckConstraint('loaded >= 0', name=op.f('ck_daily_loads_loaded_not_negative')),
    sa.PrimaryKeyConstraint('customer', 'currency', 'day', name=op.f('pk_daily_loads')),
    )


def downgrade():
    op.drop_table('daily_loads')

"""Bulk orders: many bearer cards whose codes go to the buyer in one CSV (issue 25)

Revision ID: 2e9a6d4c8b13
Revises: 8c1f4e7a3d52
Create Date: 2026-12-07 17:05:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '2e9a6d4c8b13'
down_revision = '8c1f4e7a3d52'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders') as batch_op:
        batch_op.add_column(sa.Column('bulk', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('orders') as batch_op:
        batch_op.drop_column('bulk')

"""A merchant's own limit above which a counter sale or top-up asks for confirmation (issue 26)

Revision ID: 3d5513956c84
Revises: 4dccf6b75f05
Create Date: 2026-12-07 14:55:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3d5513956c84'
down_revision = '4dccf6b75f05'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('merchants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirm_sales_above', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))


def downgrade():
    with op.batch_alter_table('merchants', schema=None) as batch_op:
        batch_op.drop_column('confirm_sales_above')

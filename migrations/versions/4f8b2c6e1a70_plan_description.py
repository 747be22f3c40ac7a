"""Subscription plans say what they give: a description shown on the gift pages (issue 26)

portal demo (ensure_plans) gives the default plan its words when it has none.

Revision ID: 4f8b2c6e1a70
Revises: a8d4f2c6e913
Create Date: 2026-12-07 17:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4f8b2c6e1a70'
down_revision = 'a8d4f2c6e913'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('subscription_plans') as batch_op:
        batch_op.add_column(sa.Column('description', sa.String(length=500), server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('subscription_plans') as batch_op:
        batch_op.drop_column('description')

"""Gift subscriptions: the "Buy a gift" form's key, so a double submit makes one gift

Revision ID: b3f1e6d2c704
Revises: 9d6c5b4a3e03
Create Date: 2026-11-23 19:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b3f1e6d2c704'
down_revision = '9d6c5b4a3e03'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('gift_subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('creation_key', sa.String(length=80), nullable=True))
        batch_op.create_unique_constraint('uq_gift_subscriptions_buyer_id_creation_key', ['buyer_id', 'creation_key'])


def downgrade():
    with op.batch_alter_table('gift_subscriptions', schema=None) as batch_op:
        batch_op.drop_constraint('uq_gift_subscriptions_buyer_id_creation_key', type_='unique')
        batch_op.drop_column('creation_key')

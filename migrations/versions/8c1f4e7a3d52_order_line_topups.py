"""Order lines that top up the buyer's card or wallet credit, paid by card (issue 25)

Revision ID: 8c1f4e7a3d52
Revises: 5b8d3f1a2c47
Create Date: 2026-12-07 17:15:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8c1f4e7a3d52'
down_revision = '5b8d3f1a2c47'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    with op.batch_alter_table('order_lines') as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), server_default='card', nullable=False))
        batch_op.add_column(sa.Column('topup_card_id', _ID, nullable=True))
        batch_op.create_foreign_key(op.f('fk_order_lines_topup_card_id_gift_cards'), 'gift_cards', ['topup_card_id'], ['id'])
        batch_op.create_index(op.f('ix_order_lines_topup_card_id'), ['topup_card_id'], unique=False)
        batch_op.create_check_constraint(op.f('ck_order_lines_kind_known'), "kind IN ('card', 'card_topup', 'wallet_topup')")
        batch_op.create_check_constraint(
            op.f('ck_order_lines_topup_names_its_card'), "(kind = 'card_topup') = (topup_card_id IS NOT NULL)"
        )


def downgrade():
    with op.batch_alter_table('order_lines') as batch_op:
        batch_op.drop_constraint(op.f('ck_order_lines_topup_names_its_card'), type_='check')
        batch_op.drop_constraint(op.f('ck_order_lines_kind_known'), type_='check')
        batch_op.drop_index(op.f('ix_order_lines_topup_card_id'))
        batch_op.drop_constraint(op.f('fk_order_lines_topup_card_id_gift_cards'), type_='foreignkey')
        batch_op.drop_column('topup_card_id')
        batch_op.drop_column('kind')

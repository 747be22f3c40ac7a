"""Orders and their lines, and the programme limits: gift cards bought in the shop (issue 25)

Revision ID: 7e2a9c4d1b36
Revises: 3d5513956c84
Create Date: 2026-12-07 14:30:00

"""
from alembic import op
import sqlalchemy as sa

import portal.models.base


# revision identifiers, used by Alembic.
revision = '7e2a9c4d1b36'
down_revision = '3d5513956c84'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table('orders',
    sa.Column('id', _ID, nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('buyer_id', _ID, nullable=True),
    sa.Column('buyer_email', sa.String(length=254), nullable=False),
    sa.Column('currency', sa.String(length=4), nullable=False),
    sa.Column('total', _ID, nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('payment_reference', sa.String(length=255), nullable=True),
    sa.Column('created_at', portal.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', portal.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('paid_at', portal.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('fulfilled_at', portal.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('approval_required', sa.Boolean(), nullable=False),
    sa.Column('approved_at', portal.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('pending', 'paid', 'fulfilled', 'expired', 'refunded')", name=op.f('ck_orders_state_known')),
    sa.CheckConstraint('total > 0', name=op.f('ck_orders_total_positive')),
    sa.CheckConstraint("state IN ('pending', 'expired') OR paid_at IS NOT NULL", name=op.f('ck_orders_paid_when_past_pending')),
    sa.ForeignKeyConstraint(['buyer_id'], ['users.id'], name=op.f('fk_orders_buyer_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('reference', name=op.f('uq_orders_reference')),
    sa.UniqueConstraint('provider', 'payment_reference', name='uq_orders_provider_payment_reference'),
    )
    op.create_index(op.f('ix_orders_buyer_id'), 'orders', ['buyer_id'], unique=False)
    op.create_index('ix_orders_state_expires_at', 'orders', ['state', 'expires_at'], unique=False)
    op.create_table('order_lines',
    sa.Column('id', _ID, nullable=False),
    sa.Column('order_id', _ID, nullable=False),
    sa.Column('amount', _ID, nullable=False),
    sa.Column('design', sa.String(length=16), nullable=False),
    sa.Column('recipient_name', sa.String(length=120), nullable=False),
    sa.Column('recipient_email', sa.String(length=254), nullable=True),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('deliver_on', sa.Date(), nullable=True),
    sa.Column('card_id', _ID, nullable=True),
    sa.Column('delivered_at', portal.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('amount > 0', name=op.f('ck_order_lines_amount_positive')),
    sa.CheckConstraint("design IN ('classic', 'birthday', 'thanks', 'celebrate')", name=op.f('ck_order_lines_design_known')),
    sa.ForeignKeyConstraint(['card_id'], ['gift_cards.id'], name=op.f('fk_order_lines_card_id_gift_cards')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_lines_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_lines')),
    sa.UniqueConstraint('card_id', name=op.f('uq_order_lines_card_id')),
    )
    op.create_index(op.f('ix_order_lines_order_id'), 'order_lines', ['order_id'], unique=False)
    op.create_table('programme_limits',
    sa.Column('currency', sa.String(length=4), nullable=False),
    sa.Column('min_purchase', _ID, nullable=False),
    sa.Column('max_purchase', _ID, nullable=False),
    sa.Column('max_card_balance', _ID, nullable=False),
    sa.Column('max_daily_per_customer', _ID, nullable=False),
    sa.Column('max_cards_per_order', _ID, nullable=False),
    sa.Column('approval_above', _ID, nullable=True),
    sa.Column('updated_at', portal.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('min_purchase > 0 AND max_purchase >= min_purchase AND max_card_balance >= max_purchase AND max_daily_per_customer >= min_purchase AND max_cards_per_order >= 1', name=op.f('ck_programme_limits_limits_consistent')),
    sa.PrimaryKeyConstraint('currency', name=op.f('pk_programme_limits')),
    )


def downgrade():
    op.drop_table('programme_limits')
    op.drop_table('order_lines')
    op.drop_table('orders')

"""gift subscriptions: plans, gifts and subscriptions (issue 8)

Revision ID: 5f2a9d1c8e01
Revises: 183841becc6a
Create Date: 2026-11-23 09:00:00

"""
from alembic import op
import sqlalchemy as sa

import portal.models.base


# revision identifiers, used by Alembic.
revision = '5f2a9d1c8e01'
down_revision = '183841becc6a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('subscription_plans',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('identifier', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('duration_days', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('currency', sa.String(length=4), nullable=False),
    sa.Column('price', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('price_loops', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', portal.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('duration_days > 0', name=op.f('ck_subscription_plans_duration_positive')),
    sa.CheckConstraint('price > 0 AND price_loops > 0', name=op.f('ck_subscription_plans_prices_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_plans')),
    sa.UniqueConstraint('identifier', name=op.f('uq_subscription_plans_identifier'))
    )
    op.create_table('gift_subscriptions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('buyer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('plan_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('recipient_email', sa.String(length=254), nullable=True),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('code_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('payment_method', sa.String(length=8), nullable=False),
    sa.Column('currency', sa.String(length=4), nullable=False),
    sa.Column('price', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('discount', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('coupon_code_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('coupon_campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('payment_transaction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('refund_transaction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('subscription_duration_days', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', portal.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('paid_at', portal.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_at', portal.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expires_at', portal.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('redeemed_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('redeemed_at', portal.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', portal.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("payment_method IN ('wallet', 'loops')", name=op.f('ck_gift_subscriptions_payment_method_known')),
    sa.CheckConstraint("status IN ('created', 'cancelled') OR paid_at IS NOT NULL", name=op.f('ck_gift_subscriptions_sent_only_when_paid')),
    sa.CheckConstraint("status IN ('created', 'sent', 'redeemed', 'cancelled', 'expired')", name=op.f('ck_gift_subscriptions_status_known')),
    sa.CheckConstraint('price > 0 AND discount >= 0 AND discount <= price', name=op.f('ck_gift_subscriptions_discount_within_price')),
    sa.CheckConstraint('subscription_duration_days > 0', name=op.f('ck_gift_subscriptions_duration_positive')),
    sa.ForeignKeyConstraint(['buyer_id'], ['users.id'], name=op.f('fk_gift_subscriptions_buyer_id_users')),
    sa.ForeignKeyConstraint(['code_id'], ['codes.id'], name=op.f('fk_gift_subscriptions_code_id_codes')),
    sa.ForeignKeyConstraint(['coupon_campaign_id'], ['campaigns.id'], name=op.f('fk_gift_subscriptions_coupon_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['coupon_code_id'], ['campaign_codes.id'], name=op.f('fk_gift_subscriptions_coupon_code_id_campaign_codes')),
    sa.ForeignKeyConstraint(['payment_transaction_id'], ['ledger_transactions.id'], name=op.f('fk_gift_subscriptions_payment_transaction_id_ledger_transactions')),
    sa.ForeignKeyConstraint(['plan_id'], ['subscription_plans.id'], name=op.f('fk_gift_subscriptions_plan_id_subscription_plans')),
    sa.ForeignKeyConstraint(['redeemed_by_id'], ['users.id'], name=op.f('fk_gift_subscriptions_redeemed_by_id_users')),
    sa.ForeignKeyConstraint(['refund_transaction_id'], ['ledger_transactions.id'], name=op.f('fk_gift_subscriptions_refund_transaction_id_ledger_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gift_subscriptions')),
    sa.UniqueConstraint('code_id', name=op.f('uq_gift_subscriptions_code_id'))
    )
    with op.batch_alter_table('gift_subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gift_subscriptions_buyer_id'), ['buyer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_gift_subscriptions_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_gift_subscriptions_recipient_email'), ['recipient_email'], unique=False)
        batch_op.create_index('ix_gift_subscriptions_status_created_at', ['status', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('gift_subscriptions', schema=None) as batch_op:
        batch_op.drop_index('ix_gift_subscriptions_status_created_at')
        batch_op.drop_index(batch_op.f('ix_gift_subscriptions_recipient_email'))
        batch_op.drop_index(batch_op.f('ix_gift_subscriptions_expires_at'))
        batch_op.drop_index(batch_op.f('ix_gift_subscriptions_buyer_id'))

    op.drop_table('gift_subscriptions')
    op.drop_table('subscription_plans')

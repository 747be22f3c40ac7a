"""Acceptance networks, and the programme's rules per kind of code and its currencies (issue 27)

A network is a named set of merchants; a card (and a gift card campaign, for the cards it issues)
may be scoped to one. On PostgreSQL the one-call payment and cash top-up ask
``giftloop_card_usable`` whether a card may be used here: only that function changes (STABLE now,
as it reads the network's members), so ``giftloop_redeem`` and ``giftloop_load_cash`` stay as they are.

Revision ID: d8e3b0f5a2c9
Revises: c7d2a9e4f1b8
Create Date: 2026-12-07 20:00:00

"""
from alembic import op
import sqlalchemy as sa

import portal.models.base


# revision identifiers, used by Alembic.
revision = 'd8e3b0f5a2c9'
down_revision = 'c7d2a9e4f1b8'
branch_labels = None
depends_on = None

# portal.cards.lookup.usable_at as a yes or no: also, a card scoped to a network only at its members.
CARD_USABLE = r"""
CREATE OR REPLACE FUNCTION giftloop_card_usable(p_card gift_cards, p_merchant_id bigint, p_merchant_currency text,
                                                p_now timestamptz)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT p_card.status NOT IN ('cancelled', 'frozen', 'expired') AND p_card.expires_at > p_now
       AND (p_merchant_id IS NULL
            OR ((p_card.merchant_id IS NULL OR p_card.merchant_id = p_merchant_id)
                AND (p_card.network_id IS NULL
                     OR EXISTS (SELECT 1 FROM network_merchants n
                                WHERE n.network_id = p_card.network_id AND n.merchant_id = p_merchant_id))
                AND p_merchant_currency = p_card.currency))
$$
"""

# As a8d4f2c6e913 made it.
CARD_USABLE_BEFORE = r"""
CREATE OR REPLACE FUNCTION giftloop_card_usable(p_card gift_cards, p_merchant_id bigint, p_merchant_currency text,
                                                p_now timestamptz)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT p_card.status NOT IN ('cancelled', 'frozen', 'expired') AND p_card.expires_at > p_now
       AND (p_merchant_id IS NULL
            OR ((p_card.merchant_id IS NULL OR p_card.merchant_id = p_merchant_id)
                AND p_merchant_currency = p_card.currency))
$$
"""


def upgrade():
    op.create_table(
        'networks',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('created_at', portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_networks')),
        sa.UniqueConstraint('name', name=op.f('uq_networks_name')),
    )
    op.create_table(
        'network_merchants',
        sa.Column('network_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_network_merchants_merchant_id_merchants')),
        sa.ForeignKeyConstraint(['network_id'], ['networks.id'], name=op.f('fk_network_merchants_network_id_networks'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('network_id', 'merchant_id', name=op.f('pk_network_merchants')),
    )
    op.create_index(op.f('ix_network_merchants_merchant_id'), 'network_merchants', ['merchant_id'])
    with op.batch_alter_table('gift_cards', schema=None) as batch_op:
        batch_op.add_column(sa.Column('network_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_gift_cards_network_id_networks'), 'networks', ['network_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_gift_cards_network_id'), ['network_id'])
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('network_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_campaigns_network_id_networks'), 'networks', ['network_id'], ['id'])
    op.create_table(
        'programme_kinds',
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('default_valid_days', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
        sa.Column('default_max_uses', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
        sa.Column('channels', sa.JSON(), nullable=False),
        sa.Column('roles', sa.JSON(), nullable=False),
        sa.Column('updated_at', portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint('default_valid_days IS NULL OR default_valid_days > 0',
                           name=op.f('ck_programme_kinds_valid_days_positive')),
        sa.CheckConstraint('default_max_uses IS NULL OR default_max_uses > 0',
                           name=op.f('ck_programme_kinds_max_uses_positive')),
        sa.PrimaryKeyConstraint('kind', name=op.f('pk_programme_kinds')),
    )
    op.create_table(
        'programme_currencies',
        sa.Column('currency', sa.String(length=4), nullable=False),
        sa.Column('created_at', portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('currency', name=op.f('pk_programme_currencies')),
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(CARD_USABLE)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(CARD_USABLE_BEFORE)
    op.drop_table('programme_currencies')
    op.drop_table('programme_kinds')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_campaigns_network_id_networks'), type_='foreignkey')
        batch_op.drop_column('network_id')
    with op.batch_alter_table('gift_cards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gift_cards_network_id'))
        batch_op.drop_constraint(batch_op.f('fk_gift_cards_network_id_networks'), type_='foreignkey')
        batch_op.drop_column('network_id')
    op.drop_index(op.f('ix_network_merchants_merchant_id'), table_name='network_merchants')
    op.drop_table('network_merchants')
    op.drop_table('networks')

"""Holds: an amount reserved on a card until captured, released or lapsed (issue 27)

A hold moves value from the card's account to its holds account ("holds:{card id}") by a ledger
transaction, so the card's balance is what is available and the ledger still balances.

Revision ID: c7d2a9e4f1b8
Revises: b5e1c9d7a2f4
Create Date: 2026-12-07 20:00:00

"""
from alembic import op
import sqlalchemy as sa

import portal.models.base


# revision identifiers, used by Alembic.
revision = 'c7d2a9e4f1b8'
down_revision = 'b5e1c9d7a2f4'
branch_labels = None
depends_on = None

OPEN = sa.text("state = 'open'")
BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
KINDS = (
    "'issue', 'load', 'redeem', 'reverse', 'transfer', 'expire', 'reinstate', 'adjust', "
    "'points_earn', 'points_convert', 'credit_code', 'gift_purchase', 'refund'"
)
HOLD_KINDS = ", 'hold', 'capture', 'release', 'lapse'"
ACCOUNTS = "'card', 'wallet', 'loops', 'settlement', 'system'"


def _kinds(transactions: str, accounts: str) -> None:
    with op.batch_alter_table('ledger_transactions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_ledger_transactions_kind_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_ledger_transactions_kind_known'), f"kind IN ({transactions})")
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_accounts_kind_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_accounts_kind_known'), f"kind IN ({accounts})")


def upgrade():
    _kinds(KINDS + HOLD_KINDS, ACCOUNTS + ", 'holds'")
    op.create_table(
        'holds',
        sa.Column('id', BIGINT, nullable=False),
        sa.Column('card_id', BIGINT, nullable=False),
        sa.Column('merchant_id', BIGINT, nullable=True),
        sa.Column('amount', BIGINT, nullable=False),
        sa.Column('currency', sa.String(length=4), nullable=False),
        sa.Column('captured', BIGINT, nullable=True),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('reference', sa.String(length=100), nullable=True),
        sa.Column('placed_transaction_id', BIGINT, nullable=False),
        sa.Column('finished_transaction_id', BIGINT, nullable=True),
        sa.Column('created_at', portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('finished_at', portal.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('open', 'captured', 'released', 'lapsed')", name=op.f('ck_holds_state_known')),
        sa.CheckConstraint('amount > 0', name=op.f('ck_holds_amount_positive')),
        sa.CheckConstraint(
            'captured IS NULL OR (captured > 0 AND captured <= amount)', name=op.f('ck_holds_captured_within')
        ),
        sa.ForeignKeyConstraint(['card_id'], ['gift_cards.id'], name=op.f('fk_holds_card_id_gift_cards')),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_holds_merchant_id_merchants')),
        sa.ForeignKeyConstraint(
            ['placed_transaction_id'], ['ledger_transactions.id'],
            name=op.f('fk_holds_placed_transaction_id_ledger_transactions'),
        ),
        sa.ForeignKeyConstraint(
            ['finished_transaction_id'], ['ledger_transactions.id'],
            name=op.f('fk_holds_finished_transaction_id_ledger_transactions'),
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_holds')),
        sa.UniqueConstraint('placed_transaction_id', name=op.f('uq_holds_placed_transaction_id')),
        sa.UniqueConstraint('finished_transaction_id', name=op.f('uq_holds_finished_transaction_id')),
    )
    op.create_index(op.f('ix_holds_card_id'), 'holds', ['card_id'])
    op.create_index(op.f('ix_holds_merchant_id'), 'holds', ['merchant_id'])
    op.create_index('ix_holds_open_expiry', 'holds', ['expires_at', 'id'], postgresql_where=OPEN, sqlite_where=OPEN)


def downgrade():
    op.drop_index('ix_holds_open_expiry', table_name='holds')
    op.drop_index(op.f('ix_holds_merchant_id'), table_name='holds')
    op.drop_index(op.f('ix_holds_card_id'), table_name='holds')
    op.drop_table('holds')
    _kinds(KINDS, ACCOUNTS)

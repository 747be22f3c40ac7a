"""Gift cards: the expiry index holds only open cards, in the order they fall due (issue 9)

An expiry batch read its cards through an index of every card's date, so each batch stepped over
all the cards expired before it. The partial index drops a card the moment it expires.

Revision ID: c5a7e3f1d905
Revises: b3f1e6d2c704
Create Date: 2026-12-06 13:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c5a7e3f1d905'
down_revision = 'b3f1e6d2c704'
branch_labels = None
depends_on = None

OPEN = sa.text("status IN ('active', 'frozen')")


def upgrade():
    op.create_index(
        'ix_gift_cards_open_expiry', 'gift_cards', ['expires_at', 'id'], postgresql_where=OPEN, sqlite_where=OPEN
    )
    op.drop_index('ix_gift_cards_expires_at', table_name='gift_cards')


def downgrade():
    op.create_index('ix_gift_cards_expires_at', 'gift_cards', ['expires_at'])
    op.drop_index('ix_gift_cards_open_expiry', table_name='gift_cards')

"""Outbox: senders claim batches of waiting messages; a failed message waits out its backoff (issue 24)

A sender took one message per RQ job; it now claims the oldest waiting messages, a batch at a
time, through a partial index of the rows not yet sent, and a message whose attempt failed
carries the time before which it is not tried again (the backoff RQ's retries gave each job).

Revision ID: b5e1c9d7a2f4
Revises: 6d3a9c2e5f18
Create Date: 2026-12-07 17:00:00

"""
from alembic import op
import sqlalchemy as sa

import portal.models.base


# revision identifiers, used by Alembic.
revision = 'b5e1c9d7a2f4'
down_revision = '6d3a9c2e5f18'
branch_labels = None
depends_on = None

WAITING = sa.text("status IN ('pending', 'sending')")


def upgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retry_at', portal.models.base.UTCDateTime(timezone=True), nullable=True))
    op.create_index('ix_outbox_waiting', 'outbox', ['id'], postgresql_where=WAITING, sqlite_where=WAITING)


def downgrade():
    op.drop_index('ix_outbox_waiting', table_name='outbox')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('retry_at')

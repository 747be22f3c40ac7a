"""Entitlements that do something: what each gives, and when its end was announced by the sweep
(issue 27)

Revision ID: 6d3a9c2e5f18
Revises: 4b8e2f6a1c97
Create Date: 2026-12-07 17:50:00

"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

import portal.models.base


# revision identifiers, used by Alembic.
revision = '6d3a9c2e5f18'
down_revision = '4b8e2f6a1c97'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('campaigns') as batch_op:
        batch_op.add_column(sa.Column('feature_gives', sa.String(length=200), server_default='', nullable=False))
    with op.batch_alter_table('entitlements') as batch_op:
        batch_op.add_column(sa.Column('gives', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('expired_at', portal.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_entitlements_expired_at_ends_at', ['expired_at', 'ends_at'], unique=False)
    # Entitlements that ended before this release stay quiet: the sweep announces only what ends from now on.
    entitlements = sa.table(
        'entitlements',
        sa.column('ends_at', portal.models.base.UTCDateTime(timezone=True)),
        sa.column('expired_at', portal.models.base.UTCDateTime(timezone=True)),
    )
    op.execute(
        entitlements.update()
        .where(entitlements.c.ends_at <= datetime.now(timezone.utc))
        .values(expired_at=entitlements.c.ends_at)
    )


def downgrade():
    with op.batch_alter_table('entitlements') as batch_op:
        batch_op.drop_index('ix_entitlements_expired_at_ends_at')
        batch_op.drop_column('expired_at')
        batch_op.drop_column('gives')
    with op.batch_alter_table('campaigns') as batch_op:
        batch_op.drop_column('feature_gives')

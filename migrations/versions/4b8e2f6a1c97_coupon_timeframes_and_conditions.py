"""Coupon timeframes and conditions: weekdays and hours in the merchant's time zone, first order
only, a maximum discount per use and per customer (issue 27)

Revision ID: 4b8e2f6a1c97
Revises: 4f8b2c6e1a70
Create Date: 2026-12-07 17:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4b8e2f6a1c97'
down_revision = '4f8b2c6e1a70'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('merchants') as batch_op:
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), server_default='UTC', nullable=False))
    with op.batch_alter_table('campaigns') as batch_op:
        batch_op.add_column(sa.Column('weekdays', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('hours_from', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.add_column(sa.Column('hours_until', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.add_column(sa.Column('first_order_only', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('max_discount', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.add_column(
            sa.Column('max_discount_per_customer', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True)
        )
        batch_op.create_check_constraint(
            op.f('ck_campaigns_hours_in_day'),
            'hours_from IS NULL OR (hours_from >= 0 AND hours_from < 1440 AND hours_until >= 0 '
            'AND hours_until <= 1440 AND hours_from != hours_until)',
        )
        batch_op.create_check_constraint(op.f('ck_campaigns_max_discount_positive'), 'max_discount IS NULL OR max_discount > 0')
        batch_op.create_check_constraint(
            op.f('ck_campaigns_max_discount_per_customer_positive'), 'max_discount_per_customer IS NULL OR max_discount_per_customer > 0'
        )
    with op.batch_alter_table('campaign_customers') as batch_op:
        batch_op.add_column(
            sa.Column('discounted', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), server_default='0', nullable=False)
        )
        batch_op.create_check_constraint(op.f('ck_campaign_customers_discounted_not_negative'), 'discounted >= 0')


def downgrade():
    with op.batch_alter_table('campaign_customers') as batch_op:
        batch_op.drop_constraint(op.f('ck_campaign_customers_discounted_not_negative'), type_='check')
        batch_op.drop_column('discounted')
    with op.batch_alter_table('campaigns') as batch_op:
        batch_op.drop_constraint(op.f('ck_campaigns_max_discount_per_customer_positive'), type_='check')
        batch_op.drop_constraint(op.f('ck_campaigns_max_discount_positive'), type_='check')
        batch_op.drop_constraint(op.f('ck_campaigns_hours_in_day'), type_='check')
        for column in ('max_discount_per_customer', 'max_discount', 'first_order_only', 'hours_until', 'hours_from',
                       'weekdays'):
            batch_op.drop_column(column)
    with op.batch_alter_table('merchants') as batch_op:
        batch_op.drop_column('timezone')

"""Two payments of one sale at once (two tabs, two tills) on PostgreSQL: together they never pay
more than is due."""

from __future__ import annotations

import threading
import time

import pytest

from portal.auth.users import create_user
from portal.errors import DomainError
from portal.extensions import db
from portal.ledger import Actor, balance_by_key, verify
from portal.merchants import create_merchant
from portal.models import Merchant, User
from portal.money import Money
from portal.till import checkout
from portal.till.shopper import Shopper
from portal.wallet import credit_wallet

pytestmark = pytest.mark.postgres


def test_two_wallet_payments_of_one_sale_at_once_pay_what_is_due_once(pg_app):
    with pg_app.app_context():
        cafe = create_merchant(db.session, "corner-cafe", "Corner Café")
        staff = create_user(db.session, "staff@example.com", "a long password", role="merchant", merchant=cafe)
        cara = create_user(db.session, "cara@example.com", "a long password", role="customer", name="Cara")
        credit_wallet(db.session, cara, Money.parse("20.00", "USD"), actor=Actor(), idempotency_key="seed", reason="Goodwill")
        db.session.commit()
        ids = cafe.id, staff.id, cara.id
    sale = checkout.new_id()
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def pay(i: int) -> None:
        merchant_id, staff_id, cara_id = ids
        with pg_app.app_context():
            merchant = db.session.get(Merchant, merchant_id)
            customer = Shopper(db.session.get(User, cara_id), present=True)
            barrier.wait()
            try:
                checkout.lock_sale(db.session, sale)
                state = checkout.open_sale(db.session, merchant, sale, Money.parse("10.00", "USD"), customer=customer)
                checkout.pay_by_wallet(db.session, state, merchant, "10.00",
                                       actor=Actor(user_id=staff_id, merchant_id=merchant_id), idempotency_key=f"tab-{i}")
                time.sleep(0.5)  # the other tab is deciding meanwhile
                db.session.commit()
                results[i] = "paid"
            except DomainError as error:
                db.session.rollback()
                results[i] = error.message

    threads = [threading.Thread(target=pay, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == ["That is more than the 0.00 USD still to pay", "paid"]
    with pg_app.app_context():
        assert balance_by_key(db.session, f"wallet:{ids[2]}:USD") == 1000
        assert verify(db.session) == []

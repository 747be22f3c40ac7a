"""Networks on PostgreSQL: the one-call payment (``giftloop_card_usable``) and the Python path
refuse a card outside its network with the same words, and take it inside."""

from __future__ import annotations

import pytest

from portal.cards.operations import load, redeem
from portal.errors import NotValidHere
from portal.extensions import db
from portal.ledger import SYSTEM, Actor, verify
from portal.merchants import create_merchant
from portal.models import GiftCard, Network
from portal.money import Money
from portal.networks import add_merchant, create_network, set_card_network
from tests.factories import issue

pytestmark = pytest.mark.postgres


@pytest.fixture
def stores(pg_app):
    """Corner Café outside Riverside Mall, The Book Nook in it, and a 10.00 card of the mall; its id."""
    with pg_app.app_context():
        create_merchant(db.session, "corner-cafe", "Corner Café")
        create_merchant(db.session, "book-nook", "The Book Nook")
        mall = create_network(db.session, "Riverside Mall", actor=SYSTEM)
        add_merchant(db.session, mall, "book-nook", actor=SYSTEM)
        db.session.commit()
        mall_id = mall.id
    card_id, _ = issue(pg_app, amount="10.00")
    with pg_app.app_context():
        set_card_network(db.session, db.session.get(GiftCard, card_id), db.session.get(Network, mall_id), actor=SYSTEM)
        db.session.commit()
    return card_id


def _pay(app, card_id: int, slug: str, key: str) -> int:
    from portal.merchants import by_slug

    with app.app_context():
        store = by_slug(db.session, slug)
        try:
            paid = redeem(db.session, db.session.get(GiftCard, card_id), Money.parse("4.00", "USD"),
                          actor=Actor(merchant_id=store.id), idempotency_key=key, merchant=store)
            db.session.commit()
            return paid.card.account.balance
        finally:
            db.session.rollback()


def test_a_card_is_refused_outside_its_network_and_taken_inside_on_both_paths(pg_app, stores, payment_path):
    with pytest.raises(NotValidHere, match="This card works only in the Riverside Mall network, and Corner Café is not part of it"):
        _pay(pg_app, stores, "corner-cafe", "outside")
    assert _pay(pg_app, stores, "book-nook", "inside") == 600
    with pg_app.app_context():
        assert verify(db.session) == []


def test_a_cash_top_up_outside_the_network_is_refused_on_both_paths(pg_app, stores, payment_path):
    from portal.merchants import by_slug

    with pg_app.app_context():
        cafe = by_slug(db.session, "corner-cafe")
        with pytest.raises(NotValidHere, match="Riverside Mall"):
            load(db.session, db.session.get(GiftCard, stores), Money.parse("5.00", "USD"), source="cash",
                 actor=Actor(merchant_id=cafe.id), idempotency_key="load", merchant=cafe)
        db.session.rollback()
        assert db.session.get(GiftCard, stores).account.balance == 1000

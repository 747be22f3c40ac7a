"""``POST /api/v1/checkout`` on PostgreSQL: a sale with a customer, a coupon and three tenders is one
group in the ledger, replayed by its key; a refused tender leaves every balance as it was."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from portal.auth.users import create_user
from portal.campaigns.definitions import create_campaign, read_spec
from portal.cards import operations
from portal.extensions import db
from portal.ledger import Actor, verify
from portal.loyalty.points import earn
from portal.merchants import create_merchant
from portal.models import Account, Transaction
from portal.models.campaigns import Campaign
from portal.models.outbox import OutboxMessage
from portal.money import Money
from portal.services import services
from portal.tokens import create_token
from portal.wallet import credit_wallet

pytestmark = pytest.mark.postgres


@pytest.fixture
def shop(pg_app):
    """Corner Café with a staff token; Cara with 3.00 credit, 200 Loops and a 20.00 card; SAVE10."""
    with pg_app.app_context():
        cafe = create_merchant(db.session, "corner-cafe", "Corner Café")
        staff = create_user(db.session, "staff@example.com", "a long password", role="merchant", merchant=cafe)
        cara = create_user(db.session, "cara@example.com", "a long password", role="customer", name="Cara Jones")
        _, token = create_token(db.session, staff, "till")
        credit_wallet(db.session, cara, Money.parse("3.00", "USD"), actor=Actor(), idempotency_key="seed-credit",
                      reason="Goodwill")
        earn(db.session, cara, Money.parse("20.00", "USD"), cafe, actor=Actor(), idempotency_key="seed-loops")
        issued = operations.issue_card(db.session, services().vault, amount=Money.parse("20.00", "USD"), actor=Actor(),
                                       idempotency_key="seed-card", owner=cara)
        create_campaign(db.session, services().vault, read_spec(db.session, {
            "name": "Demo", "kind": "coupon", "discount_type": "percent", "discount_value": "10",
            "code_mode": "vanity", "code": "SAVE10", "uses_per_user": "1"}), actor=Actor())
        db.session.commit()
        code = services().customer_codes.issue(cara.id)
        return {"token": token, "card": issued.code, "card_account": issued.card.account_id, "customer": code,
                "cara": cara.id}


def balances(pg_app) -> dict[str, int]:
    with pg_app.app_context():
        return dict(db.session.execute(sa.select(Account.key, Account.balance)).all())


def checkout(pg_app, shop, body, key=None):
    client = pg_app.test_client()
    return client.post("/api/v1/checkout", json=body, headers={
        "Authorization": f"Bearer {shop['token']}", "Idempotency-Key": key or str(uuid.uuid4())})


def sale(shop, **changes):
    body = {
        "total": "20.00", "customer": shop["customer"], "coupon": "SAVE10",
        "tenders": [
            {"type": "loops", "loops": 200},
            {"type": "wallet", "amount": "3.00"},
            {"type": "card", "code": shop["card"], "amount": "13.00"},
        ],
    }
    body.update(changes)
    return body


@pytest.mark.usefixtures("payment_path")  # card and wallet tenders both ways
def test_a_three_tender_sale_is_one_group_in_the_ledger_and_its_key_replays_it(pg_app, shop):
    first = checkout(pg_app, shop, sale(shop), key="sale-1")
    assert first.status_code == 201, first.json
    answer = first.json
    assert (answer["total"], answer["discount"], answer["paid"], answer["remaining_due"]) == ("20.00", "2.00", "18.00", "0.00")
    assert answer["customer"] == {"first_name": "Cara", "present": True}
    assert [(line["type"], line["amount"], line["left_to_pay"]) for line in answer["lines"]] == [
        ("coupon", "2.00", "18.00"), ("loops", "2.00", "16.00"), ("wallet", "3.00", "13.00"), ("card", "13.00", "0.00")]
    with pg_app.app_context():
        group = db.session.scalars(sa.select(Transaction).where(Transaction.reference == answer["reference"])).all()
        assert sorted(t.id for t in group) == sorted(line["transaction_id"] for line in answer["lines"][1:])
        assert verify(db.session) == []
        assert [m.kind for m in db.session.scalars(sa.select(OutboxMessage))
                if m.kind != "card_received"] == ["sale_receipt"]
    after = balances(pg_app)
    assert after[f"wallet:{shop['cara']}:USD"] == 0 and after[f"loops:{shop['cara']}"] == 0
    assert after["settlement:1:USD"] == 1800

    again = checkout(pg_app, shop, sale(shop), key="sale-1")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json == answer
    assert balances(pg_app) == after


@pytest.mark.parametrize(
    ("tender", "field", "reason"),
    [
        ({"type": "card", "code": "card", "amount": "30.00"}, "tenders[2].amount", "more than the 13.00 USD still to pay"),
        ({"type": "card", "code": "GC-0000-0000-0000-0000-0", "amount": "13.00"}, "tenders[2].code", None),
        ({"type": "wallet", "amount": "9.00"}, "tenders[2].amount", "The wallet holds 0.00 USD; 9.00 USD is more"),
        ({"type": "loops", "loops": 50}, "tenders[2]", "You have 0 Loops"),
    ],
    ids=["over-due", "unknown-card", "wallet-short", "loops-short"],
)
@pytest.mark.usefixtures("payment_path")
def test_a_refused_tender_moves_nothing(pg_app, shop, tender, field, reason):
    before = balances(pg_app)
    if tender.get("code") == "card":
        tender = {**tender, "code": shop["card"]}
    body = sale(shop)
    body["tenders"][2] = tender
    response = checkout(pg_app, shop, body)
    assert response.status_code in (404, 422), response.json
    assert response.json["field"].startswith(field)
    if reason:
        assert reason in response.json["detail"]
    assert balances(pg_app) == before
    with pg_app.app_context():
        assert db.session.scalar(sa.select(Campaign.uses)) == 0
        assert db.session.scalar(sa.select(sa.func.count(Transaction.id)).where(Transaction.kind == "redeem")) == 0
        assert verify(db.session) == []


def test_an_e_mail_names_the_customer_for_the_coupon_but_spends_nothing_of_theirs(pg_app, shop):
    before = balances(pg_app)
    response = checkout(pg_app, shop, sale(shop, customer="cara@example.com"))
    assert response.status_code == 422
    assert response.json["field"] == "tenders[0]" and "e-mail address cannot spend their Loops" in response.json["detail"]
    assert balances(pg_app) == before
    only_card = sale(shop, customer="cara@example.com", tenders=[{"type": "card", "code": shop["card"], "amount": "18.00"}])
    assert checkout(pg_app, shop, only_card).status_code == 201


def test_a_coupon_past_the_customers_limit_is_refused(pg_app, shop):
    card_only = [{"type": "card", "code": shop["card"], "amount": "9.00"}]
    assert checkout(pg_app, shop, sale(shop, total="10.00", tenders=card_only)).status_code == 201
    again = checkout(pg_app, shop, sale(shop, total="10.00", tenders=card_only))
    assert again.status_code == 422
    assert again.json["field"] == "coupon" and "You have already used this code" in again.json["detail"]
    anonymous = checkout(pg_app, shop, sale(shop, customer=None, tenders=[]))
    assert anonymous.json["field"] == "customer" and "limited per customer" in anonymous.json["detail"]

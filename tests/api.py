"""The JSON API as a test drives it: a client holding each role's token, and what a refusal must leave alone."""

from __future__ import annotations

import uuid

from portal.extensions import db
from portal.models import Account, GiftCard, Transaction
from portal.services import services


class Api:
    """Calls the API as a program would: a role's bearer token and a fresh Idempotency-Key."""

    def __init__(self, client, tokens):
        self.client, self.tokens = client, tokens

    def get(self, path, role="merchant"):
        return self.client.get(f"/api/v1{path}", headers={"Authorization": f"Bearer {self.tokens[role]}"})

    def post(self, path, body=None, role="merchant", key=None):
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        if key is not False:
            headers["Idempotency-Key"] = key or str(uuid.uuid4())
        return self.client.post(f"/api/v1{path}", json=body if body is not None else {}, headers=headers)

    def lookup(self, code, role="merchant"):
        """POST /cards/lookup: the code in the body, never in the URL."""
        return self.client.post(
            "/api/v1/cards/lookup", json={"code": code}, headers={"Authorization": f"Bearer {self.tokens[role]}"}
        )

    def card_id(self, code, role="merchant") -> int:
        """The id a look-up answers, which this role's user may then name the card by."""
        response = self.lookup(code, role)
        assert response.status_code == 200, response.json
        return response.json["id"]

    def redeem(self, code, body, role="merchant", key=None):
        """POST /cards/redeem with the code in the body."""
        return self.post("/cards/redeem", {"code": code, **body}, role, key)


def state(app) -> tuple:
    """Every balance and the number of transactions: what a refusal must leave alone."""
    with app.app_context():
        balances = tuple(db.session.execute(db.select(Account.key, Account.balance).order_by(Account.id)).all())
        return balances, db.session.scalar(db.select(db.func.count(Transaction.id)))


def card_row(app, code) -> GiftCard:
    with app.app_context():
        from portal.cards.lookup import find_card

        card = find_card(db.session, code, services().vault, services().qr)
        db.session.expunge(card)
        return card

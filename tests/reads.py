"""What tests read back from the database: balances, counts, owners, and the snapshot a refusal
must leave unchanged."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.errors import DomainError
from portal.extensions import db
from portal.ledger import balance_by_key
from portal.models import Account, GiftCard, Transaction, Transfer
from portal.money import Money
from tests.factories import user
from tests.pages import text


def balance(app, code: str) -> str:
    """A card's balance now, found by its code, as money ("7.50 USD")."""
    from portal.cards.lookup import find_card
    from portal.services import services

    with app.app_context():
        card = find_card(db.session, code, services().vault, services().qr)
        return str(Money(card.account.balance, card.currency))


def card_balance(app, card_id: int) -> int:
    with app.app_context():
        card = db.session.get(GiftCard, card_id)
        return db.session.scalar(sa.select(Account.balance).where(Account.id == card.account_id))


def account_balance(app, key: str) -> int:
    """The balance of the ledger account with this key (0 when it does not exist yet)."""
    with app.app_context():
        return balance_by_key(db.session, key)


def loops_of(app, email: str) -> int:
    with app.app_context():
        return account_balance(app, f"loops:{user(email).id}")


def wallet_of(app, email: str, currency: str = "USD") -> int:
    with app.app_context():
        return account_balance(app, f"wallet:{user(email).id}:{currency}")


def owner_of(app, card_id: int) -> int | None:
    with app.app_context():
        return db.session.get(GiftCard, card_id).owner_id


def user_id(app, email: str) -> int:
    with app.app_context():
        return user(email).id


def count(app, kind: str) -> int:
    """How many ledger transactions of a kind exist."""
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Transaction).where(Transaction.kind == kind))


def snapshot(app) -> dict:
    """Everything a refusal must leave as it was."""
    with app.app_context():
        return {
            "cards": db.session.scalar(sa.select(sa.func.count(GiftCard.id))),
            "transactions": db.session.scalar(sa.select(sa.func.count(Transaction.id))),
            "transfers": db.session.scalar(sa.select(sa.func.count(Transfer.id))),
            "balances": dict(db.session.execute(sa.select(Account.key, Account.balance)).all()),
            "owners": dict(db.session.execute(sa.select(GiftCard.id, GiftCard.owner_id)).all()),
        }


def refused(app, send, message: str):
    """Send what must be refused (``send`` makes the request): 422, ``message`` on the page, and
    nothing changed; the response."""
    before = snapshot(app)
    response = send()
    assert response.status_code == 422
    assert message in text(response)
    assert snapshot(app) == before
    return response


def refusal(call) -> DomainError:
    """The error the domain call ``call`` is refused with."""
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value


def rows(app, model) -> list:
    """Every row of a model, oldest first, detached so the test can read them after the context."""
    with app.app_context():
        found = list(db.session.scalars(sa.select(model).order_by(model.id)))
        db.session.expunge_all()
        return found


def uses(app, campaign_id: int) -> tuple[int, int]:
    """A campaign's use counter and how many uses are recorded."""
    from portal.models.campaigns import Campaign, CampaignUse

    with app.app_context():
        counter = db.session.get(Campaign, campaign_id).uses
        recorded = db.session.scalar(sa.select(sa.func.count(CampaignUse.id)).where(CampaignUse.campaign_id == campaign_id))
        return counter, recorded


def customer_code(app, email: str) -> str:
    """The customer code the customer's wallet page shows now."""
    from portal.services import services

    with app.app_context():
        return services().customer_codes.issue(user(email).id)


def outbox_rows(kind: str | None = None) -> list:
    """The outbox's messages (of one kind), oldest first, read afresh (inside an app context)."""
    from portal.models import OutboxMessage

    query = sa.select(OutboxMessage).order_by(OutboxMessage.id)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    db.session.expire_all()
    return list(db.session.scalars(query))


def outbox(app) -> list:
    """Every outbox message, oldest first, detached."""
    from portal.models import OutboxMessage

    return rows(app, OutboxMessage)

"""A card payment, a wallet payment and a cash top-up on PostgreSQL write the same rows, and refuse
with the same words, whether they run as one call of giftloop_redeem / giftloop_pay_from_wallet /
giftloop_load_cash or through the Python path SQLite uses (issue 24)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.auth.users import create_user
from portal.cards import operations as ops
from portal.cards.transfers import start_transfer
from portal.errors import DomainError
from portal.events.endpoints import create_endpoint
from portal.extensions import db
from portal.ledger import Actor, in_database, verify
from portal.merchants import create_merchant
from portal.models import Account, Entry, GiftCard, Merchant, ProgrammeLimits, Transaction, User, utcnow
from portal.models.events import Event, WebhookDelivery
from portal.models.outbox import OutboxMessage
from portal.money import Money
from portal.services import services
from portal.wallet import credit_wallet, pay_from_wallet

pytestmark = pytest.mark.postgres
PATHS = {"one call": {"postgresql"}, "python": set()}


@pytest.fixture
def shop(pg_app):
    """Corner Café with a till, a customer who takes e-mailed receipts, and a webhook for the café's payments."""
    with pg_app.app_context():
        cafe = create_merchant(db.session, "corner-cafe", "Corner Café")
        create_merchant(db.session, "book-nook", "The Book Nook")
        staff = create_user(db.session, "till@corner-cafe.test", "till password 1", role="merchant", merchant=cafe)
        create_user(db.session, "cara@example.com", "cara password 1", role="customer")
        create_endpoint(
            db.session, services().vault, url="https://hooks.example.com/cafe", event_types=["card.redeemed"],
            merchant_id=cafe.id, actor=Actor(user_id=staff.id), allow_private=False,
        )
        db.session.commit()
        yield pg_app


def _card(amount: str, **kwargs) -> GiftCard:
    owner = db.session.scalar(sa.select(User).where(User.email == "cara@example.com"))
    return ops.issue_card(
        db.session, services().vault, amount=Money.parse(amount, "USD"), actor=Actor(), idempotency_key=f"issue-{utcnow()}",
        owner=owner, **kwargs,
    ).card


def _merchant(slug: str) -> Merchant:
    return db.session.scalar(sa.select(Merchant).where(Merchant.slug == slug))


def _written(transaction_id: int) -> dict:
    """What a payment wrote, without the ids and times that differ from one payment to the next."""
    tx = db.session.get(Transaction, transaction_id)
    entries = db.session.scalars(sa.select(Entry).where(Entry.transaction_id == tx.id).order_by(Entry.id)).all()
    event = db.session.scalar(sa.select(Event).where(Event.transaction_id == tx.id))
    card = event.payload["card"] and dict(event.payload["card"], id=None, code_masked=None)
    payload = dict(event.payload, transaction_id=None, card=card)
    receipt = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.key.endswith(f"_receipt:{tx.id}")))
    return {
        "transaction": (tx.kind, tx.actor, tx.merchant_id, tx.memo, tx.reference, tx.user_id, tx.reverses_id),
        "entries": [(e.amount, e.currency) for e in entries],
        "event": (event.type, event.merchant_id, payload),
        "deliveries": db.session.scalar(sa.select(sa.func.count(WebhookDelivery.id)).where(WebhookDelivery.event_id == event.id)),
        "receipt": receipt and (receipt.kind, receipt.recipient, dict(receipt.context, transaction_id=None, at=None)),
    }


def _pay(path: str, card: GiftCard, amount: str, key: str, currency: str = "USD", **kwargs):
    in_database.IN_ONE_CALL = PATHS[path]
    try:
        cafe = _merchant("corner-cafe")
        return ops.redeem(
            db.session, card, Money.parse(amount, currency), actor=Actor(user_id=1, merchant_id=cafe.id),
            idempotency_key=key, merchant=cafe, **kwargs,
        )
    finally:
        in_database.IN_ONE_CALL = {"postgresql"}


@pytest.mark.parametrize("amount, partial", [("1234.56", False), ("2500.00", True), ("0.01", False)])
def test_both_paths_write_the_same_payment(shop, amount, partial):
    """Transaction and memo, entries, event and its delivery, the owner's receipt: the same rows either way."""
    with shop.app_context():
        written = {}
        for path in PATHS:
            card = _card("2000.00")
            paid = _pay(path, card, amount, f"pay-{path}", allow_partial=partial, reference="sale 7")
            db.session.commit()
            applied = min(Money.parse(amount, "USD"), Money.parse("2000.00", "USD"))
            assert (paid.applied, paid.remaining_due) == (applied, Money.parse(amount, "USD") - applied)
            written[path] = _written(paid.transaction.id)
        assert written["one call"] == written["python"]
        assert written["python"]["transaction"][3].startswith("Paid ") and written["python"]["deliveries"] == 1
        assert written["python"]["receipt"] is not None
        assert verify(db.session) == []


def database_rows() -> tuple:
    """Balances and the counts of what a payment writes."""
    return (
        sorted(db.session.execute(sa.select(Account.key, Account.balance).where(Account.balance != 0)).all()),
        *(db.session.scalar(sa.select(sa.func.count()).select_from(model)) for model in (Transaction, Entry, Event, OutboxMessage)),
    )


def _refusals(path: str) -> list[tuple[str, str]]:
    """Each refusal's code and message on one path (a fresh card for each)."""
    books = _merchant("book-nook")
    answers = []

    def attempt(card, amount="1.00", **kwargs):
        before = database_rows()
        try:
            _pay(path, card, amount, f"refused-{path}-{len(answers)}", **kwargs)
        except DomainError as error:
            assert database_rows() == before, (path, error.code)
            answers.append((error.code, error.message))
        else:
            raise AssertionError(f"{path}: paid what it should refuse ({len(answers)})")

    attempt(_card("5.00"), "9.99")  # more than it holds
    empty = _card("1.00")
    _pay(path, empty, "1.00", f"empty-{path}")
    attempt(empty, "1.00", allow_partial=True)  # nothing left
    frozen = _card("5.00")
    ops.freeze(db.session, frozen, actor=Actor(), reason="lost")
    attempt(frozen)
    attempt(_card("5.00", merchant=books, scope_to_merchant=True))  # another shop's card
    attempt(_card("5.00", kind="promotional", expires_in_days=1), now=utcnow() + timedelta(days=2))
    held = _card("5.00")
    start_transfer(db.session, services().vault, held, actor=Actor(user_id=held.owner_id), to_email="friend@example.com")
    attempt(held)
    attempt(_card("5.00"), "1.00", currency="EUR")
    return answers


def test_both_paths_refuse_with_the_same_words_and_write_nothing(shop):
    """Too little, nothing left, frozen, another shop's, expired, held for a friend, another currency."""
    with shop.app_context():
        one_call, python = _refusals("one call"), _refusals("python")
        assert one_call == python and len(one_call) == 7
        assert verify(db.session) == []


def _wallet_payment(path: str, customer: User, amount: str, key: str):
    in_database.IN_ONE_CALL = PATHS[path]
    try:
        cafe = _merchant("corner-cafe")
        return pay_from_wallet(
            db.session, customer, Money.parse(amount, "USD"), cafe, actor=Actor(user_id=1, merchant_id=cafe.id),
            idempotency_key=key, reference="sale 9",
        )
    finally:
        in_database.IN_ONE_CALL = {"postgresql"}


def test_both_paths_pay_from_wallet_credit_alike_and_refuse_alike(shop):
    """A wallet payment at the till (each path its own customer with 30.00 of credit): the same rows
    either way; more than the wallet holds is refused with the same words and nothing written; the
    same key again answers with the first payment."""
    with shop.app_context():
        written, refusals = {}, {}
        for path in PATHS:
            customer = create_user(db.session, f"{path.replace(' ', '-')}@example.com", "a password 123", role="customer")
            credit_wallet(db.session, customer, Money.parse("30.00", "USD"), actor=Actor(), idempotency_key=path,
                          reason="goodwill")
            paid = _wallet_payment(path, customer, "12.50", f"wallet-{path}")
            assert _wallet_payment(path, customer, "12.50", f"wallet-{path}").id == paid.id
            written[path] = _written(paid.id)
            before = database_rows()
            with pytest.raises(DomainError) as refused:
                _wallet_payment(path, customer, "99.00", f"too-much-{path}")
            assert database_rows() == before
            refusals[path] = (refused.value.code, refused.value.message, refused.value.field)
        for rows in written.values():
            rows["event"][2]["customer_id"] = None  # each path's own customer
        assert written["one call"] == written["python"] and written["python"]["deliveries"] == 1
        assert refusals["one call"] == refusals["python"] == (
            "insufficient_funds", "The wallet holds 17.50 USD; 99.00 USD is more than that", "amount",
        )
        assert verify(db.session) == []


def _load(path: str, card: GiftCard, amount: str, key: str):
    in_database.IN_ONE_CALL = PATHS[path]
    try:
        cafe = _merchant("corner-cafe")
        return ops.load(
            db.session, card, Money.parse(amount, "USD"), actor=Actor(user_id=1, merchant_id=cafe.id),
            idempotency_key=key, source="cash", merchant=cafe,
        )
    finally:
        in_database.IN_ONE_CALL = {"postgresql"}


def test_both_paths_top_up_with_cash_alike_and_refuse_alike(shop):
    """A cash top-up at the till: the same rows, expiry moved on to five years and receipt either way;
    past the programme's maximum card balance or on a frozen card, the same refusal, nothing written."""
    with shop.app_context():
        db.session.add(ProgrammeLimits(currency="USD", min_purchase=100, max_purchase=10_000, max_card_balance=10_000,
                                       max_daily_per_customer=100_000, max_cards_per_order=10))
        written, refusals = {}, {}
        for path in PATHS:
            card = _card("20.00")
            card.expires_at = utcnow() + timedelta(days=10)
            loaded = _load(path, card, "30.00", f"load-{path}")
            assert _load(path, card, "30.00", f"load-{path}").id == loaded.id
            assert card.expires_at.date() == (utcnow() + timedelta(days=ops.PURCHASED_MIN_DAYS)).date()
            written[path] = _written(loaded.id)
            frozen = _card("5.00")
            ops.freeze(db.session, frozen, actor=Actor(), reason="lost")
            before, answers = database_rows(), []
            for call in (lambda: _load(path, card, "60.00", f"over-{path}"), lambda: _load(path, frozen, "1.00", f"fr-{path}")):
                with pytest.raises(DomainError) as refused:
                    call()
                answers.append((refused.value.code, refused.value.message))
            assert database_rows() == before
            refusals[path] = answers
        assert written["one call"] == written["python"] and written["python"]["receipt"] is not None
        assert written["python"]["event"][0] == "card.loaded" and written["python"]["deliveries"] == 0
        assert refusals["one call"] == refusals["python"] == [
            ("limit_exceeded", "A gift card may hold at most 100.00 USD"),
            ("frozen", "This card is frozen; please contact Giftloop support"),
        ]
        assert verify(db.session) == []

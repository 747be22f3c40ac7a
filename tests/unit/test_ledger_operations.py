"""Stories of a gift card's money: issue, pay, top up, undo, correct, freeze, cancel, expire, give away.

Every refusal also checks that nothing changed: no balance, transaction, status or audit row.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from portal.cards import operations as ops
from portal.cards.expiry import expire_card, expire_due, reinstate
from portal.cards.lookup import find_card, usable_at
from portal.cards.transfers import (
    cancel_transfer,
    claim_transfer,
    is_held,
    lapse_transfers,
    start_transfer,
)
from portal.errors import (
    AlreadyRedeemed,
    CardCancelled,
    CardExpired,
    CardFrozen,
    CurrencyMismatch,
    Forbidden,
    IdempotencyConflict,
    InsufficientFunds,
    NotFound,
    NotValidHere,
    TransferNotFound,
    ValidationError,
)
from portal.extensions import db
from portal.ledger import Actor, balance_of, history, system_account, verify
from portal.loyalty import conversion, points
from portal.models import Account, AuditEvent, GiftCard, Merchant, Transaction, Transfer, User, utcnow
from portal.money import Money
from portal.services import services
from portal.wallet import credit_wallet, wallet_account


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


def key() -> str:
    return uuid.uuid4().hex


def state(session) -> tuple:
    """Everything a refusal must leave alone (an empty account made on the way does not count)."""
    session.flush()
    return (
        sorted(session.execute(sa.select(Account.key, Account.balance).where(Account.balance != 0)).all()),
        session.scalar(sa.select(sa.func.count(Transaction.id))),
        sorted(session.execute(sa.select(GiftCard.id, GiftCard.status, GiftCard.owner_id, GiftCard.expires_at)).all()),
        session.scalar(sa.select(sa.func.count(AuditEvent.id))),
        sorted(session.execute(sa.select(Transfer.id, Transfer.status)).all()),
    )


class World:
    """Two merchants, their staff, two customers and an admin, made without password hashing."""

    def __init__(self, session):
        self.session = session
        self.vault = services().vault
        self.qr = services().qr
        self.cafe = Merchant(slug="corner-cafe", name="Corner Café", currency="USD", loops_per_unit=10)
        self.books = Merchant(
            slug="book-nook", name="The Book Nook", currency="USD", loops_per_unit=5,
            conversion_rate=90, sells_network_cards=True,
        )
        self.bistro = Merchant(slug="bistro", name="Bistro Paris", currency="EUR")
        session.add_all([self.cafe, self.books, self.bistro])
        session.flush()
        self.cara = self._user("cara@example.com", "customer")
        self.finn = self._user("finn@example.com", "customer")
        self.sam = self._user("sam@corner-cafe.test", "merchant", self.cafe)
        self.bea = self._user("bea@book-nook.test", "merchant", self.books)
        self.ada = self._user("ada@giftloop.test", "admin")
        self.admin = Actor(user_id=self.ada.id)
        self.till = Actor(user_id=self.sam.id, merchant_id=self.cafe.id)
        self.book_till = Actor(user_id=self.bea.id, merchant_id=self.books.id)

    def _user(self, email, role, merchant=None):
        user = User(email=email, password_hash="!", role=role, merchant=merchant)
        self.session.add(user)
        self.session.flush()
        return user

    def card(self, balance: str = "10.00", **kwargs) -> ops.IssuedCard:
        kwargs.setdefault("owner", self.cara)
        return ops.issue_card(
            self.session, self.vault, amount=usd(balance), actor=self.admin, idempotency_key=key(), **kwargs
        )

    def balance(self, card: GiftCard) -> Money:
        return Money(balance_of(self.session, card.account_id), card.currency)

    def account(self, key_: str) -> int:
        return self.session.scalar(sa.select(Account.balance).where(Account.key == key_)) or 0

    def pay(self, card, amount, merchant=None, **kwargs):
        merchant = merchant or self.cafe
        actor = self.till if merchant is self.cafe else self.book_till
        return ops.redeem(self.session, card, usd(amount), actor=actor, idempotency_key=key(), merchant=merchant, **kwargs)


@pytest.fixture
def world(request):
    """The world on SQLite, or on PostgreSQL where a payment is one call of giftloop_redeem."""
    app = request.getfixturevalue(getattr(request, "param", "app"))
    with app.app_context():
        world = World(db.session)
        yield world
        assert verify(db.session) == []
        db.session.rollback()


# Stories that pay with or top up a card run on both paths: SQLite's Python and PostgreSQL's one call.
BOTH_PATHS = pytest.mark.parametrize("world", ["app", pytest.param("pg_app", marks=pytest.mark.postgres)], indirect=True)


def refused(world, error, call, message=None):
    """Run call, expect the error (and message), and check that nothing changed."""
    before = state(world.session)
    with pytest.raises(error) as caught:
        call()
    if message is not None:
        assert caught.value.message == message
    assert state(world.session) == before
    return caught.value


# --- Issuing ---------------------------------------------------------------------------------


def test_a_purchased_card_holds_its_value_for_five_years_and_shows_its_code_once(world):
    """Is a bought card worth what was paid, valid 1826 days, and findable by its code however typed?"""
    issued = world.card("50.00")
    assert world.balance(issued.card) == usd("50.00")
    assert issued.card.kind == "purchased" and issued.card.status == "active"
    assert issued.card.expires_at.date() == (utcnow() + timedelta(days=1826)).date()
    assert world.account("system:issuance:USD") == -5000
    assert issued.card.code.masked.endswith(issued.code[-6:]) and "•" in issued.card.code.masked
    sloppy = issued.code.lower().replace("-", " ")
    assert find_card(world.session, sloppy, world.vault, world.qr) is issued.card
    assert issued.transaction.kind == "issue" and issued.transaction.card_id == issued.card.id


def test_a_purchased_card_cannot_expire_sooner_than_five_years(world):
    """Does a programme asking for a one-year purchased card get told the legal minimum?"""
    refused(
        world, ValidationError, lambda: world.card("20.00", expires_in_days=365),
        "Cards bought with money must stay valid for at least 5 years (1826 days)",
    )
    longer = world.card("20.00", expires_in_days=2000)
    assert longer.card.expires_at.date() == (utcnow() + timedelta(days=2000)).date()


def test_a_promotional_card_lasts_ninety_days_and_is_paid_by_promotions(world):
    """Is a campaign card funded by the promotions account and valid 90 days unless told otherwise?"""
    gift = world.card("5.00", kind="promotional")
    assert gift.card.expires_at.date() == (utcnow() + timedelta(days=90)).date()
    assert world.account("system:promotions:USD") == -500
    short = world.card("5.00", kind="promotional", expires_in_days=7)
    assert short.card.expires_at.date() == (utcnow() + timedelta(days=7)).date()


def test_a_card_sold_at_a_counter_works_only_there_unless_the_shop_sells_network_cards(world):
    """Is a café's card scoped to the café, and a Book Nook card good everywhere?"""
    assert world.card(merchant=world.cafe).card.merchant_id == world.cafe.id
    assert world.card(merchant=world.books).card.merchant_id is None
    assert world.card(merchant=world.books, scope_to_merchant=True).card.merchant_id == world.books.id


def test_issuing_again_with_the_same_key_gives_back_the_same_card(world):
    """Does a retried issue return the first card and code, and another request under the key fail?"""
    first = ops.issue_card(world.session, world.vault, amount=usd("25.00"), actor=world.admin, idempotency_key="sale-1")
    again = ops.issue_card(world.session, world.vault, amount=usd("25.00"), actor=world.admin, idempotency_key="sale-1")
    assert again.card is first.card and again.code == first.code and again.transaction is first.transaction
    refused(
        world, IdempotencyConflict,
        lambda: ops.issue_card(world.session, world.vault, amount=usd("30.00"), actor=world.admin, idempotency_key="sale-1"),
    )
    # The key belongs to its actor: another person may use the same words.
    other = ops.issue_card(world.session, world.vault, amount=usd("30.00"), actor=world.till, idempotency_key="sale-1")
    assert other.card is not first.card


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"amount": Money(500, "LOOP")}, ValidationError, "A gift card holds money, not Loops"),
        ({"merchant": "bistro"}, CurrencyMismatch, "Bistro Paris sells cards in EUR, not USD"),
        ({"owner": "sam"}, ValidationError, "Gift cards can only belong to customer accounts"),
        ({"kind": "gratis"}, ValidationError, None),
        ({"kind": "promotional", "expires_in_days": 0}, ValidationError, None),
    ],
)
def test_issuing_refuses_what_cannot_be_a_card(world, kwargs, error, message):
    """Are Loops, a foreign-currency shop, a staff owner and a bad kind or expiry refused?"""
    kwargs = {name: getattr(world, value) if isinstance(value, str) and name in ("merchant", "owner") else value
              for name, value in kwargs.items()}
    kwargs.setdefault("amount", usd("10.00"))
    refused(world, error, lambda: ops.issue_card(world.session, world.vault, actor=world.admin, idempotency_key=key(), **kwargs), message)


# --- Finding a card ----------------------------------------------------------------------------


def test_a_typo_in_a_code_is_caught_before_any_database_query(world):
    """Does a wrong check character fail without touching the database?"""
    code = world.card().code
    typo = code[:-1] + ("0" if code[-1] != "0" else "1")
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        with pytest.raises(ValidationError, match="typo"):
            find_card(world.session, typo, world.vault, world.qr)
        with pytest.raises(ValidationError, match="doesn't look like a gift card code"):
            find_card(world.session, "hello", world.vault, world.qr)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert statements == []


def test_an_unknown_code_and_a_stale_qr_token_are_not_found(world):
    """Is a well-formed code that nobody holds, or a QR token from an hour ago, 'not found'?"""
    from portal.cards.codes import generate_card_code

    refused(world, NotFound, lambda: find_card(world.session, generate_card_code(), world.vault, world.qr),
            "No gift card has that code")
    card = world.card().card
    assert find_card(world.session, world.qr.issue(card.id), world.vault, world.qr) is card
    stale = world.qr.issue(card.id, now=utcnow().timestamp() - 3600)
    with pytest.raises(NotFound, match="QR code is no longer valid"):
        find_card(world.session, stale, world.vault, world.qr)


# --- Paying --------------------------------------------------------------------------------------


@BOTH_PATHS
def test_a_ten_dollar_card_pays_three_then_five_then_two(world):
    """Can a $10 card be used three times until it is empty, and is the café owed all $10?"""
    card = world.card("10.00", merchant=world.cafe).card
    for amount, left in (("3.00", 700), ("5.00", 200), ("2.00", 0)):
        paid = world.pay(card, amount)
        assert paid.applied == usd(amount) and paid.remaining_due == Money.zero("USD")
        assert world.balance(card) == Money(left, "USD")
    assert world.account(f"settlement:{world.cafe.id}:USD") == 1000
    assert card.status == "active"  # an empty card stays active so it can be topped up
    refused(world, InsufficientFunds, lambda: world.pay(card, "0.01"), "This card holds 0.00 USD; 0.01 USD is more than that")


@BOTH_PATHS
def test_paying_more_than_the_card_holds_is_refused_with_the_balance(world):
    """Is a $10 purchase on a $7.50 card refused, telling the till what the card holds?"""
    card = world.card("7.50").card
    refused(world, InsufficientFunds, lambda: world.pay(card, "10.00"), "This card holds 7.50 USD; 10.00 USD is more than that")


@BOTH_PATHS
def test_a_partial_payment_takes_what_is_there_and_reports_what_is_still_due(world):
    """Does a $7.50 card on a $10 purchase pay $7.50 and leave $2.50 due, then refuse when empty?"""
    card = world.card("7.50").card
    paid = world.pay(card, "10.00", allow_partial=True, reference="receipt-881")
    assert paid.applied == usd("7.50") and paid.remaining_due == usd("2.50")
    assert world.balance(card).minor == 0
    assert paid.transaction.reference == "receipt-881"
    refused(world, InsufficientFunds, lambda: world.pay(card, "1.00", allow_partial=True), "This card has nothing left on it")
    smaller = world.card("20.00").card
    paid = world.pay(smaller, "4.00", allow_partial=True)
    assert paid.applied == usd("4.00") and paid.remaining_due.minor == 0


@BOTH_PATHS
def test_a_cafe_card_is_refused_at_the_book_shop(world):
    """Is a card scoped to Corner Café refused at The Book Nook with the shop's name?"""
    card = world.card(merchant=world.cafe).card
    refused(world, NotValidHere, lambda: world.pay(card, "1.00", merchant=world.books), "This card can only be used at Corner Café")


@BOTH_PATHS
def test_a_network_card_pays_anywhere_and_the_shop_that_took_it_is_owed(world):
    """Does a network card redeemed at the Book Nook credit the Book Nook, and without a shop the clearing account?"""
    card = world.card(merchant=world.books).card
    world.pay(card, "4.00", merchant=world.cafe)
    world.pay(card, "1.00", merchant=world.books)
    assert world.account(f"settlement:{world.cafe.id}:USD") == 400
    assert world.account(f"settlement:{world.books.id}:USD") == 100
    ops.redeem(world.session, card, usd("2.00"), actor=world.admin, idempotency_key=key(), merchant=None)
    assert world.account("system:settlement-clearing:USD") == 200


@BOTH_PATHS
def test_a_card_in_another_currency_is_refused(world):
    """Is a USD card refused at a EUR shop, and a EUR amount refused on a USD card?"""
    card = world.card().card
    refused(world, CurrencyMismatch, lambda: ops.redeem(
        world.session, card, Money.parse("1.00", "EUR"), actor=world.admin, idempotency_key=key(), merchant=world.bistro,
    ), "This card is in USD, not EUR")
    refused(world, CurrencyMismatch, lambda: ops.redeem(
        world.session, card, usd("1.00"), actor=world.admin, idempotency_key=key(), merchant=world.bistro,
    ), "This card is in USD; Bistro Paris takes EUR")


@BOTH_PATHS
def test_a_frozen_card_cannot_pay_until_it_is_unfrozen(world):
    """Is a frozen card refused at the till, and usable again once unfrozen (both audited)?"""
    card = world.card().card
    ops.freeze(world.session, card, actor=world.admin, reason="Reported stolen")
    refused(world, CardFrozen, lambda: world.pay(card, "1.00"), "This card is frozen; please contact Giftloop support")
    ops.unfreeze(world.session, card, actor=world.admin, reason="Found again")
    assert world.pay(card, "1.00").applied == usd("1.00")
    actions = world.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["card.frozen", "card.unfrozen"]


def test_freezing_needs_a_reason_and_a_closed_card_cannot_be_frozen(world):
    """Is a freeze without a reason refused, and is a cancelled card not frozen?"""
    card = world.card().card
    refused(world, ValidationError, lambda: ops.freeze(world.session, card, actor=world.admin, reason="  "), "Please give a reason")
    ops.cancel(world.session, card, actor=world.admin, idempotency_key=key(), reason="Fraud")
    refused(world, CardCancelled, lambda: ops.freeze(world.session, card, actor=world.admin, reason="again"))


@BOTH_PATHS
def test_an_expired_card_says_when_it_expired(world):
    """Is a card past its date refused with the date written out?"""
    card = world.card("5.00", kind="promotional").card
    card.expires_at = datetime(2027, 3, 3, 12, tzinfo=timezone.utc)
    world.session.flush()
    later = datetime(2027, 3, 4, tzinfo=timezone.utc)
    refused(world, CardExpired, lambda: world.pay(card, "1.00", now=later), "This card expired on 3 March 2027")
    with pytest.raises(CardExpired):
        usable_at(card, None, later)
    usable_at(card, world.cafe, datetime(2027, 3, 2, tzinfo=timezone.utc))


@BOTH_PATHS
def test_paying_again_with_the_same_key_returns_the_first_payment(world):
    """Does a till that retries a payment get the first result, and a changed amount a conflict?"""
    card = world.card("10.00").card
    first = ops.redeem(world.session, card, usd("4.00"), actor=world.till, idempotency_key="till-7", merchant=world.cafe)
    again = ops.redeem(world.session, card, usd("4.00"), actor=world.till, idempotency_key="till-7", merchant=world.cafe)
    assert again.transaction is first.transaction and again.applied == usd("4.00")
    assert world.balance(card) == usd("6.00")
    refused(world, IdempotencyConflict, lambda: ops.redeem(
        world.session, card, usd("5.00"), actor=world.till, idempotency_key="till-7", merchant=world.cafe,
    ))


@BOTH_PATHS
def test_a_replay_is_answered_even_after_the_card_was_frozen(world):
    """Is the first answer replayed although the card could no longer pay now?"""
    card = world.card("10.00").card
    first = ops.redeem(world.session, card, usd("10.00"), actor=world.till, idempotency_key="till-8", merchant=world.cafe)
    ops.freeze(world.session, card, actor=world.admin, reason="check")
    again = ops.redeem(world.session, card, usd("10.00"), actor=world.till, idempotency_key="till-8", merchant=world.cafe)
    assert again.transaction is first.transaction


# --- Topping up ---------------------------------------------------------------------------------


@BOTH_PATHS
def test_a_cash_top_up_adds_value_and_moves_a_purchased_cards_expiry_to_five_years(world):
    """Does $20 cash at the counter add $20 and give the card five years from today?"""
    card = world.card("10.00", merchant=world.cafe).card
    card.expires_at = utcnow() + timedelta(days=100)
    now = utcnow()
    ops.load(world.session, card, usd("20.00"), actor=world.till, idempotency_key=key(), source="cash", merchant=world.cafe, now=now)
    assert world.balance(card) == usd("30.00")
    assert card.expires_at == now + timedelta(days=1826)
    assert world.account("system:cash:USD") == -2000
    kept = world.card("10.00").card
    date = kept.expires_at
    ops.load(world.session, kept, usd("1.00"), actor=world.admin, idempotency_key=key(), source="cash", extend_expiry=False)
    assert kept.expires_at == date


@BOTH_PATHS
def test_a_promotional_card_keeps_its_date_when_topped_up(world):
    """Does topping up a promotional card leave its expiry alone?"""
    card = world.card("5.00", kind="promotional").card
    date = card.expires_at
    ops.load(world.session, card, usd("5.00"), actor=world.admin, idempotency_key=key(), source="cash")
    assert card.expires_at == date and world.balance(card) == usd("10.00")


@BOTH_PATHS
def test_a_wallet_top_up_spends_wallet_credit(world):
    """Can a customer move wallet credit onto a card, and is a short wallet refused?"""
    credit_wallet(world.session, world.cara, usd("3.00"), actor=world.admin, idempotency_key=key(), reason="Sorry about the wait")
    card = world.card("1.00").card
    customer = Actor(user_id=world.cara.id)
    refused(world, InsufficientFunds, lambda: ops.load(
        world.session, card, usd("10.00"), actor=customer, idempotency_key=key(), source="wallet", customer=world.cara,
    ), "Your wallet holds 3.00 USD; this needs 10.00 USD")
    ops.load(world.session, card, usd("3.00"), actor=customer, idempotency_key=key(), source="wallet", customer=world.cara)
    assert world.balance(card) == usd("4.00")
    assert world.account(f"wallet:{world.cara.id}:USD") == 0


@BOTH_PATHS
def test_a_loops_top_up_costs_loops_at_the_customers_tier_rate(world):
    """Does a Bronze customer pay 500 Loops for $5, and one with 420 Loops get told the shortfall?"""
    customer = Actor(user_id=world.cara.id)
    points.earn(world.session, world.cara, usd("42.00"), world.cafe, actor=world.till, idempotency_key=key())
    card = world.card("1.00").card
    refused(world, InsufficientFunds, lambda: ops.load(
        world.session, card, usd("5.00"), actor=customer, idempotency_key=key(), source="loops", customer=world.cara,
    ), "You have 420 Loops; this needs 500")
    ops.load(world.session, card, usd("4.00"), actor=customer, idempotency_key=key(), source="loops", customer=world.cara)
    assert world.balance(card) == usd("5.00")
    assert world.account(f"loops:{world.cara.id}") == 20
    assert world.account("system:promotions:USD") == -400


@BOTH_PATHS
def test_a_top_up_needs_a_known_source_a_customer_for_loops_and_a_usable_card(world):
    """Are an unknown source, a Loops top-up without a customer and a frozen card refused?"""
    card = world.card().card
    load = lambda **kw: ops.load(world.session, card, usd("1.00"), actor=world.admin, idempotency_key=key(), **kw)  # noqa: E731
    refused(world, ValidationError, lambda: load(source="cheque"))
    refused(world, ValidationError, lambda: load(source="loops"), "Topping up from Loops or wallet credit needs the customer")
    ops.freeze(world.session, card, actor=world.admin, reason="check")
    refused(world, CardFrozen, lambda: load(source="cash"))
    cafe_card = world.card(merchant=world.cafe).card
    refused(world, NotValidHere, lambda: ops.load(
        world.session, cafe_card, usd("1.00"), actor=world.book_till, idempotency_key=key(), source="cash", merchant=world.books,
    ))


# --- Undoing --------------------------------------------------------------------------------------


@BOTH_PATHS
def test_staff_undo_todays_payment_once(world):
    """Does the café undo its own payment from today, and is a second undo refused?"""
    card = world.card("10.00").card
    paid = world.pay(card, "4.00")
    undo = ops.reverse(world.session, paid.transaction.id, actor=world.till, idempotency_key=key(),
                       reason="Wrong card", staff_merchant=world.cafe)
    assert undo.kind == "reverse" and undo.reverses_id == paid.transaction.id
    assert world.balance(card) == usd("10.00")
    assert world.account(f"settlement:{world.cafe.id}:USD") == 0
    refused(world, ValidationError, lambda: ops.reverse(
        world.session, paid.transaction.id, actor=world.till, idempotency_key=key(), reason="again", staff_merchant=world.cafe,
    ), "This transaction was already undone")
    refused(world, ValidationError, lambda: ops.reverse(
        world.session, undo.id, actor=world.admin, idempotency_key=key(), reason="undo the undo",
    ), "An undo cannot itself be undone")
    assert world.session.scalar(sa.select(AuditEvent.action)) == "transaction.reversed"


@BOTH_PATHS
def test_staff_cannot_undo_yesterday_or_another_shop_but_an_admin_can(world):
    """Is staff refused for another shop's payment and for one from before today, where an admin may?"""
    card = world.card("10.00", merchant=world.books).card
    paid = world.pay(card, "4.00")
    tomorrow = utcnow() + timedelta(days=1)
    refused(world, Forbidden, lambda: ops.reverse(
        world.session, paid.transaction.id, actor=world.till, idempotency_key=key(), reason="x", staff_merchant=world.cafe, now=tomorrow,
    ), "Transactions from before today can only be undone by an admin")
    refused(world, NotFound, lambda: ops.reverse(
        world.session, paid.transaction.id, actor=world.book_till, idempotency_key=key(), reason="x", staff_merchant=world.books,
    ), "No transaction has that number")  # another shop's sale is as unknown as one that never was
    ops.reverse(world.session, paid.transaction.id, actor=world.admin, idempotency_key=key(), reason="Customer complaint", now=tomorrow)
    assert world.balance(card) == usd("10.00")


@BOTH_PATHS
def test_a_top_up_cannot_be_undone_once_the_money_is_spent(world):
    """Is undoing a $20 load refused when only $5 of it is left?"""
    card = world.card("5.00").card
    loaded = ops.load(world.session, card, usd("20.00"), actor=world.till, idempotency_key=key(), source="cash", merchant=world.cafe)
    world.pay(card, "20.00")
    refused(world, InsufficientFunds, lambda: ops.reverse(
        world.session, loaded.id, actor=world.till, idempotency_key=key(), reason="mistake", staff_merchant=world.cafe,
    ), "The money from this transaction has since been spent, so it cannot be undone")


def test_undoing_earned_loops_takes_them_off_the_lifetime_total(world):
    """Does undoing a Loops award lower the customer's lifetime Loops (and so their tier) again?"""
    earned = points.earn(world.session, world.cara, usd("30.00"), world.cafe, actor=world.till, idempotency_key=key())
    assert world.cara.lifetime_loops == 300
    ops.reverse(world.session, earned.id, actor=world.till, idempotency_key=key(), reason="Wrong customer", staff_merchant=world.cafe)
    assert world.cara.lifetime_loops == 0 and world.account(f"loops:{world.cara.id}") == 0


@BOTH_PATHS
def test_an_undo_needs_a_reason_and_a_real_transaction_and_replays(world):
    """Are a blank reason and an unknown number refused, and is a retried undo answered the same?"""
    paid = world.pay(world.card().card, "1.00")
    refused(world, ValidationError, lambda: ops.reverse(world.session, paid.transaction.id, actor=world.admin, idempotency_key=key(), reason=""))
    refused(world, NotFound, lambda: ops.reverse(world.session, 999_999, actor=world.admin, idempotency_key=key(), reason="x"))
    first = ops.reverse(world.session, paid.transaction.id, actor=world.admin, idempotency_key="undo-1", reason="x")
    assert ops.reverse(world.session, paid.transaction.id, actor=world.admin, idempotency_key="undo-1", reason="x") is first


# --- Corrections, cancelling ---------------------------------------------------------------------


def test_an_admin_adjusts_a_balance_up_and_down_but_never_below_zero(world):
    """Does an adjustment move the balance both ways with a reason, and refuse going negative?"""
    card = world.card("10.00").card
    ops.adjust(world.session, card, 250, actor=world.admin, idempotency_key=key(), reason="Till short-changed")
    ops.adjust(world.session, card, -500, actor=world.admin, idempotency_key=key(), reason="Double load")
    assert world.balance(card) == usd("7.50")
    assert world.account("system:adjustments:USD") == 250
    refused(world, InsufficientFunds, lambda: ops.adjust(world.session, card, -751, actor=world.admin, idempotency_key=key(), reason="x"),
            "This card holds 7.50 USD; it cannot go below zero")
    refused(world, ValidationError, lambda: ops.adjust(world.session, card, 0, actor=world.admin, idempotency_key=key(), reason="x"))
    refused(world, ValidationError, lambda: ops.adjust(world.session, card, 1, actor=world.admin, idempotency_key=key(), reason=" "))
    assert world.session.scalars(sa.select(AuditEvent.action)).all() == ["card.adjusted", "card.adjusted"]


@BOTH_PATHS
def test_cancelling_moves_the_balance_to_breakage_for_good(world):
    """Does a cancelled card's money go to breakage, and is it then refused everywhere?"""
    card = world.card("10.00").card
    world.pay(card, "3.00")
    moved = ops.cancel(world.session, card, actor=world.admin, idempotency_key=key(), reason="Chargeback")
    assert moved.kind == "adjust" and card.status == "cancelled"
    assert world.balance(card).minor == 0 and world.account("system:breakage:USD") == 700
    refused(world, CardCancelled, lambda: world.pay(card, "1.00"), "This card was cancelled")
    refused(world, CardCancelled, lambda: ops.cancel(world.session, card, actor=world.admin, idempotency_key=key(), reason="again"))
    other = world.card().card
    refused(world, ValidationError, lambda: ops.cancel(world.session, other, actor=world.admin, idempotency_key=key(), reason=""),
            "Please give a reason")
    empty = world.card("1.00").card
    world.pay(empty, "1.00")
    assert ops.cancel(world.session, empty, actor=world.admin, idempotency_key=key(), reason="Closed") is None


# --- Expiry ---------------------------------------------------------------------------------------


def test_at_expiry_the_balance_moves_to_breakage_once_and_an_admin_can_reinstate_it(world):
    """Does an expired card lose its balance to breakage once, and get it back on reinstatement?"""
    card = world.card("5.00", kind="promotional").card
    assert expire_card(world.session, card, now=utcnow()) is None  # not due yet
    later = card.expires_at + timedelta(seconds=1)
    expired = expire_card(world.session, card, now=later)
    assert expired.kind == "expire" and card.status == "expired"
    assert world.account("system:breakage:USD") == 500 and world.balance(card).minor == 0
    assert expire_card(world.session, card, now=later) is None
    back = reinstate(world.session, card, actor=world.admin, reason="Customer was in hospital",
                     expires_at=later + timedelta(days=30), now=later)
    assert back.kind == "reinstate" and back.reverses_id == expired.id
    assert card.status == "active" and world.balance(card) == usd("5.00")
    # It can expire again on its new date.
    again = expire_card(world.session, card, now=later + timedelta(days=31))
    assert again is not None and world.account("system:breakage:USD") == 500


def test_reinstating_needs_an_expired_card_a_future_date_and_a_reason(world):
    """Are an active card, a past date and a blank reason refused?"""
    card = world.card("5.00", kind="promotional").card
    future = utcnow() + timedelta(days=30)
    refused(world, ValidationError, lambda: reinstate(world.session, card, actor=world.admin, reason="x", expires_at=future),
            "Only an expired card can be reinstated")
    expire_card(world.session, card, now=card.expires_at)
    refused(world, ValidationError, lambda: reinstate(world.session, card, actor=world.admin, reason="x", expires_at=utcnow() - timedelta(days=1)))
    refused(world, ValidationError, lambda: reinstate(world.session, card, actor=world.admin, reason="", expires_at=future))


@BOTH_PATHS
def test_the_expiry_sweep_expires_only_cards_that_are_due(world):
    """Does the sweep expire the due cards (empty ones without a transaction) and leave the rest?"""
    due = world.card("5.00", kind="promotional").card
    empty = world.card("1.00", kind="promotional").card
    world.pay(empty, "1.00")
    fresh = world.card("5.00").card
    when = utcnow() + timedelta(days=91)
    assert expire_due(world.session, when) == 2
    assert (due.status, empty.status, fresh.status) == ("expired", "expired", "active")
    assert world.session.scalar(sa.select(sa.func.count()).where(Transaction.kind == "expire")) == 1
    assert expire_due(world.session, when) == 0


# --- Wallet and Loops ----------------------------------------------------------------------------


def test_goodwill_credit_lands_in_the_wallet_with_an_audit_row(world):
    """Does an admin's credit come from promotions, with the reason audited, once per key?"""
    first = credit_wallet(world.session, world.cara, usd("10.00"), actor=world.admin, idempotency_key="gw-1", reason="Late delivery")
    assert credit_wallet(world.session, world.cara, usd("10.00"), actor=world.admin, idempotency_key="gw-1", reason="Late delivery") is first
    assert wallet_account(world.session, world.cara, "USD").balance == 1000
    event = world.session.scalar(sa.select(AuditEvent))
    assert (event.action, event.reason, event.actor_id) == ("wallet.credited", "Late delivery", world.ada.id)
    refused(world, ValidationError, lambda: credit_wallet(world.session, world.cara, usd("1.00"), actor=world.admin, idempotency_key=key(), reason=""))
    refused(world, ValidationError, lambda: credit_wallet(world.session, world.sam, usd("1.00"), actor=world.admin, idempotency_key=key(), reason="x"))


def test_loops_are_earned_per_whole_dollar_and_count_towards_the_tier(world):
    """Does $4.99 at 10 Loops per 1.00 earn 49 Loops, and is a tiny purchase refused?"""
    points.earn(world.session, world.cara, usd("4.99"), world.cafe, actor=world.till, idempotency_key=key())
    assert world.account(f"loops:{world.cara.id}") == 49 and world.cara.lifetime_loops == 49
    assert world.account("system:points_pool:LOOP") == -49
    refused(world, ValidationError, lambda: points.earn(world.session, world.cara, usd("0.05"), world.cafe, actor=world.till, idempotency_key=key()),
            "This purchase is too small to earn Loops")
    refused(world, CurrencyMismatch, lambda: points.earn(world.session, world.cara, usd("5.00"), world.bistro, actor=world.till, idempotency_key=key()))


def test_conversion_rates_follow_the_tier_or_the_merchants_own_rate(world):
    """Is the rate 100 at Bronze, 85 at Platinum, 90 for Book Nook cards, and the quote rounded up?"""
    assert points.conversion_rate(world.cara) == 100
    assert points.conversion_rate(world.cara, world.books) == 90
    assert points.conversion_rate(world.cara, world.cafe) == 100
    world.finn.lifetime_loops = 50_000
    assert points.conversion_rate(world.finn) == 85
    assert points.quote(world.finn, usd("0.01")) == 1  # 0.85 Loops, rounded up
    assert points.quote(world.cara, usd("5.00"), world.books) == 450


def test_loops_become_a_promotional_card_owned_by_the_customer(world):
    """Does converting 450 Loops give a $5 Book Nook card that is the customer's, and refuse a shortfall?"""
    points.earn(world.session, world.cara, usd("50.00"), world.cafe, actor=world.till, idempotency_key=key())
    me = Actor(user_id=world.cara.id)
    issued = conversion.convert(world.session, world.vault, world.cara, usd("5.00"), actor=me, idempotency_key="conv-1", merchant=world.books)
    assert (issued.card.owner_id, issued.card.kind, issued.card.merchant_id) == (world.cara.id, "promotional", world.books.id)
    assert world.balance(issued.card) == usd("5.00") and world.account(f"loops:{world.cara.id}") == 50
    again = conversion.convert(world.session, world.vault, world.cara, usd("5.00"), actor=me, idempotency_key="conv-1", merchant=world.books)
    assert again.card is issued.card and again.code == issued.code
    refused(world, InsufficientFunds, lambda: conversion.convert(world.session, world.vault, world.cara, usd("1.00"), actor=me, idempotency_key=key()),
            "You have 50 Loops; this needs 100")
    refused(world, ValidationError, lambda: conversion.convert(world.session, world.vault, world.cara, Money(5, "LOOP"), actor=me, idempotency_key=key()))


# --- Giving a card away ---------------------------------------------------------------------------


@BOTH_PATHS
def test_a_card_given_to_a_friend_is_held_until_the_friend_claims_it(world):
    """Is a given card held (no spending, no second gift) and then the friend's, once?"""
    card = world.card("20.00").card
    cara = Actor(user_id=world.cara.id)
    transfer, code = start_transfer(world.session, world.vault, card, actor=cara, to_email="Finn@Example.com")
    assert code.startswith("GL-") and transfer.status == "pending" and transfer.to_email == "finn@example.com"
    assert is_held(world.session, card)
    refused(world, ValidationError, lambda: world.pay(card, "1.00"), "This card is waiting to be claimed by a friend")
    refused(world, ValidationError, lambda: start_transfer(world.session, world.vault, card, actor=cara, to_email=None),
            "This card is already waiting to be claimed by a friend")
    claimed = claim_transfer(world.session, world.vault, code.lower().replace("-", " "), world.finn)
    assert claimed is card and card.owner_id == world.finn.id and transfer.status == "claimed"
    assert world.balance(card) == usd("20.00")  # the value does not move, only the owner
    assert world.pay(card, "1.00").applied == usd("1.00")
    refused(world, AlreadyRedeemed, lambda: claim_transfer(world.session, world.vault, code, world.finn))
    actions = world.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["card.transfer_started", "card.transferred"]


def test_only_the_owner_gives_a_card_and_only_the_named_friend_claims_it(world):
    """Are a stranger's gift, a claim by the wrong address, by oneself and a bad code refused?"""
    card = world.card("20.00").card
    refused(world, Forbidden, lambda: start_transfer(world.session, world.vault, card, actor=Actor(user_id=world.finn.id), to_email=None),
            "Only the card's owner can give it away")
    _, code = start_transfer(world.session, world.vault, card, actor=Actor(user_id=world.cara.id), to_email="someone@else.test")
    refused(world, Forbidden, lambda: claim_transfer(world.session, world.vault, code, world.finn), "This card was sent to a different e-mail address")
    refused(world, ValidationError, lambda: claim_transfer(world.session, world.vault, code, world.cara))
    refused(world, ValidationError, lambda: claim_transfer(world.session, world.vault, "GL-12", world.finn))
    refused(world, TransferNotFound, lambda: claim_transfer(world.session, world.vault, "GL-AAAA-BBBB-CCCC", world.finn))


def test_a_cancelled_or_lapsed_transfer_returns_the_card_to_its_owner(world):
    """Does cancelling end the hold, and does an unclaimed gift lapse after 14 days?"""
    card = world.card("20.00").card
    cara = Actor(user_id=world.cara.id)
    transfer, code = start_transfer(world.session, world.vault, card, actor=cara, to_email=None)
    refused(world, TransferNotFound, lambda: cancel_transfer(world.session, transfer.id, user=world.finn))
    cancel_transfer(world.session, transfer.id, user=world.cara)
    assert not is_held(world.session, card)
    refused(world, ValidationError, lambda: claim_transfer(world.session, world.vault, code, world.finn), "The sender cancelled this transfer")
    second, code = start_transfer(world.session, world.vault, card, actor=cara, to_email=None)
    later = utcnow() + timedelta(days=15)
    assert lapse_transfers(world.session, later) == 1
    assert second.status == "lapsed" and card.owner_id == world.cara.id
    with pytest.raises(CardExpired, match="This transfer expired on"):
        claim_transfer(world.session, world.vault, code, world.finn, now=later)


def test_cancelling_a_card_ends_its_transfer(world):
    """Does a cancelled card's waiting transfer end with it?"""
    card = world.card("20.00").card
    transfer, _ = start_transfer(world.session, world.vault, card, actor=Actor(user_id=world.cara.id), to_email=None)
    ops.cancel(world.session, card, actor=world.admin, idempotency_key=key(), reason="Fraud")
    assert transfer.status == "cancelled"


@BOTH_PATHS
def test_a_cards_history_lists_what_happened_newest_first(world):
    """Does the history show each transaction with its effect on the card?"""
    card = world.card("10.00").card
    world.pay(card, "3.00")
    lines = history(world.session, card.account_id)
    assert [(t.kind, amount) for t, amount in lines] == [("redeem", -300), ("issue", 1000)]


def test_system_accounts_are_one_per_name_and_currency(world):
    """Is get-or-create stable for the same key?"""
    first = system_account(world.session, "breakage", "USD")
    assert system_account(world.session, "breakage", "USD") is first
    assert system_account(world.session, "breakage", "EUR") is not first

"""Whatever happens to cards, wallets and Loops, the ledger stays sound and agrees with a model.

A hypothesis state machine runs random sequences of every money operation against a plain-Python
model of what each account should hold. After every step: each transaction sums to zero per
currency, each balance equals the sum of its entries, no stored value is negative, ``verify()``
finds nothing, and every balance, status and owner is what the model says.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from portal.cards import operations as ops
from portal.cards.expiry import expire_card, expire_due, reinstate
from portal.cards.transfers import cancel_transfer, claim_transfer, lapse_transfers, start_transfer
from portal.errors import AlreadyRedeemed, DomainError, IdempotencyConflict
from portal.extensions import db
from portal.ledger import Actor, verify
from portal.loyalty import conversion, points
from portal.loyalty.tiers import tier_for
from portal.models import Account, Entry, GiftCard, Merchant, Transaction, Transfer, User, utcnow
from portal.money import Money
from portal.services import services
from portal.wallet import credit_wallet
from tests.factories import card_and_cafe

AMOUNTS = st.integers(min_value=1, max_value=3000)


@dataclass
class CardModel:
    owner_id: int | None
    merchant_id: int | None
    kind: str
    expires_at: datetime
    status: str = "active"
    lost: int = 0  # what the latest expiry took to breakage, until reinstated


@dataclass
class TxnModel:
    kind: str
    card_id: int | None
    effects: dict[str, int] = field(default_factory=dict)  # non-system account key -> delta
    reversed: bool = False
    loops_owner: int | None = None


@dataclass
class TransferModel:
    id: int
    card_id: int
    from_user_id: int
    code: str
    expires_at: datetime
    status: str = "pending"


class LedgerMachine(RuleBasedStateMachine):
    """Random money operations, each predicted by a model before it runs."""

    def __init__(self):
        super().__init__()
        self.s = db.session
        self.vault = services().vault
        self.now = utcnow()
        self.cafe = Merchant(slug="corner-cafe", name="Corner Café", currency="USD", loops_per_unit=10)
        self.books = Merchant(slug="book-nook", name="The Book Nook", currency="USD", loops_per_unit=5,
                              conversion_rate=90, sells_network_cards=True)
        self.s.add_all([self.cafe, self.books])
        self.s.flush()
        self.cara = self._user("cara@example.com", "customer")
        self.finn = self._user("finn@example.com", "customer")
        self.ada = self._user("ada@giftloop.test", "admin")
        self.admin = Actor(user_id=self.ada.id)
        self.merchants = {None: None, self.cafe.id: self.cafe, self.books.id: self.books}
        self.balances: dict[str, int] = defaultdict(int)
        self.lifetime: dict[int, int] = defaultdict(int)
        self.cards: dict[int, CardModel] = {}
        self.txns: dict[int, TxnModel] = {}
        self.transfers: list[TransferModel] = []
        self.last = None  # (repeat the last money operation with its key, the transaction id it gave[, card issued])

    def teardown(self):
        self.s.rollback()

    def _user(self, email, role):
        user = User(email=email, password_hash="!", role=role)
        self.s.add(user)
        self.s.flush()
        return user

    # --- model helpers -----------------------------------------------------------------------

    def card(self, card_id) -> GiftCard:
        return self.s.get(GiftCard, card_id)

    def usable(self, card_id, merchant=None) -> bool:
        c = self.cards[card_id]
        if c.status != "active" or c.expires_at <= self.now:
            return False
        return merchant is None or c.merchant_id is None or c.merchant_id == merchant.id

    def pending(self, card_id) -> TransferModel | None:
        return next((t for t in self.transfers if t.card_id == card_id and t.status == "pending"), None)

    def held(self, card_id) -> bool:
        t = self.pending(card_id)
        return t is not None and t.expires_at > self.now

    def rate(self, user, merchant) -> int:
        if merchant is not None and merchant.conversion_rate:
            return merchant.conversion_rate
        return tier_for(self.lifetime[user.id]).loops_per_unit

    def quote(self, user, minor, merchant) -> int:
        return -(-minor * self.rate(user, merchant) // 100)

    def record(self, transaction, effects, card_id=None, loops_owner=None):
        for key_, delta in effects.items():
            self.balances[key_] += delta
        self.txns[transaction.id] = TxnModel(transaction.kind, card_id, dict(effects), loops_owner=loops_owner)

    def attempt(self, expected_ok: bool, call):
        """Run the operation; it must succeed exactly when the model says so."""
        if expected_ok:
            return call()
        with pytest.raises(DomainError):
            call()
        return None

    # --- rules -----------------------------------------------------------------------------------

    @initialize()
    def a_customer_with_cards_credit_and_loops(self):
        """Start where most operations can succeed, so the random steps go deep."""
        self.issue(minor=2500, kind="purchased", owner="cara", seller="cafe")
        self.issue(minor=1000, kind="promotional", owner="cara", seller=None)
        self.credit(minor=5000, who="cara")
        self.earn(minor=10_000, at="cafe")

    @rule(minor=AMOUNTS, kind=st.sampled_from(["purchased", "promotional"]),
          owner=st.sampled_from(["cara", "finn", None]), seller=st.sampled_from(["cafe", "books", None]))
    def issue(self, minor, kind, owner, seller):
        owner = getattr(self, owner) if owner else None
        merchant = getattr(self, seller) if seller else None
        key = uuid.uuid4().hex

        def call():
            return ops.issue_card(self.s, self.vault, amount=Money(minor, "USD"), actor=self.admin, idempotency_key=key,
                                  owner=owner, merchant=merchant, kind=kind, now=self.now)

        issued = call()
        scope = merchant.id if merchant is not None and not merchant.sells_network_cards else None
        days = 1826 if kind == "purchased" else 90
        self.cards[issued.card.id] = CardModel(owner.id if owner else None, scope, kind, self.now + timedelta(days=days))
        self.record(issued.transaction, {f"card:{issued.card.id}": minor}, issued.card.id)
        self.last = (lambda: call().transaction.id, issued.transaction.id, issued.card.id)

    @precondition(lambda self: self.cards)
    @rule(data=st.data(), minor=AMOUNTS, source=st.sampled_from(["cash", "wallet", "loops"]))
    def load(self, data, minor, source):
        card_id = data.draw(st.sampled_from(sorted(self.cards)))
        c = self.cards[card_id]
        card = self.card(card_id)
        merchant = self.merchants[c.merchant_id]
        effects = {f"card:{card_id}": minor}
        ok = self.usable(card_id)
        if source == "wallet":
            wallet = f"wallet:{self.cara.id}:USD"
            ok = ok and self.balances[wallet] >= minor
            effects[wallet] = -minor
        elif source == "loops":
            needed = self.quote(self.cara, minor, merchant)
            loops = f"loops:{self.cara.id}"
            ok = ok and self.balances[loops] >= needed
            effects[loops] = -needed
        key = uuid.uuid4().hex

        def call():
            return ops.load(self.s, card, Money(minor, "USD"), actor=Actor(user_id=self.cara.id), idempotency_key=key,
                            source=source, customer=self.cara, now=self.now)

        done = self.attempt(ok, call)
        if done is not None:
            self.record(done, effects, card_id)
            if c.kind == "purchased":
                c.expires_at = max(c.expires_at, self.now + timedelta(days=1826))
            self.last = (lambda: call().id, done.id)

    @precondition(lambda self: self.cards)
    @rule(data=st.data(), partial=st.booleans(), at=st.sampled_from(["cafe", "books", None]))
    def redeem(self, data, partial, at):
        card_id = data.draw(st.sampled_from(sorted(self.cards)))
        merchant = getattr(self, at) if at else None
        balance = self.balances[f"card:{card_id}"]
        minor = data.draw(st.integers(min_value=1, max_value=balance + 100))
        applied = min(balance, minor) if partial else minor
        ok = self.usable(card_id, merchant) and not self.held(card_id) and 0 < applied <= balance
        actor = Actor(user_id=self.ada.id, merchant_id=merchant.id if merchant else None)
        key = uuid.uuid4().hex

        def call():
            return ops.redeem(self.s, self.card(card_id), Money(minor, "USD"), actor=actor, idempotency_key=key,
                              merchant=merchant, allow_partial=partial, now=self.now)

        paid = self.attempt(ok, call)
        if paid is not None:
            assert paid.applied.minor == applied and paid.remaining_due.minor == minor - applied
            payee = f"settlement:{merchant.id}:USD" if merchant else None
            effects = {f"card:{card_id}": -applied, **({payee: applied} if payee else {})}
            self.record(paid.transaction, effects, card_id)
            self.last = (lambda: call().transaction.id, paid.transaction.id)

    @precondition(lambda self: self.txns)
    @rule(data=st.data())
    def reverse(self, data):
        txn_id = data.draw(st.sampled_from(sorted(self.txns)))
        t = self.txns[txn_id]
        ok = t.kind not in ("reverse", "expire", "reinstate") and not t.reversed
        if t.card_id is not None:
            ok = ok and self.cards[t.card_id].status not in ("cancelled", "expired")
        ok = ok and all(self.balances[key_] - delta >= 0 for key_, delta in t.effects.items())
        key = uuid.uuid4().hex

        def call():
            return ops.reverse(self.s, txn_id, actor=self.admin, idempotency_key=key, reason="Mistake", now=self.now)

        undo = self.attempt(ok, call)
        if undo is not None:
            t.reversed = True
            self.record(undo, {key_: -delta for key_, delta in t.effects.items()}, t.card_id)
            if t.kind == "points_earn":
                earned = t.effects[f"loops:{t.loops_owner}"]
                self.lifetime[t.loops_owner] = max(0, self.lifetime[t.loops_owner] - earned)
            self.last = (lambda: call().id, undo.id)

    @precondition(lambda self: self.cards)
    @rule(data=st.data(), delta=st.integers(min_value=-2000, max_value=2000).filter(bool))
    def adjust(self, data, delta):
        card_id = data.draw(st.sampled_from(sorted(self.cards)))
        ok = self.cards[card_id].status in ("active", "frozen") and self.balances[f"card:{card_id}"] + delta >= 0
        key = uuid.uuid4().hex

        def call():
            return ops.adjust(self.s, self.card(card_id), delta, actor=self.admin, idempotency_key=key, reason="Fix")

        done = self.attempt(ok, call)
        if done is not None:
            self.record(done, {f"card:{card_id}": delta}, card_id)
            self.last = (lambda: call().id, done.id)

    @precondition(lambda self: self.cards)
    @rule(data=st.data())
    def freeze_or_unfreeze(self, data):
        card_id = data.draw(st.sampled_from(sorted(self.cards)))
        c = self.cards[card_id]
        target = data.draw(st.sampled_from(["active", "frozen"]))
        operation = ops.freeze if target == "frozen" else ops.unfreeze
        call = lambda: operation(self.s, self.card(card_id), actor=self.admin, reason="Check")  # noqa: E731
        if self.attempt(c.status in ("active", "frozen"), call) is not None:
            c.status = target

    @precondition(lambda self: self.cards)
    @rule(data=st.data())
    def cancel(self, data):
        card_id = data.draw(st.sampled_from(sorted(self.cards)))
        c = self.cards[card_id]
        ok = c.status in ("active", "frozen")
        balance = self.balances[f"card:{card_id}"]
        key = uuid.uuid4().hex
        call = lambda: ops.cancel(self.s, self.card(card_id), actor=self.admin, idempotency_key=key,  # noqa: E731
                                  reason="Closed", now=self.now)
        if not ok:
            self.attempt(False, call)
            return
        moved = call()
        assert (moved is None) == (balance == 0)
        if moved is not None:
            self.record(moved, {f"card:{card_id}": -balance}, card_id)
        c.status = "cancelled"
        for t in self.transfers:
            if t.card_id == card_id and t.status == "pending":
                t.status = "cancelled"

    def _expired(self, card_id, moved):
        c = self.cards[card_id]
        balance = self.balances[f"card:{card_id}"]
        assert (moved is None) == (balance == 0)
        if moved is not None:
            self.record(moved, {f"card:{card_id}": -balance}, card_id)
        c.status, c.lost = "expired", balance
        for t in self.transfers:
            if t.card_id == card_id and t.status == "pending":
                t.status = "lapsed"

    @precondition(lambda self: self.cards)
    @rule(data=st.data())
    def expire(self, data):
        card_id = data.draw(st.sampled_from(sorted(self.cards)))
        c = self.cards[card_id]
        moved = expire_card(self.s, self.card(card_id), now=max(self.now, c.expires_at))
        if c.status in ("expired", "cancelled"):
            assert moved is None
        else:
            self._expired(card_id, moved)

    @rule(days=st.integers(min_value=1, max_value=120))
    def time_passes(self, days):
        self.now += timedelta(days=days)

    @rule()
    def sweep(self):
        due = [card_id for card_id, c in sorted(self.cards.items())
               if c.status in ("active", "frozen") and c.expires_at <= self.now]
        balances = {card_id: self.balances[f"card:{card_id}"] for card_id in due}
        assert expire_due(self.s, self.now) == len(due)
        for card_id in due:
            moved = None
            if balances[card_id]:
                moved = self.s.scalar(sa.select(Transaction).where(Transaction.card_id == card_id, Transaction.kind == "expire")
                                      .order_by(Transaction.id.desc()).limit(1))
            self._expired(card_id, moved)
        lapsed = [t for t in self.transfers if t.status == "pending" and t.expires_at <= self.now]
        assert lapse_transfers(self.s, self.now) == len(lapsed)
        for t in lapsed:
            t.status = "lapsed"

    @precondition(lambda self: self.cards)
    @rule(data=st.data())
    def reinstate(self, data):
        card_id = data.draw(st.sampled_from(sorted(self.cards)))
        c = self.cards[card_id]
        until = self.now + timedelta(days=30)
        call = lambda: reinstate(self.s, self.card(card_id), actor=self.admin, reason="Goodwill",  # noqa: E731
                                 expires_at=until, now=self.now)
        back = self.attempt(c.status == "expired", call)
        if c.status != "expired":
            return
        assert (back is None) == (c.lost == 0)
        if back is not None:
            self.record(back, {f"card:{card_id}": c.lost}, card_id)
        c.status, c.expires_at, c.lost = "active", until, 0

    @rule(minor=AMOUNTS, who=st.sampled_from(["cara", "finn"]))
    def credit(self, minor, who):
        user = getattr(self, who)
        key = uuid.uuid4().hex
        call = lambda: credit_wallet(self.s, user, Money(minor, "USD"), actor=self.admin, idempotency_key=key, reason="Goodwill")  # noqa: E731
        done = call()
        self.record(done, {f"wallet:{user.id}:USD": minor})
        self.last = (lambda: call().id, done.id)

    @rule(minor=st.integers(min_value=1, max_value=100_000), at=st.sampled_from(["cafe", "books"]))
    def earn(self, minor, at):
        merchant = getattr(self, at)
        loops = minor * merchant.loops_per_unit // 100
        key = uuid.uuid4().hex
        call = lambda: points.earn(self.s, self.cara, Money(minor, "USD"), merchant, actor=self.admin, idempotency_key=key)  # noqa: E731
        done = self.attempt(loops > 0, call)
        if done is not None:
            self.record(done, {f"loops:{self.cara.id}": loops}, loops_owner=self.cara.id)
            self.lifetime[self.cara.id] += loops
            assert self.cara.lifetime_loops == self.lifetime[self.cara.id]
            self.last = (lambda: call().id, done.id)

    @rule(minor=AMOUNTS, at=st.sampled_from(["books", None]))
    def convert(self, minor, at):
        merchant = getattr(self, at) if at else None
        needed = self.quote(self.cara, minor, merchant)
        key = uuid.uuid4().hex

        def call():
            return conversion.convert(self.s, self.vault, self.cara, Money(minor, "USD"), actor=Actor(user_id=self.cara.id),
                                  idempotency_key=key, merchant=merchant, now=self.now)

        issued = self.attempt(self.balances[f"loops:{self.cara.id}"] >= needed, call)
        if issued is not None:
            card_id = issued.card.id
            self.cards[card_id] = CardModel(self.cara.id, merchant.id if merchant else None, "promotional",
                                            self.now + timedelta(days=90))
            self.record(issued.transaction, {f"loops:{self.cara.id}": -needed, f"card:{card_id}": minor}, card_id)
            self.last = (lambda: call().transaction.id, issued.transaction.id, card_id)

    @precondition(lambda self: self.cards)
    @rule(data=st.data())
    def give(self, data):
        card_id = data.draw(st.sampled_from(sorted(self.cards)))
        c = self.cards[card_id]
        giver = c.owner_id or self.cara.id
        stale = self.pending(card_id)
        ok = (c.owner_id is not None and self.usable(card_id) and self.balances[f"card:{card_id}"] > 0
              and not self.held(card_id))
        call = lambda: start_transfer(self.s, self.vault, self.card(card_id), actor=Actor(user_id=giver),  # noqa: E731
                                      to_email=None, now=self.now)
        started = self.attempt(ok, call)
        if started is not None:
            if stale is not None:
                stale.status = "lapsed"
            transfer, code = started
            self.transfers.append(TransferModel(transfer.id, card_id, giver, code, self.now + timedelta(days=14)))
            # While it waits for the friend, the card cannot pay.
            with pytest.raises(DomainError, match="waiting to be claimed"):
                ops.redeem(self.s, self.card(card_id), Money(1, "USD"), actor=self.admin,
                           idempotency_key=uuid.uuid4().hex, merchant=None, now=self.now)

    @precondition(lambda self: self.transfers)
    @rule(data=st.data())
    def claim(self, data):
        t = data.draw(st.sampled_from(self.transfers))
        claimer = self.finn if t.from_user_id == self.cara.id else self.cara
        c = self.cards[t.card_id]
        ok = t.status == "pending" and t.expires_at > self.now and self.usable(t.card_id) and c.owner_id == t.from_user_id
        call = lambda: claim_transfer(self.s, self.vault, t.code, claimer, now=self.now)  # noqa: E731
        if self.attempt(ok, call) is not None:
            t.status, c.owner_id = "claimed", claimer.id

    @precondition(lambda self: self.transfers)
    @rule(data=st.data())
    def take_back(self, data):
        t = data.draw(st.sampled_from(self.transfers))
        giver = self.s.get(User, t.from_user_id)
        if self.attempt(t.status == "pending", lambda: cancel_transfer(self.s, t.id, user=giver, now=self.now)) is not None:
            t.status = "cancelled"

    @precondition(lambda self: self.last is not None)
    @rule()
    def replay(self):
        """The same request under the same key answers with the first transaction and changes nothing;
        but a card claimed since it was issued has a new code, so its issuing is not replayed."""
        repeat, transaction_id, *issued = self.last
        if issued and any(t.card_id == issued[0] and t.status == "claimed" for t in self.transfers):
            with pytest.raises(AlreadyRedeemed):
                repeat()
            return
        assert repeat() == transaction_id

    @rule(who=st.sampled_from(["cara", "finn"]))
    def conflict(self, who):
        """Another request under a used key is refused and changes nothing."""
        user = getattr(self, who)
        first = credit_wallet(self.s, self.cara, Money(1, "USD"), actor=self.admin, idempotency_key="conflict", reason="x")
        if first.id not in self.txns:
            self.record(first, {f"wallet:{self.cara.id}:USD": 1})
        with pytest.raises(IdempotencyConflict):
            credit_wallet(self.s, user, Money(2, "USD"), actor=self.admin, idempotency_key="conflict", reason="x")

    # --- invariants ----------------------------------------------------------------------------

    @invariant()
    def every_transaction_sums_to_zero_per_currency(self):
        self.s.flush()
        sums = self.s.execute(
            sa.select(Entry.transaction_id, Entry.currency, sa.func.sum(Entry.amount)).group_by(Entry.transaction_id, Entry.currency)
        ).all()
        assert all(total == 0 for _, _, total in sums), sums

    @invariant()
    def every_balance_is_the_sum_of_its_entries_and_none_is_negative(self):
        totals = dict(self.s.execute(sa.select(Entry.account_id, sa.func.sum(Entry.amount)).group_by(Entry.account_id)).all())
        for account_id, key_, kind, balance in self.s.execute(sa.select(Account.id, Account.key, Account.kind, Account.balance)):
            assert balance == totals.get(account_id, 0), key_
            assert kind == "system" or balance >= 0, key_

    @invariant()
    def verify_finds_nothing(self):
        assert verify(self.s) == []

    @invariant()
    def balances_statuses_and_owners_agree_with_the_model(self):
        stored = dict(self.s.execute(sa.select(Account.key, Account.balance).where(Account.kind != "system")).all())
        for key_, expected in self.balances.items():
            assert stored.get(key_, 0) == expected, key_
        cards = self.s.execute(sa.select(GiftCard.id, GiftCard.owner_id, GiftCard.status, GiftCard.expires_at))
        for card_id, owner_id, status, expires_at in cards:
            c = self.cards[card_id]
            assert (owner_id, status, expires_at) == (c.owner_id, c.status, c.expires_at), card_id
        for transfer_id, status in self.s.execute(sa.select(Transfer.id, Transfer.status)):
            assert status == next(t.status for t in self.transfers if t.id == transfer_id), transfer_id


@pytest.mark.parametrize("app_of", ["app", pytest.param("pg_app", marks=pytest.mark.postgres)])
def test_random_money_operations_keep_the_ledger_sound(request, app_of):
    """Does any sequence of issue, load, pay, undo, adjust, freeze, cancel, expire, reinstate, credit,
    earn, convert and transfer keep every invariant and match the model? On SQLite a payment takes
    the Python path, on PostgreSQL it is one call of giftloop_redeem: the same model holds both."""
    with request.getfixturevalue(app_of).app_context():
        run_state_machine_as_test(
            LedgerMachine,
            settings=settings(max_examples=30, stateful_step_count=25, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]),
        )


def _tamper(app, sql: str) -> None:
    with app.app_context():
        db.session.execute(sa.text(sql))
        db.session.commit()


@pytest.fixture
def spent_card(app):
    """A $10 card that paid $3 at the café, committed."""
    card_id, cafe_id = card_and_cafe(app, "10.00")
    with app.app_context():
        card, cafe = db.session.get(GiftCard, card_id), db.session.get(Merchant, cafe_id)
        ops.redeem(db.session, card, Money(300, "USD"), actor=Actor(), idempotency_key="r1", merchant=cafe)
        db.session.commit()
    return card_id


def test_verify_names_an_account_whose_stored_balance_was_tampered_with(app, spent_card):
    """Does a balance changed behind the ledger's back get reported with the account's name?"""
    with app.app_context():
        assert verify(db.session) == []
    _tamper(app, f"UPDATE accounts SET balance = balance + 500 WHERE key = 'card:{spent_card}'")
    with app.app_context():
        assert verify(db.session) == [f"card:{spent_card}: balance 1200 but its entries sum to 700"]


def test_verify_reports_an_unbalanced_transaction_and_a_closed_card_with_money(app, spent_card):
    """Are an entry changed in place and a cancelled card still holding value both found?"""
    _tamper(app, "UPDATE ledger_entries SET amount = amount + 1 WHERE id = (SELECT max(id) FROM ledger_entries)")
    _tamper(app, f"UPDATE gift_cards SET status = 'cancelled' WHERE id = {spent_card}")
    with app.app_context():
        problems = verify(db.session)
    assert any("transaction 2 (redeem): its USD entries sum to 1, not 0" in p for p in problems), problems
    assert any(p.startswith(f"card:{spent_card}: the card is cancelled but still holds 700") for p in problems), problems
    assert any(p.startswith("settlement:1:USD: balance 300 but its entries sum to 301") for p in problems), problems


def test_ledger_verify_on_the_command_line_exits_non_zero_naming_the_account(app, runner, spent_card):
    """Does `portal ledger verify` pass a clean ledger and fail, naming the account, after tampering?"""
    clean = runner.invoke(args=["ledger", "verify"])
    assert clean.exit_code == 0, clean.output
    assert "Ledger OK" in clean.output
    _tamper(app, f"UPDATE accounts SET balance = balance - 1 WHERE key = 'card:{spent_card}'")
    broken = runner.invoke(args=["ledger", "verify"])
    assert broken.exit_code != 0
    assert f"card:{spent_card}: balance 699 but its entries sum to 700" in broken.output


def test_cards_issue_and_wallet_credit_on_the_command_line(app, runner):
    """Does `portal cards issue` print the full code once and the masked code, and `wallet credit` add credit?"""
    with app.app_context():
        db.session.add(User(email="cara@example.com", password_hash="!", role="customer"))
        db.session.commit()
    issued = runner.invoke(args=["cards", "issue", "--amount", "50.00", "--currency", "USD", "--owner", "cara@example.com"])
    assert issued.exit_code == 0, issued.output
    assert "Issued a 50.00 USD purchased card" in issued.output
    assert "Code (shown once, keep it safe): GC-" in issued.output and "Masked: GC-••••-••••-••••-" in issued.output
    short = runner.invoke(args=["cards", "issue", "--amount", "50.00", "--expires-in-days", "30"])
    assert short.exit_code != 0 and "at least 5 years" in short.output
    credited = runner.invoke(args=["wallet", "credit", "cara@example.com", "--amount", "10.00", "--currency", "USD",
                                   "--reason", "Late delivery"])
    assert credited.exit_code == 0, credited.output
    assert "their wallet now holds 10.00 USD" in credited.output
    unknown = runner.invoke(args=["wallet", "credit", "nobody@example.com", "--amount", "1.00", "--reason", "x"])
    assert unknown.exit_code != 0 and "No user with e-mail nobody@example.com" in unknown.output
    assert runner.invoke(args=["ledger", "verify"]).exit_code == 0

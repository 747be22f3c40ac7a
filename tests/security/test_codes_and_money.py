"""Codes that cannot be guessed or read, and money that cannot be split wrongly (DESIGN §2)."""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa

from portal.auth.users import create_user
from portal.cards import operations
from portal.cards.codes import ALPHABET, CARD_CODE_RE, generate_card_code, normalise
from portal.errors import InsufficientFunds
from portal.extensions import db
from portal.ledger import SYSTEM, verify
from portal.merchants import create_merchant
from portal.models import User
from portal.money import Money
from portal.services import services
from portal.tokens import create_token
from tests.conftest import AuthActions, csrf_token
from tests.security.conftest import ADMIN, CUSTOMERS, STAFF, database_state, hidden_fields, seed_people

# Crockford symbols as Python's base-32 digits, so a code's 17 symbols become one 85-bit int.
_AS_DIGITS = str.maketrans(ALPHABET, "0123456789abcdefghijklmnopqrstuv")


@pytest.mark.slow
def test_a_million_generated_codes_never_collide_and_all_follow_the_grammar():
    """1,000,000 codes from the real generator: all distinct, all GC-XXXX-XXXX-XXXX-XXXX-C with a good check."""
    seen: set[int] = set()  # ints, not strings: about 70 MB rather than 150
    for _ in range(1_000_000):
        code = generate_card_code()
        assert CARD_CODE_RE.fullmatch(code), code
        seen.add(int(code[3:].replace("-", "").translate(_AS_DIGITS), 32))
    assert len(seen) == 1_000_000
    for code in (generate_card_code() for _ in range(10_000)):  # and each passes its own check
        assert normalise(code) == code


def spellings(code: str) -> set[str]:
    compact = code.replace("-", "")
    return {code, compact, compact[2:], code.lower()}


def test_pages_and_answers_show_only_the_last_symbols_until_the_owner_reveals(app):
    """The owner's pages, the till's look-up, the admin's card page and the API: masked; the reveal: whole."""
    seed_people(app)
    with app.app_context():
        cara = db.session.scalar(sa.select(User).where(User.email == CUSTOMERS[0]))
        issued = operations.issue_card(db.session, services().vault, amount=Money(2500, "USD"), actor=SYSTEM,
                                       idempotency_key="shown", owner=cara)
        staff = db.session.scalar(sa.select(User).where(User.email == STAFF["corner-cafe"]))
        _, token = create_token(db.session, staff, "till")
        db.session.commit()
        code, card_id = issued.code, issued.card.id
    tail = code[-6:]
    owner = app.test_client()
    AuthActions(owner).login(CUSTOMERS[0])
    htmx = {"HX-Request": "true"}
    seen = {
        "wallet": owner.get("/wallet/"),
        "card page": owner.get(f"/wallet/cards/{card_id}"),
        "history": owner.get(f"/wallet/cards/{card_id}/history", headers=htmx),
        "masked code": owner.get(f"/wallet/cards/{card_id}/code", headers=htmx),
        "API look-up": app.test_client().post("/api/v1/cards/lookup", json={"code": code},
                                              headers={"Authorization": f"Bearer {token}"}),
    }
    admin = app.test_client()
    AuthActions(admin).login(ADMIN)
    seen["admin card"] = admin.get(f"/admin/cards/{card_id}")
    for where, response in seen.items():
        body = response.get_data(as_text=True)
        assert response.status_code == 200, where
        assert not any(s in body for s in spellings(code)), f"the whole code is on the {where}"
    assert tail in seen["card page"].get_data(as_text=True)
    revealed = owner.post(f"/wallet/cards/{card_id}/reveal", data={"csrf_token": csrf_token(owner, "/wallet/")}, headers=htmx)
    assert code in revealed.get_data(as_text=True)
    assert revealed.headers["Cache-Control"] == "no-store"


@pytest.mark.slow
def test_ten_thousand_random_split_redemptions_add_up_to_the_card_to_the_minor_unit(app):
    """Cards in USD, JPY and BHD paid off in random parts (some asking for more than is left):
    what was applied adds up exactly to what each card held, and the ledger verifies."""
    rng = random.Random(20261123)
    redemptions = 0
    with app.app_context():
        n = 0
        while redemptions < 10_000:
            n += 1
            currency = rng.choice(["USD", "JPY", "BHD"])
            held = rng.randint(10_000, 500_000)
            card = operations.issue_card(db.session, services().vault, amount=Money(held, currency), actor=SYSTEM,
                                         idempotency_key=f"split-{n}").card
            db.session.commit()
            applied = 0
            while card.account.balance:
                ask = rng.randint(1, held // rng.choice([3, 50, 100, 200]))
                try:
                    with db.session.begin_nested():  # a refusal undoes itself, not the card's history
                        result = operations.redeem(db.session, card, Money(ask, currency), actor=SYSTEM,
                                                   idempotency_key=f"split-{n}-{redemptions}", merchant=None,
                                                   allow_partial=rng.random() < 0.5)
                except InsufficientFunds:
                    continue
                applied += result.applied.minor
                redemptions += 1
            db.session.commit()
            assert applied == held, (currency, held, applied)
        assert verify(db.session) == []


def test_a_fraction_of_a_yen_is_refused_at_the_till_and_in_the_api(app):
    """"1.5" on a JPY card: refused with the reason on the till page and in the API, nothing changed."""
    seed_people(app)
    with app.app_context():
        tokyo = create_merchant(db.session, "tokyo-tea", "Tokyo Tea", currency="JPY")
        staff = create_user(db.session, "staff@tokyo-tea.test", "a long password", role="merchant", merchant=tokyo)
        _, token = create_token(db.session, staff, "till")
        issued = operations.issue_card(db.session, services().vault, amount=Money(3000, "JPY"), actor=SYSTEM,
                                       idempotency_key="yen", merchant=tokyo)
        db.session.commit()
    before = database_state(app)
    api = app.test_client().post("/api/v1/cards/redeem", json={"code": issued.code, "amount": "1.5"},
                                 headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "yen-1"})
    assert api.status_code == 422 and api.json["detail"] == "JPY amounts are whole numbers"
    till = app.test_client()
    AuthActions(till).login("staff@tokyo-tea.test", "a long password")
    hidden = hidden_fields(till.get("/till/").get_data(as_text=True))
    refused = till.post("/till/lookup", data={**hidden, "total": "1.5", "code": issued.code})
    assert refused.status_code == 422
    assert "JPY amounts are whole numbers" in refused.get_data(as_text=True)
    assert database_state(app) == before


def test_a_purchased_card_shorter_than_five_years_is_refused_by_api_and_command_line(app, runner):
    """A card bought with money valid for one year: refused (US CARD Act, Ireland 2019), nothing issued."""
    seed_people(app)
    with app.app_context():
        staff = db.session.scalar(sa.select(User).where(User.email == STAFF["corner-cafe"]))
        _, token = create_token(db.session, staff, "till")
        db.session.commit()
    before = database_state(app)
    api = app.test_client().post("/api/v1/cards", json={"amount": "25.00", "expires_in_days": 365},
                                 headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "short"})
    assert api.status_code == 422 and "at least 5 years" in api.json["detail"]
    cli = runner.invoke(args=["cards", "issue", "--amount", "25.00", "--currency", "USD", "--expires-in-days", "365"])
    assert cli.exit_code != 0 and "at least 5 years" in cli.output
    assert database_state(app) == before

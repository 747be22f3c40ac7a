"""The customer at the till: named by e-mail, by the customer code on their wallet page or a card's
QR; what they can use here; and coupons that need a customer (per-customer limit, e-mail domains)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from portal.customer_codes import WINDOW, CustomerCodes
from portal.extensions import db
from portal.services import services
from tests.factories import give, make_card, make_coupon
from tests.pages import name_customer, start_sale, text
from tests.reads import count, customer_code, loops_of, uses, wallet_of

# --- The customer code ---------------------------------------------------------------------------


def test_a_customer_code_lasts_its_window_and_the_next_then_dies():
    codes = CustomerCodes("secret")
    shown = codes.issue(42, now=10 * WINDOW + 1)
    assert shown.startswith("C1A-") and len(shown) == 10
    assert codes.resolve(shown, now=10 * WINDOW + 5) == 42
    assert codes.resolve(shown.lower().replace("-", " "), now=11 * WINDOW + 5) == 42  # typed loosely
    assert codes.resolve(shown, now=12 * WINDOW + 5) is None  # half an hour on: dead
    assert CustomerCodes("other").resolve(shown, now=10 * WINDOW + 5) is None
    assert codes.resolve("C1B" + shown[3:], now=10 * WINDOW + 5) is None  # another customer's id


# --- Naming the customer -------------------------------------------------------------------------


def test_the_till_page_has_a_customer_field(app, till):
    till.open()
    assert "Customer's e-mail or customer code" in text(till.html)
    assert "Anonymous sale" in text(till.html)


def test_a_customer_code_names_the_customer_and_shows_what_they_can_use_here(app, till, people):
    """By code: first name, wallet credit, Loops and their worth at this store, cards valid here."""
    give(app, people["customer"], credit="5.00", loops=250)
    make_card(app, "12.00", owner=people["customer"])
    till.open()
    response = name_customer(till, customer_code(app, people["customer"]))
    assert response.status_code == 200
    words = text(till.html)
    assert "Customer Cara" in words
    assert "Wallet credit 5.00 USD" in words
    assert "Loops 250 Loops, worth 2.50 USD here" in words  # Bronze: 100 Loops per 1.00
    assert "12.00 USD" in words.split("Cards valid here")[1]
    assert "Find customer" not in till.html  # named for good


def test_an_e_mail_names_the_customer_but_shows_nothing_they_hold(app, till, people):
    """Anyone may know an address: by e-mail the till learns the name, never the balances."""
    give(app, people["customer"], credit="5.00")
    till.open()
    name_customer(till, "Customer@Example.com ")
    words = text(till.html)
    assert "Customer Cara (named by e-mail)" in words
    assert "5.00 USD" not in words and "Wallet credit" not in words
    assert "ask for the customer code" in words


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "Type the customer's e-mail address or the customer code"),
        ("nobody@example.com", "No Giftloop customer has that e-mail address"),
        ("C1-ABCDEF", "That customer code is not valid now"),
        ("staff@example.com", "No Giftloop customer has that e-mail address"),
    ],
)
def test_who_cannot_be_named_is_refused_by_the_field(app, till, people, typed, reason):
    till.open()
    response = name_customer(till, typed)
    assert response.status_code == 422
    assert 'id="who-error"' in till.html and reason in text(till.html)
    assert "Customer Cara" not in text(till.html)


def test_a_cards_qr_names_its_owner_as_the_customer(app, till, people):
    from portal.cards.lookup import find_card

    code = make_card(app, "10.00", owner=people["customer"])
    with app.app_context():
        token = services().qr.issue(find_card(db.session, code, services().vault, services().qr).id)
    till.open()
    till.look_up(token, total="4.00")
    words = text(till.html)
    assert "Customer Cara" in words and "Wallet credit 0.00 USD" in words


def test_a_tampered_customer_is_refused_and_the_sale_starts_over(app, till, people):
    till.open()
    name_customer(till, customer_code(app, people["customer"]))
    form = till.form("/till/lookup")
    response = till.client.post("/till/lookup", data={**form.fields, "customer": form.fields["customer"] + "x",
                                                      "total": "5.00"}, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert "This form is out of date" in text(response.get_data(as_text=True))


# --- Coupons that need a customer ----------------------------------------------------------------


def test_a_per_customer_coupon_asks_for_the_customer_then_takes_its_discount(app, till, people):
    """SAVE10 (1 use per customer): refused with the reason by the customer field, then applied."""
    campaign = make_coupon(app, "SAVE10", discount_value="10", uses_per_user="1")
    start_sale(till, "20.00")
    refused = till.send("/till/coupon", **{"coupon-code": "SAVE10"})
    assert refused.status_code == 422
    assert 'id="who-error"' in till.html
    assert "This code is limited per customer" in text(till.html)
    assert till.form("/till/coupon").fields["coupon-code"] == "SAVE10"
    assert uses(app, campaign) == (0, 0)
    name_customer(till, people["customer"])
    response = till.send("/till/coupon", **{"coupon-code": "SAVE10"})
    assert response.status_code == 200
    assert "Coupon SAVE10: −2.00 USD" in text(till.html) and "new total 18.00 USD" in text(till.html)
    assert uses(app, campaign) == (1, 1)


def test_a_customer_past_the_coupons_limit_is_refused_with_the_reason(app, till, people):
    campaign = make_coupon(app, "SAVE10", discount_value="10", uses_per_user="1")
    for attempt in range(2):
        start_sale(till, "20.00")
        name_customer(till, people["customer"])
        response = till.send("/till/coupon", **{"coupon-code": "SAVE10"})
    assert response.status_code == 422
    assert "You have already used this code" in text(till.html)
    assert 'id="coupon-code-error"' in till.html
    assert uses(app, campaign) == (1, 1)


def test_a_domain_coupon_checks_the_customers_address(app, till, people):
    campaign = make_coupon(app, "STAFF5", allowed_domains="giftloop.test")
    start_sale(till, "20.00")
    till.send("/till/coupon", **{"coupon-code": "STAFF5"})
    assert "This code needs the customer's e-mail address" in text(till.html) and 'id="who-error"' in till.html
    name_customer(till, people["customer"])
    assert till.send("/till/coupon", **{"coupon-code": "STAFF5"}).status_code == 422
    assert "This code is not valid for your e-mail address" in text(till.html)
    assert uses(app, campaign) == (0, 0)


def test_loops_go_to_the_named_customer_without_typing_again(app, till, people):
    start_sale(till, "5.00")
    name_customer(till, people["customer"])
    till.send("/till/loops")
    assert "50 Loops awarded to Cara for this purchase." in text(till.html)
    assert count(app, "points_earn") == 1


# --- Wallet credit and Loops as tenders ----------------------------------------------------------


def ledger_clean(app) -> bool:
    from portal.ledger import verify

    with app.app_context():
        return verify(db.session) == []


def present(till, app, people, total: str):
    """A sale of ``total`` with the customer named by their code."""
    start_sale(till, total)
    name_customer(till, customer_code(app, people["customer"]))


def test_wallet_credit_pays_part_of_the_sale_and_a_card_the_rest(app, till, people):
    give(app, people["customer"], credit="5.00")
    code = make_card(app, "20.00")
    present(till, app, people, "12.00")
    assert till.form("/till/wallet").fields["wallet-amount"] == "5.00"
    response = till.send("/till/wallet")
    assert response.status_code == 200
    words = text(till.html)
    assert "Wallet credit: 5.00 USD paid; 7.00 USD still to pay." in words
    assert "Wallet credit 5.00 USD" in words.split("Payments for this sale")[1]
    till.look_up(code)
    assert till.form("/till/apply").fields["amount"] == "7.00"
    till.apply()
    assert "Paid in full" in text(till.html)
    assert wallet_of(app, people["customer"]) == 0 and ledger_clean(app)


def test_wallet_credit_over_the_balance_or_the_due_is_refused_and_nothing_moves(app, till, people):
    give(app, people["customer"], credit="5.00")
    present(till, app, people, "4.00")
    assert till.form("/till/wallet").fields["wallet-amount"] == "4.00"
    assert till.send("/till/wallet", **{"wallet-amount": "4.50"}).status_code == 422
    assert "That is more than the 4.00 USD still to pay" in text(till.html)
    present(till, app, people, "40.00")
    assert till.send("/till/wallet", **{"wallet-amount": "6.00"}).status_code == 422
    assert "The wallet holds 5.00 USD; 6.00 USD is more than that" in text(till.html)
    assert wallet_of(app, people["customer"]) == 500 and count(app, "redeem") == 0


def test_a_customer_named_by_e_mail_cannot_spend_their_credit(app, till, people):
    """No button is offered, and forms sent by hand with a customer named by e-mail are refused."""
    give(app, people["customer"], credit="5.00", loops=300)
    start_sale(till, "4.00")
    name_customer(till, people["customer"])
    assert "Use wallet credit" not in till.html and "Use Loops" not in till.html
    sale = till.form("/till/lookup").fields
    for action, prefix, field, value in (("/till/wallet", "wallet", "amount", "4.00"),
                                         ("/till/spend-loops", "spend", "loops", "300")):
        data = {f"{prefix}-{name}": sale[name] for name in ("sale", "total", "customer", "csrf_token")}
        data.update({f"{prefix}-key": uuid.uuid4().hex, f"{prefix}-{field}": value})
        response = till.client.post(action, data=data, headers={"HX-Request": "true"})
        assert response.status_code == 422
        assert "an e-mail address cannot spend their" in text(response.get_data(as_text=True))
    assert wallet_of(app, people["customer"]) == 500 and loops_of(app, people["customer"]) == 300


def test_a_customer_proved_present_for_one_sale_is_not_so_for_another(app, till, people):
    """The customer's ticket is bound to its sale: carried into another sale, the form is out of date."""
    give(app, people["customer"], credit="5.00")
    present(till, app, people, "4.00")
    proved = till.form("/till/wallet").fields["wallet-customer"]
    start_sale(till, "4.00")
    form = till.form("/till/lookup").fields
    response = till.client.post("/till/lookup", data={**form, "customer": proved}, headers={"HX-Request": "true"})
    assert response.status_code == 422 and "This form is out of date" in text(response.get_data(as_text=True))
    assert wallet_of(app, people["customer"]) == 500


def test_loops_take_whole_loops_off_at_the_rate_here(app, till, people):
    """300 Loops at Bronze (100 per 1.00) on 5.00: 300 Loops pay 3.00, 2.00 still to pay."""
    give(app, people["customer"], loops=300)
    present(till, app, people, "5.00")
    assert till.form("/till/spend-loops").fields["spend-loops"] == "300"
    assert till.send("/till/spend-loops").status_code == 200
    assert "300 Loops: 3.00 USD paid; 2.00 USD still to pay." in text(till.html)
    assert loops_of(app, people["customer"]) == 0 and ledger_clean(app)
    with app.app_context():
        from portal.ledger import balance_by_key

        assert balance_by_key(db.session, "settlement:1:USD") == 300


def test_loops_are_capped_at_what_is_due(app, till, people):
    give(app, people["customer"], loops=900)
    present(till, app, people, "2.50")
    assert till.form("/till/spend-loops").fields["spend-loops"] == "250"
    assert till.send("/till/spend-loops", **{"spend-loops": "251"}).status_code == 422
    assert "250 Loops pay the 2.50 USD still to pay: use at most that" in text(till.html)
    assert till.send("/till/spend-loops", **{"spend-loops": "2.5"}).status_code == 422
    assert "Give a whole number of Loops" in text(till.html)
    assert loops_of(app, people["customer"]) == 900 and count(app, "redeem") == 0


def test_the_stores_own_rate_prices_the_loops(app, till, people):
    from tests.factories import set_merchant

    set_merchant(app, "corner-cafe", conversion_rate=50)
    give(app, people["customer"], loops=100)
    present(till, app, people, "5.00")
    assert "Loops 100 Loops, worth 2.00 USD here" in text(till.html)
    till.send("/till/spend-loops")
    assert "100 Loops: 2.00 USD paid; 3.00 USD still to pay." in text(till.html)


def test_undo_gives_back_wallet_credit_and_loops(app, till, people):
    import re

    give(app, people["customer"], credit="2.00", loops=300)
    present(till, app, people, "10.00")
    till.send("/till/wallet")
    till.send("/till/spend-loops")
    assert "still to pay 5.00 USD" in text(till.html)
    ids = [int(i) for i in re.findall(r"/till/transactions/(\d+)/undo", till.html)]
    for number, back in zip(sorted(set(ids)), ("wallet credit", "Loops")):
        till.send(f"/till/transactions/{number}/undo", **{f"undo-{number}-reason": "Customer changed their mind"})
        assert f"was undone: the customer has their {back} back" in text(till.html)
    assert wallet_of(app, people["customer"]) == 200 and loops_of(app, people["customer"]) == 300
    assert ledger_clean(app)


# --- One receipt, one e-mail ---------------------------------------------------------------------


def outbox(app) -> list:
    from portal.models.outbox import OutboxMessage

    with app.app_context():
        return [(row.kind, row.recipient, row.context) for row in db.session.scalars(sa.select(OutboxMessage))]


def test_a_sale_paid_by_coupon_loops_credit_and_a_card_has_one_receipt_and_one_e_mail(app, till, people):
    from portal.models.outbox import OutboxMessage
    from portal.notifications.rendering import render

    make_coupon(app, "SAVE10", discount_value="10", uses_per_user="1")
    give(app, people["customer"], credit="3.00", loops=200)
    code = make_card(app, "20.00", owner=people["customer"])
    present(till, app, people, "20.00")
    till.send("/till/coupon", **{"coupon-code": "SAVE10"})
    till.send("/till/spend-loops")
    till.send("/till/wallet")
    till.look_up(code)
    till.apply()
    receipt = text(till.html).split("Payments for this sale")[1]
    for line in ("Coupon SAVE10 −2.00 USD 18.00 USD", "200 Loops 2.00 USD 16.00 USD", "Wallet credit 3.00 USD 13.00 USD",
                 "13.00 USD 0.00 USD"):
        assert line in receipt
    mails = [m for m in outbox(app) if m[0] != "card_received"]
    assert [(kind, to) for kind, to, _ in mails] == [("sale_receipt", people["customer"])]
    with app.app_context():
        rendered = render(db.session, db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.kind == "sale_receipt")))
    assert rendered.subject == "Receipt: your purchase of 20.00 USD at Corner Café"
    assert "200 Loops: 2.00 USD (left to pay 16.00 USD)" in rendered.text
    assert "Wallet credit: 3.00 USD (left to pay 13.00 USD)" in rendered.text
    assert code not in rendered.text


def test_someone_elses_card_still_tells_its_owner_at_once(app, till, people):
    """Cara's card paid while another customer was named: Cara hears of it now, not on their receipt."""
    from portal.auth.users import create_user
    from tests.conftest import PASSWORD

    with app.app_context():
        create_user(db.session, "dan@example.com", PASSWORD, role="customer", name="Dan")
        db.session.commit()
    code = make_card(app, "20.00", owner=people["customer"])
    start_sale(till, "5.00")
    name_customer(till, "dan@example.com")
    till.look_up(code)
    till.apply()
    kinds = sorted((kind, to) for kind, to, _ in outbox(app) if kind != "card_received")
    assert kinds == [("redemption_receipt", people["customer"]), ("sale_receipt", "dan@example.com")]


# --- The README's demo -------------------------------------------------------------------------


@pytest.mark.parametrize(("email", "credit", "loops"), [("alice@giftloop.test", "5.00", 701), ("bob@giftloop.test", "3.00", 300)])
def test_the_demo_customers_can_use_save10_credit_and_loops_at_corner_cafe(app, client, runner, email, credit, loops):
    """`portal demo`, then the README's steps at Corner Café's till with the demo staff sign-in."""
    from portal.demo import DEMO_PASSWORD
    from tests.conftest import AuthActions
    from tests.pages import Till

    assert runner.invoke(args=["demo"]).exit_code == 0
    AuthActions(client).login("staff@corner-cafe.test", DEMO_PASSWORD)
    till = Till(client)
    start_sale(till, "20.00")
    name_customer(till, customer_code(app, email))
    words = text(till.html)
    assert f"Wallet credit {credit} USD" in words and f"Loops {loops} Loops" in words
    assert till.send("/till/coupon", **{"coupon-code": "SAVE10"}).status_code == 200
    assert "new total 18.00 USD" in text(till.html)
    assert till.send("/till/spend-loops").status_code == 200
    assert till.send("/till/wallet").status_code == 200
    assert f"Wallet credit: {credit} USD paid" in text(till.html)


def test_the_activity_list_says_what_paid(app, till, people):
    give(app, people["customer"], credit="1.00", loops=100)
    present(till, app, people, "5.00")
    till.send("/till/wallet")
    till.send("/till/spend-loops")
    words = text(till.client.get("/till/activity").get_data(as_text=True))
    assert "Wallet credit payment" in words and "Loops payment" in words

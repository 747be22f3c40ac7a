"""The ``portal`` command line: users, merchants, tokens and the demo."""

from __future__ import annotations

from portal.extensions import db
from portal.gifts import find_plan
from portal.ledger import verify
from portal.models import Campaign, GiftCard, Merchant, Transaction, User
from portal.tokens import find_token


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count(model.id)))


def test_the_demo_loads_once_and_is_safe_to_run_again(app, runner):
    """Does `portal demo` create its sign-ins the first time and nothing the second?"""
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "alice@giftloop.test / giftloop-demo" in first.output
    assert "shop at /shop with the test payment provider" in first.output
    assert "campaign Demo: 10% off at Corner Café (code SAVE10)" in first.output
    before = [count(app, model) for model in (User, Merchant, GiftCard, Transaction, Campaign)]
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0, second.output
    assert "giftloop-demo" not in second.output and "campaign" not in second.output
    assert [count(app, model) for model in (User, Merchant, GiftCard, Transaction, Campaign)] == before
    with app.app_context():
        assert verify(db.session) == []


def test_an_admin_creates_a_merchant_and_its_staff(app, runner):
    """Can a merchant and a staff member of it be created from the command line?"""
    result = runner.invoke(args=["merchants", "create", "tea-house", "--name", "Tea House", "--currency", "eur"])
    assert result.exit_code == 0, result.output
    assert "Created merchant tea-house (Tea House, EUR)" in result.output
    result = runner.invoke(
        args=["users", "create", "lee@tea.test", "--role", "merchant", "--merchant", "tea-house", "--password", "a long secret"]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        lee = db.session.scalar(db.select(User).where(User.email == "lee@tea.test"))
        assert lee.role == "merchant" and lee.merchant.slug == "tea-house"


def test_bad_command_line_input_is_explained_and_stores_nothing(app, runner):
    """Do a bad slug, an unknown currency, a short password and a missing merchant each say why?"""
    cases = [
        (["merchants", "create", "Tea House", "--name", "Tea"], "Use lower-case letters, digits and dashes"),
        (["merchants", "create", "tea", "--name", "Tea", "--currency", "XXQ"], "Unknown currency XXQ"),
        (["users", "create", "kim@x.test", "--password", "short"], "Use at least 10 characters"),
        (["users", "create", "kim@x.test", "--role", "merchant", "--password", "a long secret"], "Merchant staff need a merchant"),
        (["users", "create", "kim@x.test", "--merchant", "nowhere", "--password", "a long secret"], "No merchant with slug 'nowhere'"),
    ]
    for args, message in cases:
        result = runner.invoke(args=args)
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
    assert count(app, User) == 0 and count(app, Merchant) == 0


def test_a_token_is_printed_once_and_stored_only_as_a_hash(app, runner, people):
    """Does `portal tokens create` print a working token that the database does not hold?"""
    result = runner.invoke(args=["tokens", "create", people["customer"], "--name", "laptop"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert token.startswith("glt_")
    with app.app_context():
        row = find_token(db.session, token)
        assert row.name == "laptop" and row.token_hash != token and token not in row.token_hash
    response = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.json["email"] == people["customer"]


def test_an_admin_puts_a_plan_on_sale_and_changes_its_price(app, runner):
    """Can a production database get its gift plans without the demo, and is a bad plan refused?"""
    result = runner.invoke(args=["plans", "set", "plus", "--name", "Giftloop Plus", "--days", "30",
                                 "--price", "4.99", "--loops", "499"])
    assert result.exit_code == 0, result.output
    assert "Plan plus (Giftloop Plus): 30 days for 4.99 USD or 499 Loops" in result.output
    result = runner.invoke(args=["plans", "set", "plus", "--name", "Giftloop Plus", "--days", "30",
                                 "--price", "5.49", "--loops", "549", "--description", " Free coffee refills. "])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["plans", "set", "plus", "--name", "Giftloop Plus", "--days", "30",
                                 "--price", "5.49", "--loops", "549"])
    with app.app_context():
        assert find_plan(db.session, "plus").description == "Free coffee refills.", "kept when not given"
    refused = [
        (["--name", "Pro", "--days", "30", "--price", "1.00", "--loops", "1", "--description", "x" * 501],
         "Say what the plan gives in at most 500 characters"),
        (["--name", "", "--days", "30", "--price", "1.00", "--loops", "1"], "Give the plan a name"),
        (["--name", "Pro", "--days", "0", "--price", "1.00", "--loops", "1"], "A plan lasts 1 to"),
        (["--name", "Pro", "--days", "30", "--price", "0", "--loops", "1"], "The amount must be more than zero"),
        (["--name", "Pro", "--days", "30", "--price", "1.001", "--loops", "1"], "decimal"),
        (["--name", "Pro", "--days", "30", "--price", "1.00", "--loops", "0"], "The price in Loops"),
    ]
    for args, message in refused:
        result = runner.invoke(args=["plans", "set", "pro", *args])
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    listed = runner.invoke(args=["plans", "list"])
    assert listed.output.splitlines() == ["plus\tGiftloop Plus\t30 days\t5.49 USD\t549 Loops"]

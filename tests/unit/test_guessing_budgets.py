"""Guessing budgets that no one can turn against others (issue 20, DESIGN §7): per account (every
token and session of a user together), per address (higher), per card-code prefix; staff limited
as themselves; the real client address behind a proxy; admins lift a lock-out."""

from __future__ import annotations

import secrets

import pytest

from portal.auth.users import create_user
from portal.cards.codes import ALPHABET, check_character, generate_card_code
from portal.extensions import db
from portal.models import AuditEvent, SecurityEvent, User
from portal.tokens import create_token
from tests.conftest import PASSWORD, AuthActions, make_app, submit
from tests.factories import make_card
from tests.pages import Till, forms_of

ACCOUNT_LIMIT = 10  # the default: failed look-ups per account in 15 minutes


def _user(app, email: str) -> User:
    return db.session.scalar(db.select(User).where(User.email == email))


def tokens_of(app, email: str, count: int) -> list[str]:
    """``count`` fresh API tokens of one user."""
    with app.app_context():
        user = _user(app, email)
        made = [create_token(db.session, user, f"token {n}")[1] for n in range(count)]
        db.session.commit()
        return made


def signed_in(app, email: str):
    """A browser of its own (the same address as every test client: 127.0.0.1), signed in."""
    client = app.test_client()
    AuthActions(client).login(email)
    return client


def redeem(client, code: str):
    return submit(client, "/wallet/redeem", {"code": code})


def look_up_by_token(app, token: str, code: str, address: str = "127.0.0.1"):
    return app.test_client().post(
        "/api/v1/cards/lookup", json={"code": code}, headers={"Authorization": f"Bearer {token}"},
        environ_base={"REMOTE_ADDR": address},
    )


def check_balance(client, code: str, *, forwarded_for: str | None = None):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return submit(client, "/balance", {"code": code}, headers=headers)


def code_starting(prefix: str) -> str:
    """A well-formed card code (good check character) whose data starts with ``prefix``."""
    data = prefix + "".join(secrets.choice(ALPHABET) for _ in range(16 - len(prefix)))
    return f"GC-{data[0:4]}-{data[4:8]}-{data[8:12]}-{data[12:16]}-{check_character(data)}"


def test_one_customers_wrong_codes_lock_out_no_one_else_at_the_address(app, people):
    """After customer A's 10 wrong codes from 127.0.0.1, do the till, the staff's and an admin's API
    tokens, another customer and the public balance page at that address still work?"""
    real = make_card(app, "25.00")
    with app.app_context():
        create_user(db.session, "other@example.com", PASSWORD, name="Olu")
        db.session.commit()
    staff_token, admin_token = tokens_of(app, people["merchant"], 1)[0], tokens_of(app, people["admin"], 1)[0]
    guesser = signed_in(app, people["customer"])
    for _ in range(ACCOUNT_LIMIT):
        assert redeem(guesser, generate_card_code()).status_code == 422
    assert redeem(guesser, real).status_code == 429  # A is locked out: A's own budget is spent

    till = Till(signed_in(app, people["merchant"]))
    till.open()
    assert till.look_up(real, total="1.00").status_code == 200
    assert "25.00" in till.html
    assert look_up_by_token(app, staff_token, real).status_code == 200
    assert look_up_by_token(app, admin_token, real).status_code == 200
    assert check_balance(app.test_client(), real).status_code == 200
    assert redeem(signed_in(app, "other@example.com"), real).status_code == 303  # joined their wallet


def test_an_account_with_five_tokens_has_one_budget(app, people):
    """Do five tokens of one staff member, each from an address of its own, get the account's 10
    failures in all, not 10 each?"""
    tokens = tokens_of(app, people["merchant"], 5)
    statuses = [
        look_up_by_token(app, token, generate_card_code(), address=f"192.0.2.{n + 1}").status_code
        for n, token in enumerate(tokens)
        for _ in range(ACCOUNT_LIMIT)
    ]
    assert statuses.count(404) == ACCOUNT_LIMIT and statuses.count(429) == 4 * ACCOUNT_LIMIT, statuses


@pytest.fixture
def behind_proxy(tmp_path):
    """The app behind one trusted reverse proxy, with small budgets to spend."""
    def build(**settings):
        made = make_app(f"sqlite:///{tmp_path / 'proxied.db'}", OUTBOX_DIR=str(tmp_path / "outbox"), **settings)
        with made.app_context():
            db.create_all()
        return made

    yield build


def test_a_card_prefix_aimed_at_from_many_addresses_is_locked(behind_proxy):
    """Once codes sharing their first symbols have failed from 3 addresses, is a 4th address refused
    for that prefix, while another prefix from a fresh address is still checked?"""
    app = behind_proxy(TRUSTED_PROXY_HOPS=1, GUESS_PREFIX_LIMIT=3)
    visitor = app.test_client()
    for n in range(3):
        assert check_balance(visitor, code_starting("K7M2Q9"), forwarded_for=f"198.51.100.{n + 1}").status_code == 422
    refused = check_balance(visitor, code_starting("K7M2Q9"), forwarded_for="198.51.100.9")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert check_balance(visitor, code_starting("K7M2QA"), forwarded_for="198.51.100.10").status_code == 422
    with app.app_context():
        subjects = db.session.scalars(db.select(SecurityEvent.subject)).all()
    assert [s for s in subjects if s.startswith("prefix:")], subjects
    assert not any("K7M2Q9" in s for s in subjects)  # the event names the prefix by a keyed tag only


@pytest.mark.parametrize(("hops", "counted_as"), [(1, "203.0.113.7"), (0, "127.0.0.1")])
def test_trusted_proxy_hops_decide_whether_x_forwarded_for_is_the_address(behind_proxy, hops, counted_as):
    """With TRUSTED_PROXY_HOPS=1, is the address in X-Forwarded-For the one counted (another address
    goes on)? With 0, is the header ignored, so a guesser cannot pick a fresh address per request?"""
    app = behind_proxy(TRUSTED_PROXY_HOPS=hops, GUESS_IP_LIMIT=3)
    visitor = app.test_client()
    for _ in range(3):
        assert check_balance(visitor, generate_card_code(), forwarded_for="203.0.113.7").status_code == 422
    assert check_balance(visitor, generate_card_code(), forwarded_for="203.0.113.7").status_code == 429
    other = check_balance(visitor, generate_card_code(), forwarded_for="203.0.113.8").status_code
    assert other == (422 if hops else 429)
    with app.app_context():
        assert db.session.scalars(db.select(SecurityEvent.subject)).all() == [f"ip:{counted_as}"]


def lift_buttons(page: str) -> list[dict]:
    return [form.fields for form in forms_of(page) if form.action == "/admin/lockouts/lift"]


def test_an_admin_lifts_a_lock_out_and_the_customer_tries_again(app, people):
    """Does the overview offer "Lift lock-out" beside the customer's lock-out, and after it is used
    (and audited) may the customer try again at once?"""
    real = make_card(app, "25.00")
    customer = signed_in(app, people["customer"])
    for _ in range(ACCOUNT_LIMIT):
        redeem(customer, generate_card_code())
    assert redeem(customer, real).status_code == 429
    with app.app_context():
        subject = f"user:{_user(app, people['customer']).id}"

    admin = signed_in(app, people["admin"])
    page = admin.get("/admin/").get_data(as_text=True)
    assert "Lift lock-out" in page
    button = next(fields for fields in lift_buttons(page) if fields["subject"] == subject)
    lifted = admin.post("/admin/lockouts/lift", data=button, follow_redirects=True)
    assert f"The lock-out of {subject} is lifted" in lifted.get_data(as_text=True)
    assert subject not in [f["subject"] for f in lift_buttons(lifted.get_data(as_text=True))]

    assert redeem(customer, real).status_code == 303  # the card joined the wallet
    with app.app_context():
        event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "lockout.lifted"))
        assert event.target == subject and event.actor_id == _user(app, people["admin"]).id


def test_lifting_something_that_is_no_lock_out_says_so_and_changes_nothing(app, people):
    """Is a lift of an unknown kind of lock-out refused with a message, and nothing audited?"""
    admin = signed_in(app, people["admin"])
    answer = submit(admin, "/admin/lockouts/lift", {"kind": "made_up", "subject": "user:1"}, page="/admin/",
                    follow_redirects=True)
    assert "That is not a lock-out" in answer.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(AuditEvent.id))) == 0

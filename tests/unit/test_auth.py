"""Sign-up, sign-in, sign-out, password change: the forms, their messages, and their limits."""

from __future__ import annotations

import html as html_lib
import re
from datetime import timedelta

import pytest

from portal.emails import normalise_email
from portal.errors import ValidationError
from portal.extensions import db
from portal.models import OutboxMessage, SecurityEvent, User
from portal.notifications.rendering import render
from tests.conftest import PASSWORD, AuthActions, csrf_token, signup_link, submit

GOOD = {"name": "Dana", "email": "dana@example.com", "password": "a long passphrase", "confirm": "a long passphrase"}


def users_count(app) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count(User.id)))


def error_next_to(html: str, field_id: str) -> str:
    """The message shown under a field (tied to it by aria-describedby)."""
    match = re.search(rf'<p class="error" id="{field_id}-error">([^<]*)</p>', html)
    return html_lib.unescape(match.group(1)) if match else ""


def test_a_new_customer_signs_up_by_the_emailed_link_and_lands_on_their_wallet(client, app):
    """Can a visitor create an account from the link e-mailed to them, and see their wallet straight away?"""
    started = submit(client, "/signup", GOOD)
    assert started.status_code == 302 and started.headers["Location"] == "/signup/sent"
    assert "Check your e-mail" in client.get("/signup/sent").get_data(as_text=True)
    assert users_count(app) == 0  # nothing is made until the link is opened
    link = signup_link(app, "dana@example.com")
    assert "dana@example.com" in client.get(link).get_data(as_text=True)
    assert users_count(app) == 0  # opening the link makes nothing: its button does
    response = submit(client, link, {})
    assert response.status_code == 302 and response.headers["Location"] == "/wallet/"
    page = client.get("/wallet/").get_data(as_text=True)
    assert "Wallet credit" in page and "Bronze tier" in page
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.email == "dana@example.com"))
        assert user.role == "customer" and user.name == "Dana"
        assert user.password_hash.startswith("$argon2id$")
    again = app.test_client()
    assert submit(again, link, {}).headers["Location"] == "/signin"  # a link makes one account, once
    assert users_count(app) == 1


def test_a_changed_or_expired_sign_up_link_makes_no_account(client, app, monkeypatch):
    """Is a link with a character changed, or opened after a day, refused with a way to start again?"""
    from portal.auth import signup

    submit(client, "/signup", GOOD)
    link = signup_link(app, "dana@example.com")
    changed = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    for path in (changed, "/signup/confirm/nonsense"):
        response = submit(client, path, {}, page="/signup")
        assert response.status_code == 400
        assert "This sign-up link is not valid or has expired" in response.get_data(as_text=True)
    monkeypatch.setattr(signup, "LINK_LIFETIME", timedelta(seconds=-1))
    assert submit(client, link, {}, page="/signup").status_code == 400
    assert users_count(app) == 0


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"email": ""}, "email", "Enter your e-mail address"),
        ({"email": "not-an-address"}, "email", "Enter an e-mail address like name@example.com"),
        ({"password": "short", "confirm": "short"}, "password", "Use at least 10 characters for your password"),
        ({"confirm": "something else"}, "confirm", "The passwords don't match"),
        ({"password": "", "confirm": ""}, "password", "Choose a password"),
        ({"name": "x" * 121}, "name", "Use at most 120 characters for your name"),
    ],
)
def test_bad_sign_up_input_is_explained_next_to_the_field_and_stores_nothing(client, app, changes, field, message):
    """Does every bad sign-up show its reason by the field, and create no account?"""
    response = submit(client, "/signup", {**GOOD, **changes})
    assert response.status_code == 422
    assert error_next_to(response.get_data(as_text=True), field) == message
    assert users_count(app) == 0


def test_sign_up_answers_the_same_for_an_address_with_an_account_and_tells_its_owner(client, app, people):
    """Does a sign-up with a taken address (whatever its case) get the very answer a new one gets,
    make no account, and send the owner a notice with no details of the account?"""
    before = users_count(app)
    new = submit(app.test_client(), "/signup", GOOD)
    taken = submit(client, "/signup", {**GOOD, "email": "  Customer@Example.COM "})
    assert (taken.status_code, taken.headers["Location"], taken.get_data()) == (
        new.status_code, new.headers["Location"], new.get_data()
    )
    assert users_count(app) == before
    with app.app_context():
        (notice,) = db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.kind == "signup_existing")).all()
        assert notice.recipient == people["customer"] and notice.context == {} and notice.code_ciphertext is None
        rendered = render(db.session, notice)
    assert rendered.subject == "Someone tried to sign up with your e-mail address"
    assert "/signin" in rendered.text and "No new account was made" in rendered.text
    owner = AuthActions(app.test_client())
    assert owner.login(people["customer"]).status_code == 302  # the password is still the owner's


def test_sign_ups_are_throttled_per_address_and_per_client(client, app, people):
    """Past 3 sign-ups for one address (each sends it an e-mail) or 20 from one client in an hour,
    is the next refused with 429 and Retry-After, sending nothing, alike for new and taken addresses?"""
    for email in ("dana@example.com", people["customer"]):
        for _ in range(3):
            assert submit(client, "/signup", {**GOOD, "email": email}).status_code == 302
        refused = submit(client, "/signup", {**GOOD, "email": email})
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert "Too many sign-ups. Please wait" in refused.get_data(as_text=True)
    for n in range(14):
        assert submit(client, "/signup", {**GOOD, "email": f"visitor{n}@example.com"}).status_code == 302
    assert submit(client, "/signup", {**GOOD, "email": "one.more@example.com"}).status_code == 429
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(OutboxMessage.id))) == 20


def test_a_wrong_password_gets_a_plain_message_and_no_session(client, people):
    """Is a wrong password told plainly, without saying which half was wrong?"""
    response = AuthActions(client).login(people["customer"], "wrong password!")
    assert response.status_code == 401
    assert "That e-mail address and password don&#39;t match an account." in response.get_data(as_text=True)
    assert client.get("/wallet/").status_code == 302


def test_an_unknown_address_gets_the_same_message(client, people):
    """Does an unknown address answer exactly like a wrong password (no account discovery)?"""
    unknown = AuthActions(client).login("nobody@example.com", "whatever123")
    wrong = AuthActions(client).login(people["customer"], "whatever123")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.get_data(as_text=True).count("match an account") == 1
    assert wrong.get_data(as_text=True).count("match an account") == 1


def test_sign_in_guessing_is_locked_out_and_reported(client, app, people):
    """After 10 failures, is the right password refused too, with Retry-After, and an event for admins?"""
    auth = AuthActions(client)
    for _ in range(10):
        assert auth.login(people["customer"], "guess-guess-guess").status_code == 401
    locked = auth.login(people["customer"], PASSWORD)
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert "Too many sign-in attempts" in locked.get_data(as_text=True)
    with app.app_context():
        kinds = db.session.scalars(db.select(SecurityEvent.kind)).all()
    assert "signin_locked" in kinds
    admin = app.test_client()
    AuthActions(admin).login(people["admin"])
    assert "signin_locked" in admin.get("/admin/").get_data(as_text=True)


def test_a_form_posted_without_its_csrf_token_is_refused(client, app, people):
    """Is a sign-up from another site (no CSRF token) refused, storing nothing?"""
    before = users_count(app)
    response = client.post("/signup", data=GOOD)
    assert response.status_code == 400
    assert "This form has expired or was not sent from Giftloop" in response.get_data(as_text=True)
    assert users_count(app) == before


def test_an_htmx_request_carries_the_token_in_a_header(client, people):
    """Does a request with the token in X-CSRFToken (as portal.js sends it) pass?"""
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/signin").get_data(as_text=True)).group(1)
    response = client.post(
        "/signin", data={"email": people["customer"], "password": PASSWORD}, headers={"X-CSRFToken": token, "HX-Request": "true"}
    )
    assert response.status_code == 302


def test_signing_out_ends_the_session(client, people):
    """After signing out, is the wallet closed to this browser?"""
    auth = AuthActions(client)
    auth.login(people["customer"])
    assert client.get("/wallet/").status_code == 200
    auth.logout()
    assert client.get("/wallet/").status_code == 302


def test_changing_the_password_signs_out_other_sessions(app, people):
    """Does a password change keep this session, end the others, and make the new password work?"""
    here, elsewhere = app.test_client(), app.test_client()
    AuthActions(here).login(people["customer"])
    AuthActions(elsewhere).login(people["customer"])
    response = submit(here, "/settings/password", {"current_password": PASSWORD, "new_password": "a brand new secret", "confirm": "a brand new secret"})
    assert response.status_code == 302
    assert here.get("/wallet/").status_code == 200
    assert elsewhere.get("/wallet/").status_code == 302
    assert AuthActions(app.test_client()).login(people["customer"], "a brand new secret").status_code == 302


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"current_password": "not it at all", "new_password": "a brand new secret", "confirm": "a brand new secret"}, "current_password", "That is not your current password"),
        ({"current_password": PASSWORD, "new_password": "short", "confirm": "short"}, "new_password", "Use at least 10 characters for your password"),
        ({"current_password": PASSWORD, "new_password": "a brand new secret", "confirm": "another one"}, "confirm", "The passwords don't match"),
    ],
)
def test_a_refused_password_change_says_why_and_keeps_the_old_password(client, app, people, data, field, message):
    """Is each refused password change explained by its field, with the old password still working?"""
    AuthActions(client).login(people["customer"])
    response = submit(client, "/settings/password", data)
    assert response.status_code == 422
    assert error_next_to(response.get_data(as_text=True), field) == message
    assert AuthActions(app.test_client()).login(people["customer"]).status_code == 302


def test_staff_sessions_end_after_their_shift(app, client, people):
    """Does a till session end after 8 hours, while a customer's lasts?"""
    AuthActions(client).login(people["merchant"])
    assert client.get("/till/").status_code == 200
    with client.session_transaction() as session:
        session["signed_in_at"] -= timedelta(hours=8, minutes=1).total_seconds()
    response = client.get("/till/")
    assert response.status_code == 302
    assert "Your session ended after 8 hours." in client.get(response.headers["Location"]).get_data(as_text=True)


def test_next_only_follows_paths_on_this_site(client, people):
    """Is ?next=https://evil.example ignored after sign-in (no open redirect)?"""
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/signin").get_data(as_text=True)).group(1)
    response = client.post(
        "/signin?next=https://evil.example/x", data={"email": people["customer"], "password": PASSWORD, "csrf_token": token}
    )
    assert response.headers["Location"] == "/wallet/"


def test_production_password_hashing_meets_the_owasp_minimum():
    """Does the default hasher use Argon2id with at least 19 MiB and two passes?"""
    from argon2 import PasswordHasher

    from portal.config import Defaults

    hasher = PasswordHasher(time_cost=Defaults.ARGON2_TIME_COST, memory_cost=Defaults.ARGON2_MEMORY_KIB)
    assert "m=19456,t=2" in hasher.hash("x" * 12)


@pytest.mark.parametrize(
    "address", ["ann@example..com", "ann..lee@example.com", "ann@-example.com", "ann@example.com.", ".ann@example.com"]
)
def test_an_address_that_only_looks_like_one_is_refused(address):
    """Are addresses no mail server would take refused (email-validator's rules, not a loose regex)?"""
    with pytest.raises(ValidationError, match="Enter an e-mail address like name@example.com"):
        normalise_email(address)


def test_addresses_are_trimmed_and_lower_cased():
    """Is one person's address one spelling, whatever case and spaces they type?"""
    assert normalise_email("  Ann.Lee@Example.COM ") == "ann.lee@example.com"
    assert normalise_email("bob@giftloop.test") == "bob@giftloop.test"


def test_a_form_sent_after_the_session_ended_leads_to_sign_in_and_back_to_its_page(client, people):
    """No JavaScript: the session cookie is gone when the till's form is posted; sign-in, then the till."""
    token = csrf_token(client)
    client.delete_cookie("session")
    response = client.post("/till/apply", data={"csrf_token": token, "amount": "5.00"},
                           headers={"Referer": "http://localhost/till/"})
    assert response.status_code == 302 and response.headers["Location"] == "/signin?next=/till/"
    htmx = client.post("/till/apply", data={"csrf_token": token},
                       headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/till/"})
    assert htmx.headers["HX-Redirect"] == "/signin?next=/till/"

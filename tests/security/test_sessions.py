"""Sessions end on the server (issue 20 §3): a session cookie copied before sign-out, a password
change, an admin disabling the account or "Sign out everywhere" opens nothing afterwards; staff
sessions end when idle; API tokens expire, show their last use, and an admin can revoke them."""

from __future__ import annotations

import html as html_lib
import time
from datetime import timedelta

import pytest

import portal.auth
import portal.kept
import portal.tokens
from portal.auth.users import create_user
from portal.extensions import db
from portal.models import ApiToken, AuditEvent, User, utcnow
from portal.tokens import create_token
from tests.conftest import PASSWORD, AuthActions, csrf_token, submit

BOSS = "boss@example.com"  # a second admin, who disables the first
HOME = {"customer": "/wallet/", "merchant": "/till/", "admin": "/admin/"}


def browser_with(app, cookie: str):
    """Another browser holding a copy of a session cookie, as a thief would."""
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    return thief


def user_id(app, email: str) -> int:
    with app.app_context():
        return db.session.scalar(db.select(User.id).where(User.email == email))


def token_count(app, email: str) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count(ApiToken.id)).where(ApiToken.user_id == user_id(app, email)))


def flashed(html: str) -> str:
    """The page's text with entities undone, so messages read as the person sees them."""
    return html_lib.unescape(html)


def calls_me(app, token: str) -> int:
    return app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code


def sign_out(app, client, email):
    AuthActions(client).logout()


def change_password(app, client, email):
    response = submit(client, "/settings/password",
                      {"current_password": PASSWORD, "new_password": "a brand new secret", "confirm": "a brand new secret"})
    assert response.status_code == 302


def admin_disables(app, client, email):
    boss = app.test_client()
    AuthActions(boss).login(BOSS)
    page = f"/admin/users/{user_id(app, email)}"
    response = submit(boss, f"{page}/disable", {"access-reason": "lost laptop reported"}, page=page)
    assert response.status_code == 303


def sign_out_everywhere(app, client, email):
    response = submit(client, "/settings/sessions/end", {}, page="/settings/sessions")
    assert response.status_code == 302


ENDINGS = [sign_out, change_password, admin_disables, sign_out_everywhere]


@pytest.fixture
def boss(app, people):
    with app.app_context():
        create_user(db.session, BOSS, PASSWORD, role="admin")
        db.session.commit()


@pytest.mark.parametrize("role", ["customer", "admin"])
@pytest.mark.parametrize("ending", ENDINGS, ids=lambda f: f.__name__)
def test_a_cookie_copied_before_the_session_ended_opens_nothing(app, client, people, boss, role, ending):
    """After sign-out, a password change, an admin disabling the account or "sign out everywhere",
    does a copy of the old cookie still open the wallet or the admin pages, or make an API token?"""
    email = people[role]
    AuthActions(client).login(email)
    stolen_csrf = csrf_token(client, "/settings/tokens")
    stolen = client.get_cookie("session").value
    assert browser_with(app, stolen).get(HOME[role]).status_code == 200

    ending(app, client, email)

    thief = browser_with(app, stolen)
    response = thief.get(HOME[role])
    assert response.status_code == 302 and response.headers["Location"].startswith("/signin")
    assert "You were signed out." in flashed(thief.get(response.headers["Location"]).get_data(as_text=True))
    made = browser_with(app, stolen).post("/settings/tokens", data={"name": "backdoor", "csrf_token": stolen_csrf})
    assert made.status_code == 302 and made.headers["Location"].startswith("/signin")
    assert token_count(app, email) == 0


def test_signing_out_on_one_device_signs_out_the_others(app, people):
    """Does signing out on the laptop sign out the phone too (the price of one session version per
    user rather than a table of sessions), and can the phone simply sign in again?"""
    laptop, phone = app.test_client(), app.test_client()
    AuthActions(laptop).login(people["customer"])
    AuthActions(phone).login(people["customer"])
    AuthActions(laptop).logout()
    assert phone.get("/wallet/").status_code == 302
    assert AuthActions(phone).login(people["customer"]).status_code == 302
    assert phone.get("/wallet/").status_code == 200


def test_sign_out_everywhere_is_in_settings_and_says_so(app, client, people):
    """Does Settings offer "Sign out everywhere", tell staff about the idle limit, and confirm it signed out?"""
    AuthActions(client).login(people["merchant"])
    page = client.get("/settings/sessions").get_data(as_text=True)
    assert "Sign out everywhere" in page and "30 minutes without activity" in page
    response = submit(client, "/settings/sessions/end", {}, page="/settings/sessions", follow_redirects=True)
    assert "You are signed out on every device." in flashed(response.get_data(as_text=True))
    assert client.get("/till/").status_code == 302


def later(monkeypatch, minutes: float) -> None:
    """Move the session clock on, as if the browser had sat unused."""
    moved = time.time() + minutes * 60
    monkeypatch.setattr(portal.auth, "now", lambda: moved)


@pytest.mark.parametrize("role", ["merchant", "admin"])
def test_staff_and_admin_sessions_end_after_30_idle_minutes_and_say_why(app, client, people, monkeypatch, role):
    """Is a till or admin browser left 31 minutes signed out, with the reason on the sign-in page?"""
    AuthActions(client).login(people[role])
    assert client.get(HOME[role]).status_code == 200
    later(monkeypatch, 31)
    response = client.get(HOME[role])
    assert response.status_code == 302 and response.headers["Location"].startswith("/signin")
    signin = flashed(client.get(response.headers["Location"]).get_data(as_text=True))
    assert "Your session ended after 30 minutes without activity." in signin
    monkeypatch.undo()
    assert client.get(HOME[role]).status_code == 302  # ended for good, not only while the clock was on


def test_a_staff_visit_restarts_the_idle_clock(app, client, people, monkeypatch):
    """Does working at the till keep the session: 25 minutes, a visit, 25 more minutes, still signed in?"""
    AuthActions(client).login(people["merchant"])
    later(monkeypatch, 25)
    assert client.get("/till/").status_code == 200
    later(monkeypatch, 50)
    assert client.get("/till/").status_code == 200


def test_a_customer_idle_for_31_minutes_or_a_day_is_still_signed_in(app, client, people, monkeypatch):
    """Does a customer keep their 30-day session through 31 idle minutes and a day?"""
    AuthActions(client).login(people["customer"])
    later(monkeypatch, 31)
    assert client.get("/wallet/").status_code == 200
    later(monkeypatch, 24 * 60)
    assert client.get("/wallet/").status_code == 200


def test_the_idle_limit_is_a_setting(tmp_path, monkeypatch):
    """Does STAFF_IDLE_MINUTES set the idle limit?"""
    monkeypatch.setenv("STAFF_IDLE_MINUTES", "10")
    from tests.conftest import make_app

    app = make_app(f"sqlite:///{tmp_path / 'other.db'}")
    assert app.config["STAFF_IDLE_TIMEOUT"] == timedelta(minutes=10)


# --- API tokens ------------------------------------------------------------------------------


def make_token(app, email: str, **options) -> str:
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.email == email))
        _, token = create_token(db.session, user, "Shop", **options)
        db.session.commit()
        return token


def test_an_expired_token_gets_401(app, people, monkeypatch):
    """Does a token past its expiry get 401, where it worked the moment before (and is still kept
    in the process's token cache)?"""
    token = make_token(app, people["merchant"], expires_in_days=1)
    assert calls_me(app, token) == 200
    a_day_later = utcnow() + timedelta(days=1, seconds=1)
    monkeypatch.setattr(portal.tokens, "utcnow", lambda: a_day_later)
    response = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json["code"] == "unauthorized"


def test_a_token_revoked_by_another_process_stops_working_within_the_cache_seconds(app, people, monkeypatch):
    """A revocation made elsewhere (another app process: here, straight in the database) is refused
    once this process's copy of the token is CACHE_SECONDS old, as the README says."""
    token = make_token(app, people["merchant"])
    assert calls_me(app, token) == 200
    with app.app_context():
        db.session.execute(db.update(ApiToken).values(revoked_at=utcnow()))
        db.session.commit()
    later = time.monotonic() + portal.tokens.CACHE_SECONDS
    monkeypatch.setattr(portal.kept.time, "monotonic", lambda: later)
    assert calls_me(app, token) == 401


def test_settings_make_a_token_that_expires_and_list_it_with_its_expiry(app, client, people):
    """Does the Settings form refuse a bad number of days, make a token that expires, and list its expiry?"""
    AuthActions(client).login(people["customer"])
    refused = submit(client, "/settings/tokens", {"name": "Shop", "expires_in_days": "0"}, page="/settings/tokens")
    assert refused.status_code == 422
    assert "Enter a whole number of days from 1 to 3650" in flashed(refused.get_data(as_text=True))
    assert token_count(app, people["customer"]) == 0
    made = submit(client, "/settings/tokens", {"name": "Shop", "expires_in_days": "30"}, page="/settings/tokens")
    assert made.status_code == 201
    with app.app_context():
        row = db.session.scalar(db.select(ApiToken))
        assert timedelta(days=29, hours=23) < row.expires_at - utcnow() <= timedelta(days=30)
        expected = f"expires {row.expires_at.day} {row.expires_at:%B %Y}"
    assert expected in client.get("/settings/tokens").get_data(as_text=True)


@pytest.mark.parametrize(("days", "works"), [(None, True), ("7", True), ("0", False), ("abc", False), ("3651", False)])
def test_portal_tokens_create_takes_an_expiry_in_days(app, runner, people, days, works):
    """Does `portal tokens create --expires-in-days N` make an expiring token, and refuse a bad N?"""
    args = ["tokens", "create", people["customer"]] + (["--expires-in-days", days] if days else [])
    result = runner.invoke(args=args)
    assert (result.exit_code == 0) == works, result.output
    assert token_count(app, people["customer"]) == (1 if works else 0)
    if works:
        with app.app_context():
            row = db.session.scalar(db.select(ApiToken))
            assert (row.expires_at is None) == (days is None)


def test_an_admin_sees_a_users_tokens_with_last_use_and_revokes_them_all(app, client, people):
    """Does a person's admin page list their tokens with last use, and revoke them all with a reason?"""
    token = make_token(app, people["merchant"])
    other = make_token(app, people["merchant"])
    assert calls_me(app, token) == 200
    AuthActions(client).login(people["admin"])
    page = f"/admin/users/{user_id(app, people['merchant'])}"
    html = client.get(page).get_data(as_text=True)
    assert html.count(token[:10]) == 1 and html.count(other[:10]) == 1
    assert "never" in html and utcnow().strftime("%Y-%m-%d") in html  # one used today, one never

    refused = submit(client, f"{page}/tokens/revoke", {"tokens-reason": " "}, page=page)
    assert refused.status_code == 422 and "Please give a reason" in refused.get_data(as_text=True)
    assert calls_me(app, token) == 200

    response = submit(client, f"{page}/tokens/revoke", {"tokens-reason": "staff member left"}, page=page,
                      follow_redirects=True)
    assert "2 API tokens of staff@example.com revoked." in flashed(response.get_data(as_text=True))
    assert calls_me(app, token) == 401 and calls_me(app, other) == 401
    with app.app_context():
        event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "token.revoked_all"))
        assert event.reason == "staff member left" and event.detail["count"] == 2


def test_a_disabled_account_cannot_sign_in_or_use_its_tokens_until_enabled(app, client, people):
    """Is a disabled account refused at sign-in (told so only with the right password) and in the API, until enabled?"""
    token = make_token(app, people["customer"])
    AuthActions(client).login(people["admin"])
    page = f"/admin/users/{user_id(app, people['customer'])}"
    assert submit(client, f"{page}/disable", {"access-reason": " "}, page=page).status_code == 422
    assert submit(client, f"{page}/disable", {"access-reason": "card fraud"}, page=page).status_code == 303
    assert calls_me(app, token) == 401
    assert ">disabled</span>" in client.get("/admin/users?q=customer").get_data(as_text=True)

    visitor = app.test_client()
    refused = AuthActions(visitor).login(people["customer"])
    assert refused.status_code == 403 and "This account is disabled" in refused.get_data(as_text=True)
    wrong = AuthActions(visitor).login(people["customer"], "not the password")
    assert wrong.status_code == 401 and "disabled" not in wrong.get_data(as_text=True)

    assert submit(client, f"{page}/enable", {"access-reason": "cleared"}, page=page).status_code == 303
    assert AuthActions(visitor).login(people["customer"]).status_code == 302
    assert calls_me(app, token) == 200


def test_an_admin_cannot_disable_themselves(app, client, people):
    """Is an admin stopped from locking themselves out?"""
    AuthActions(client).login(people["admin"])
    page = f"/admin/users/{user_id(app, people['admin'])}"
    refused = submit(client, f"{page}/disable", {"access-reason": "oops"}, page=page)
    assert refused.status_code == 422 and "You cannot disable your own account" in refused.get_data(as_text=True)
    assert client.get("/admin/").status_code == 200


def test_the_activity_list_refreshing_itself_does_not_keep_a_till_session_alive(app, client, people, monkeypatch):
    """Today's activity asks for itself every 10 seconds: does a till left open on it still go idle?"""
    AuthActions(client).login(people["merchant"])
    assert client.get("/till/activity").status_code == 200
    poll = {"HX-Request": "true", "HX-Trigger": "activity"}
    later(monkeypatch, 20)
    assert client.get("/till/activity", headers=poll).status_code == 200
    later(monkeypatch, 31)
    ended = client.get("/till/activity", headers=poll)
    # htmx is sent the whole page's way to sign-in (HX-Redirect), as a plain request is (302).
    assert ended.status_code == 401 and ended.headers["HX-Redirect"].startswith("/signin")
    assert client.get("/till/activity").status_code == 302

"""Settings → API tokens (issue 8): every role makes a token, sees it once, lists and revokes it."""

from __future__ import annotations

import html as html_lib
import re

import pytest

from portal.extensions import db
from portal.models import ApiToken, AuditEvent, User
from tests.conftest import AuthActions, csrf_token, submit

ROLES = ("customer", "merchant", "admin")


def tokens_of(app, email: str) -> list[ApiToken]:
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.email == email))
        rows = db.session.scalars(db.select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)).all()
        db.session.expunge_all()
        return list(rows)


def shown_token(page: str) -> str:
    match = re.search(r'<input id="new-token"[^>]*value="(glt_[^"]+)"', page)
    assert match, "no new token on the page"
    return html_lib.unescape(match.group(1))


def calls_me(client, token: str) -> int:
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code


@pytest.mark.parametrize("role", ROLES)
def test_every_role_makes_a_token_that_is_shown_once_and_works(app, client, people, role):
    """Can a customer, a merchant and an admin each make a token, copy it, and call the API with it?"""
    AuthActions(client).login(people[role])
    page = client.get("/settings/tokens")
    assert page.status_code == 200
    assert 'href="/api/v1/docs"' in page.get_data(as_text=True)
    made = submit(client, "/settings/tokens", {"name": "Online shop"}, page="/settings/tokens")
    assert made.status_code == 201
    html = made.get_data(as_text=True)
    token = shown_token(html)
    assert "Copy token" in html and "only time it is shown" in html
    # Only a fingerprint is kept, and the list shows the name and the first characters, never the token.
    (row,) = tokens_of(app, people[role])
    assert row.name == "Online shop" and token not in (row.token_hash, row.prefix) and token.startswith(row.prefix)
    again = client.get("/settings/tokens").get_data(as_text=True)
    assert token not in again
    assert "Online shop" in again and f"{row.prefix}…" in again and "never used" in again
    assert calls_me(app.test_client(), token) == 200


def test_the_list_tells_when_a_token_was_last_used(app, client, people):
    AuthActions(client).login(people["merchant"])
    token = shown_token(submit(client, "/settings/tokens", {"name": "Till 2"}, page="/settings/tokens").get_data(as_text=True))
    assert calls_me(app.test_client(), token) == 200
    page = client.get("/settings/tokens").get_data(as_text=True)
    assert "never used" not in page and re.search(r"last used \d+ \w+ \d{4} at \d\d:\d\d UTC", page)


@pytest.mark.parametrize(("name", "message"), [("", "Give the token a name"), ("  ", "Give the token a name"),
                                                ("x" * 81, "Give the token a name of 1 to 80 characters")])
def test_a_token_needs_a_name_and_a_bad_one_makes_nothing(app, client, people, name, message):
    AuthActions(client).login(people["customer"])
    response = submit(client, "/settings/tokens", {"name": name}, page="/settings/tokens")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(rf'<p class="error" id="name-error">{re.escape(message)}', html), html
    assert 'id="new-token"' not in html
    assert tokens_of(app, people["customer"]) == []


def test_htmx_gets_the_token_panel_only(app, client, people):
    """Does the htmx form get just the panel back (page and fragment from one URL)?"""
    AuthActions(client).login(people["customer"])
    response = client.post(
        "/settings/tokens", data={"name": "Script", "csrf_token": csrf_token(client, "/settings/tokens")},
        headers={"HX-Request": "true"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 201 and html.lstrip().startswith('<div id="tokens">') and "<html" not in html
    assert "HX-Request" in response.headers["Vary"]
    assert shown_token(html)


def test_revoking_asks_first_then_the_token_is_refused(app, client, people):
    """Is revoking confirmed on its own page, and is the token refused by the API from then on?"""
    AuthActions(client).login(people["customer"])
    token = shown_token(submit(client, "/settings/tokens", {"name": "Old script"}, page="/settings/tokens").get_data(as_text=True))
    keep = shown_token(submit(client, "/settings/tokens", {"name": "Keeper"}, page="/settings/tokens").get_data(as_text=True))
    row = tokens_of(app, people["customer"])[0]
    confirm = client.get(f"/settings/tokens/{row.id}/revoke")
    assert confirm.status_code == 200
    assert "Revoke “Old script”?" in confirm.get_data(as_text=True)
    assert calls_me(app.test_client(), token) == 200  # asking changed nothing
    done = submit(client, f"/settings/tokens/{row.id}/revoke", {}, page=f"/settings/tokens/{row.id}/revoke")
    assert done.status_code == 303 and done.headers["Location"] == "/settings/tokens"
    page = client.get("/settings/tokens").get_data(as_text=True)
    assert "The token “Old script” is revoked" in page and "Old script</strong>" not in page and "Keeper" in page
    assert calls_me(app.test_client(), token) == 401
    assert calls_me(app.test_client(), keep) == 200
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(AuditEvent.id)).where(AuditEvent.action == "token.revoked")) == 1


def test_nobody_can_revoke_another_persons_token(app, client, people):
    """Does a user who guesses another's token id find nothing, and does that token keep working?"""
    from portal.tokens import create_token

    with app.app_context():
        staff = db.session.scalar(db.select(User).where(User.email == people["merchant"]))
        row, token = create_token(db.session, staff, "Till 1")
        db.session.commit()
        token_id = row.id
    AuthActions(client).login(people["customer"])
    assert client.get(f"/settings/tokens/{token_id}/revoke").status_code == 404
    refused = client.post(f"/settings/tokens/{token_id}/revoke", data={"csrf_token": csrf_token(client, "/settings/tokens")})
    assert refused.status_code == 404 and "You have no such token" in refused.get_data(as_text=True)
    assert calls_me(app.test_client(), token) == 200


def test_a_token_revoked_twice_is_not_found_the_second_time(app, client, people):
    AuthActions(client).login(people["admin"])
    submit(client, "/settings/tokens", {"name": "Export"}, page="/settings/tokens")
    row = tokens_of(app, people["admin"])[0]
    page = f"/settings/tokens/{row.id}/revoke"
    token = csrf_token(client, page)
    assert client.post(page, data={"csrf_token": token}).status_code == 303
    assert client.post(page, data={"csrf_token": token}).status_code == 404


def test_settings_link_password_and_tokens_for_every_role(client, people):
    for role in ROLES:
        auth = AuthActions(client)
        auth.login(people[role])
        html = client.get("/settings/password").get_data(as_text=True)
        assert 'href="/settings/tokens"' in html, role
        auth.logout()


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/settings/tokens")
    assert response.status_code == 302 and response.headers["Location"].startswith("/signin")


def test_the_command_line_makes_a_token_with_its_own_limit(app, runner, people):
    result = runner.invoke(args=["tokens", "create", people["merchant"], "--name", "Batch", "--rate-limit", "600"])
    assert result.exit_code == 0, result.output
    (row,) = tokens_of(app, people["merchant"])
    assert (row.name, row.rate_limit) == ("Batch", 600)
    assert calls_me(app.test_client(), result.output.strip()) == 200
    refused = runner.invoke(args=["tokens", "create", people["merchant"], "--rate-limit", "0"])
    assert refused.exit_code != 0 and "rate limit" in refused.output
    assert len(tokens_of(app, people["merchant"])) == 1

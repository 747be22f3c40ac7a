"""Every route refuses the roles it is not for: walked from the URL map, so a new route is
covered the day it is added, without being listed here."""

from __future__ import annotations

import pytest
from werkzeug.routing import Rule

from portal.extensions import db
from portal.models import User
from portal.tokens import create_token
from portal.web.guards import allowed_roles
from tests.conftest import AuthActions

ROLES = ("customer", "merchant", "admin")
SAMPLE = {"integer": "1", "int": "1", "string": "x", "path": "x", "unicode": "x"}


def sample_url(rule: Rule) -> str:
    """Fill every variable of a rule with a harmless value of its converter's kind."""
    url = rule.rule
    for arg, converter in rule._converters.items():
        kind = type(converter).__name__.replace("Converter", "").lower()
        url = url.replace(f"<{arg}>", SAMPLE.get(kind, "x"))
        for prefix in ("int", "string", "path", "any", "float", "uuid"):
            url = url.replace(f"<{prefix}:{arg}>", SAMPLE.get(kind, "x"))
    return url


def guarded_routes(app) -> list[tuple[str, str, frozenset[str]]]:
    """(method, url, roles admitted) for every route that needs a sign-in."""
    routes = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if rule.endpoint == "static":
                continue
            wanted = allowed_roles(rule.endpoint)
            if wanted is None:
                continue
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                routes.append((method, sample_url(rule), wanted))
    return routes


@pytest.fixture
def open_app(app):
    """CSRF is tested on its own; here only the role guard decides."""
    app.config["WTF_CSRF_ENABLED"] = False
    return app


def test_the_walk_sees_every_portal(open_app):
    """Is the walk really looking at the customer, merchant, admin and API routes?"""
    urls = {url for _, url, _ in guarded_routes(open_app)}
    for prefix in ("/wallet/", "/till/", "/admin/", "/api/v1/", "/settings/password"):
        assert any(url.startswith(prefix) for url in urls), prefix


def test_anonymous_visitors_are_sent_to_sign_in_or_refused(open_app):
    """Does every page send an anonymous visitor to sign in, and every API call answer 401?"""
    client = open_app.test_client()
    for method, url, _ in guarded_routes(open_app):
        response = client.open(url, method=method)
        if url.startswith("/api/"):
            assert response.status_code == 401, (method, url)
            assert response.json["code"] == "unauthorized"
        else:
            assert response.status_code == 302, (method, url)
            assert "/signin" in response.headers["Location"], (method, url)


@pytest.mark.parametrize("role", ROLES)
def test_signed_in_users_get_403_where_their_role_is_not_admitted(open_app, people, role):
    """Does each role get 403 on pages and API calls of the other portals?"""
    client = open_app.test_client()
    AuthActions(client).login(people[role])
    with open_app.app_context():
        user = db.session.scalar(db.select(User).where(User.email == people[role]))
        _, token = create_token(db.session, user, "walk")
        db.session.commit()
    checked = 0
    for method, url, wanted in guarded_routes(open_app):
        if role in wanted:
            continue
        headers = {"Authorization": f"Bearer {token}"} if url.startswith("/api/") else {}
        response = client.open(url, method=method, headers=headers)
        assert response.status_code == 403, (role, method, url, response.status_code)
        checked += 1
    assert checked > 0


def test_each_role_reaches_its_own_home(open_app, people):
    """Does each role land on its own portal after signing in?"""
    homes = {"customer": "/wallet/", "merchant": "/till/", "admin": "/admin/"}
    for role, home in homes.items():
        client = open_app.test_client()
        response = AuthActions(client).login(people[role])
        assert response.headers["Location"] == home
        assert client.get(home).status_code == 200


def test_the_api_ignores_the_session_cookie(open_app, people):
    """Can a signed-in browser session call the API without a token? (It must not: no CSRF there.)"""
    client = open_app.test_client()
    AuthActions(client).login(people["customer"])
    assert client.get("/api/v1/me").status_code == 401


def test_no_page_of_the_wallet_the_till_or_the_console_is_open_to_everyone(open_app):
    """Does every route under /wallet/, /till/ and /admin/ need a sign-in (nested blueprints too)?"""
    with open_app.test_request_context():
        open_routes = [
            rule.rule for rule in open_app.url_map.iter_rules()
            if rule.rule.startswith(("/wallet/", "/till/", "/admin/")) and allowed_roles(rule.endpoint) is None
        ]
    assert open_routes == []


@pytest.mark.parametrize(("who", "path", "status"), [
    (None, "/till/webhooks", 302), (None, "/admin/webhooks", 302),
    ("customer", "/till/webhooks", 403), ("merchant", "/admin/webhooks", 403),
    ("merchant", "/till/webhooks", 200), ("admin", "/admin/webhooks", 200),
])
def test_the_webhook_pages_admit_only_their_places_role(open_app, people, who, path, status):
    """Are the till's and the console's webhook pages (one nested blueprint) shut to everyone else?"""
    client = open_app.test_client()
    if who:
        AuthActions(client).login(people[who])
    answer = client.get(path)
    assert answer.status_code == status
    if status == 302:
        assert "/signin" in answer.headers["Location"]

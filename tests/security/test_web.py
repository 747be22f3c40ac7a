"""The browser-facing defences (DESIGN §7): CSRF on every state change, cookie flags behind HTTPS,
no open redirect through ``next``, a new session at sign-in, and a CSP no page violates."""

from __future__ import annotations

import re
from urllib.parse import quote, urljoin, urlsplit

import pytest
import requests
import sqlalchemy as sa

from portal.cards import operations
from portal.extensions import db
from portal.ledger import SYSTEM
from portal.models import User
from portal.money import Money
from portal.services import services
from portal.web.guards import allowed_roles
from tests.conftest import PASSWORD, AuthActions, csrf_token, serve_gunicorn
from tests.security.conftest import ADMIN, CUSTOMERS, STAFF, seed_people

LOGINS = {"customer": CUSTOMERS[0], "merchant": STAFF["corner-cafe"], "admin": ADMIN}
# Posted by a payment provider, with no session: its signature is the proof (test_shop_orders).
SIGNED_NOT_SESSION = {"shop.webhook"}
# Production refuses the test payment provider; these keys are never used by the test.
STRIPE = {"PAYMENT_PROVIDER": "stripe", "STRIPE_SECRET_KEY": "sk_test_unused", "STRIPE_WEBHOOK_SECRET": "whsec_unused"}


def post_routes(app) -> list[tuple[str, frozenset[str] | None]]:
    """(url, roles) of every page route that changes state (the API takes tokens, not cookies)."""
    found = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "POST" in rule.methods and not rule.rule.startswith("/api/") and rule.endpoint not in SIGNED_NOT_SESSION:
                found.append((re.sub(r"<(?:int:)?\w+>", "1", rule.rule), allowed_roles(rule.endpoint)))
    return found


def test_every_state_change_without_its_csrf_token_or_with_another_sessions_is_refused(app):
    """For every POST route, signed in as a role it admits: no token → 400, a stranger's token → 400."""
    seed_people(app)
    stranger = app.test_client()
    foreign = csrf_token(stranger)
    checked = 0
    for url, roles in post_routes(app):
        role = sorted(roles)[0] if roles else "customer"
        client = app.test_client()
        AuthActions(client).login(LOGINS[role])
        csrf_token(client, "/signin")  # this session has a token of its own
        for data in ({}, {"csrf_token": foreign}):
            response = client.post(url, data=data)
            assert response.status_code == 400, (url, data, response.status_code)
            assert "was not sent from Giftloop" in response.get_data(as_text=True)
        htmx = client.post(url, headers={"HX-Request": "true", "X-CSRFToken": foreign})
        assert htmx.status_code == 400, url
        checked += 1
    assert checked >= 30


@pytest.mark.postgres
@pytest.mark.redis
def test_behind_https_every_cookie_is_secure_httponly_and_lax(pg_app, pg_url, redis_url):
    """In production (gunicorn), is every cookie set on the way in, at sign-in and at sign-out Secure, HttpOnly and Lax?"""
    seed_people(pg_app)
    with serve_gunicorn(pg_url, redis_url, PORTAL_ENV="production", **STRIPE) as url:
        browser = requests.Session()
        first = browser.get(url + "/signin", timeout=30)
        token = re.search(r'name="csrf-token" content="([^"]+)"', first.text).group(1)
        cookie = first.headers["Set-Cookie"]
        # The browser would send the Secure cookie over HTTPS; plain HTTP here, so send it by hand.
        session_value = re.match(r"session=([^;]+)", cookie).group(1)
        signed_in = requests.post(url + "/signin", data={"email": CUSTOMERS[0], "password": PASSWORD, "csrf_token": token},
                                  cookies={"session": session_value}, allow_redirects=False, timeout=30)
        assert signed_in.status_code == 302
        cookies = [first.headers["Set-Cookie"], signed_in.headers["Set-Cookie"]]
    for set_cookie in cookies:
        flags = {part.strip().lower() for part in set_cookie.split(";")[1:]}
        assert {"secure", "httponly", "samesite=lax"} <= flags, set_cookie
    assert first.headers["Strict-Transport-Security"].startswith("max-age=")


OPEN_REDIRECTS = [
    "//evil.example/", "https://evil.example/", "http:evil.example", "/\\evil.example", "\\\\evil.example",
    "/\t/evil.example", "/\n/evil.example", " //evil.example", "/%5Cevil.example", "/%2F%2Fevil.example",
    "///evil.example", "javascript:alert(1)", "\\/evil.example",
]


def where_a_browser_goes(location: str) -> str:
    """The host a browser lands on: it reads backslashes as slashes and drops tabs and newlines."""
    cleaned = re.sub(r"[\t\n\r]", "", location).replace("\\", "/").strip()
    return urlsplit(urljoin("http://giftloop.test/signin", cleaned)).netloc


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_next_never_leads_off_the_site(app, client, target):
    """Does sign-in (and sign-up) follow ``next`` only to a page of this site?"""
    seed_people(app)
    for path, data in (
        ("/signin", {"email": CUSTOMERS[0], "password": PASSWORD}),
        ("/signup", {"email": "new@example.com", "password": PASSWORD, "confirm": PASSWORD}),
    ):
        fresh = app.test_client()
        token = csrf_token(fresh, path)
        response = fresh.post(f"{path}?next={quote(target, safe='')}", data={**data, "csrf_token": token})
        assert response.status_code == 302, (path, target)
        assert where_a_browser_goes(response.headers["Location"]) in ("", "giftloop.test"), (path, target, response.headers["Location"])


def test_a_path_on_the_site_is_still_followed(app, client):
    seed_people(app)
    token = csrf_token(client, "/signin")
    response = client.post("/signin?next=/wallet/redeem", data={"email": CUSTOMERS[0], "password": PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/wallet/redeem"


def test_signing_in_gives_a_new_session_and_the_planted_one_stays_anonymous(app):
    """Session fixation: a cookie handed to the victim before sign-in is not signed in afterwards."""
    seed_people(app)
    victim = app.test_client()
    token = csrf_token(victim, "/signin")
    planted = victim.get_cookie("session").value
    victim.post("/signin", data={"email": CUSTOMERS[0], "password": PASSWORD, "csrf_token": token})
    assert victim.get_cookie("session").value != planted
    assert victim.get("/wallet/").status_code == 200
    attacker = app.test_client()
    attacker.set_cookie("session", planted)
    assert attacker.get("/wallet/").status_code == 302


# --- The crawl -------------------------------------------------------------------------------------

COLLECT_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def crawl_pages(app, role: str, card_id: int) -> list[str]:
    pages = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "GET" not in rule.methods or rule.rule.startswith(("/static", "/api/v1/openapi")) or rule.rule.endswith(".csv"):
                continue
            wanted = allowed_roles(rule.endpoint)
            if wanted is not None and role not in wanted:
                continue
            url = rule.rule.replace("<int:card_id>", str(card_id))
            if "<" not in url:
                pages.append(url)
    return sorted(pages)


@pytest.mark.browser
@pytest.mark.slow
def test_a_headless_crawl_of_every_page_meets_a_strict_csp(app, browser, live_server):
    """Every page of every role in Chromium: no CSP violation, no inline or eval script allowed, no framing."""
    seed_people(app)
    with app.app_context():
        cara = db.session.scalar(sa.select(User).where(User.email == CUSTOMERS[0]))
        card_id = operations.issue_card(db.session, services().vault, amount=Money(2500, "USD"), actor=SYSTEM,
                                        idempotency_key="crawl", owner=cara).card.id
        db.session.commit()
    violations, visited = [], 0
    for role in ("visitor", *LOGINS):
        context = browser.new_context(base_url=live_server.url)
        context.add_init_script(COLLECT_VIOLATIONS)
        page = context.new_page()
        page.on("console", lambda message: "Content Security Policy" in message.text and violations.append(message.text))
        if role != "visitor":
            page.goto("/signin")
            page.get_by_label("E-mail address").fill(LOGINS[role])
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(lambda url: "/signin" not in url)
        for path in crawl_pages(app, role, card_id):
            response = page.goto(path)
            page.wait_for_load_state("networkidle")
            csp = response.headers.get("content-security-policy", "")
            script_src = next((d for d in csp.split(";") if d.strip().startswith("script-src")), "")
            assert script_src and "unsafe-inline" not in script_src and "unsafe-eval" not in script_src, path
            assert "frame-ancestors 'none'" in csp, path
            violations.extend(f"{role} {path}: {v}" for v in page.evaluate("window.__csp"))
            visited += 1
        context.close()
    assert visited >= 25
    assert violations == []

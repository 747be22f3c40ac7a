"""Bad input everywhere, on PostgreSQL (which refuses what SQLite lets by, such as NUL): every form
of every page and every API endpoint, given empty, huge, NUL, wrong-type, unicode and markup
values, answers with a clear refusal, never a server error; what it refuses stores nothing, and
markup that is stored comes back escaped on every page and in every e-mail."""

from __future__ import annotations

import json
import re
from email import message_from_bytes, policy
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa

from portal.cards import operations
from portal.extensions import db
from portal.ledger import SYSTEM
from portal.models import User
from portal.money import Money
from portal.services import services
from portal.tokens import create_token
from portal.web.guards import allowed_roles
from tests.conftest import AuthActions, make_app
from tests.security.conftest import ADMIN, CUSTOMERS, STAFF, database_state, seed_people

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

MARKUP = '<script>alert("gl")</script><img src=x onerror=alert(1)>'
UNICODE = "Zoë 名前 😀 \u202eevil\u200b"
# Values no field accepts: whatever the field, these must be refused and store nothing.
REFUSED_EVERYWHERE = {"huge": "9" * 100_000, "nul": "card\x00code"}
EVERYONE = ("visitor", "customer", "merchant", "admin")
LOGINS = {"customer": CUSTOMERS[0], "merchant": STAFF["corner-cafe"], "admin": ADMIN}
# Leaving is always allowed: it ends the sessions (a new session version) and stores nothing else.
SKIPPED_FORMS = {"/signout", "/settings/sessions/end"}


class Forms(HTMLParser):
    """The post forms of a page: action and fields (name → kind, value)."""

    def __init__(self):
        super().__init__()
        self.forms: list[tuple[str, dict[str, tuple[str, str]]]] = []
        self._open: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "").lower() == "post":
            self._open = {}
            self.forms.append((attrs.get("action") or attrs.get("hx-post") or "", self._open))
        elif self._open is not None and tag in ("input", "textarea", "select") and attrs.get("name"):
            kind = attrs.get("type", "text") if tag == "input" else tag
            if kind in ("radio", "checkbox") and attrs["name"] in self._open:
                return
            if kind in ("submit", "button", "file"):
                return
            self._open[attrs["name"]] = (kind, attrs.get("value") or "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._open = None


def forms_on(html: str):
    parser = Forms()
    parser.feed(html)
    return parser.forms


def filled(fields: dict[str, tuple[str, str]], value: str) -> dict[str, str]:
    """Every field a person types into set to ``value``; the rest as the page gave them."""
    typed = {"text", "email", "password", "search", "textarea", "number", "tel", "url", "date", "datetime-local"}
    return {name: value if kind in typed else given for name, (kind, given) in fields.items()}


@pytest.fixture
def shop(pg_url, pg_app, tmp_path):
    """The app on PostgreSQL with e-mail as files, people, and objects every id route can name."""
    app = make_app(pg_url, OUTBOX_DIR=str(tmp_path / "outbox"))
    seed_people(app)
    with app.app_context():
        cara = db.session.scalar(sa.select(User).where(User.email == CUSTOMERS[0]))
        issued = operations.issue_card(db.session, services().vault, amount=Money(2000, "USD"), actor=SYSTEM,
                                       idempotency_key="cara", owner=cara)
        db.session.commit()
        app.config["SEEDED"] = {"card_id": issued.card.id, "code": issued.code}
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def signed_in(app, role: str):
    client = app.test_client()
    if role != "visitor":
        AuthActions(client).login(LOGINS[role])
    return client


def pages(app, role: str) -> list[str]:
    """Every page this role may open, ids filled with the seeded objects."""
    seeded = app.config["SEEDED"]
    found = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "GET" not in rule.methods or rule.rule.startswith(("/static", "/api/")) or rule.rule.endswith(".csv"):
                continue
            wanted = allowed_roles(rule.endpoint)
            if wanted is not None and role not in wanted:
                continue
            url = rule.rule.replace("<int:card_id>", str(seeded["card_id"]))
            if "<" not in url:
                found.append(url)
    return sorted(found)


def every_form(app):
    """(role, page, action, fields) for each post form any role can reach."""
    for role in EVERYONE:
        client = signed_in(app, role)
        for page in pages(app, role):
            response = client.get(page)
            if response.status_code != 200:
                continue
            for action, fields in forms_on(response.get_data(as_text=True)):
                if action and action not in SKIPPED_FORMS:
                    yield role, client, page, action, fields


def test_no_form_stores_or_breaks_on_huge_or_nul_input_nor_breaks_when_empty(shop):
    """Every form on every page, with each typed field 20,000 characters or holding a NUL (refused,
    nothing stored), then left empty (an answer, never a server error: some fields are optional)."""
    forms = list(every_form(shop))
    before = database_state(shop)
    for role, client, page, action, fields in forms:
        for name, value in REFUSED_EVERYWHERE.items():
            response = client.post(action, data=filled(fields, value))
            assert response.status_code < 500, (role, page, action, name)
    assert len(forms) >= 20
    assert database_state(shop) == before
    for role, client, page, action, fields in forms:
        assert client.post(action, data=filled(fields, "")).status_code < 500, (role, page, action)


def test_markup_and_unicode_typed_anywhere_is_shown_escaped_everywhere(shop):
    """Markup typed into every field of every form: no server error, and no page or e-mail shows it as markup."""
    for role, client, page, action, fields in every_form(shop):
        for value in (MARKUP, UNICODE):
            response = client.post(action, data=filled(fields, value))
            assert response.status_code < 500, (role, page, action, value)
            assert "<script>alert(" not in response.get_data(as_text=True), (role, action)
    stored = [table for table, rows in database_state(shop).items() if any(MARKUP in str(row) for row in rows)]
    assert stored, "some form (a name, a reason) should have kept the markup, to show it escaped"
    for role in EVERYONE:
        client = signed_in(shop, role)
        for page in pages(shop, role):
            html = client.get(page).get_data(as_text=True)
            assert "<script>alert(" not in html and "<img src=x" not in html, (role, page)
    for eml in Path(shop.config["OUTBOX_DIR"]).glob("*.eml"):
        message = message_from_bytes(eml.read_bytes(), policy=policy.default)
        for part in message.walk():
            if part.get_content_type() == "text/html":
                assert "<script>alert(" not in part.get_content(), eml.name


# --- The API ----------------------------------------------------------------------------------

FIELDS = (
    "amount", "currency", "owner_email", "merchant", "expires_in_days", "allow_partial", "reference", "reason",
    "code", "order_total", "customer_email", "discount_type", "discount_value", "max_uses", "uses_per_user",
    "expires_at", "min_order", "merchants", "allowed_domains", "channels", "to_email", "claim_code", "name",
    "subscription_identifier", "recipient_email", "payment_method", "message", "coupon", "gift_code",
)
# Wrong for every field: refused, nothing stored. Null, empty, markup and unicode may be fine for
# an optional field, a reason or a memo, so those are sent afterwards, for the answer only.
WRONG = {
    "true": True, "list": [1, 2], "object": {"a": 1}, "float": 1e308, "negative": -1,
    "huge": "9" * 100_000, "nul": "12\x0050",
}
RAW_BODIES = {"not JSON": "{amount: 12", "a list": "[1]", "a string": '"12.50"', "a number": "12", "null": "null"}


def api_routes(app) -> list[tuple[str, str, frozenset[str] | None]]:
    with app.test_request_context():
        return [
            (method, rule.rule, allowed_roles(rule.endpoint))
            for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
        ]


def test_every_api_endpoint_refuses_wrong_bodies_with_a_problem_document_and_stores_nothing(shop):
    """Every endpoint, with each field of every kind wrong and with bodies that are not JSON objects."""
    seeded = shop.config["SEEDED"]
    tokens = {}
    with shop.app_context():
        for role, email in LOGINS.items():
            user = db.session.scalar(sa.select(User).where(User.email == email))
            tokens[role] = create_token(db.session, user, "fuzz")[1]
        db.session.commit()
    client = shop.test_client()
    wrong = [json.dumps({field: value for field in FIELDS}) for value in WRONG.values()]
    maybe_fine = [json.dumps({field: value for field in FIELDS}) for value in (None, "", MARKUP, UNICODE)]

    def send_all(bodies: list[str]) -> int:
        calls = 0
        for method, rule, roles in api_routes(shop):
            url = re.sub(r"<int:\w+>", "1", rule.replace("<code>", seeded["code"]).replace("<path:code>", "GIFT-1"))
            for role in sorted(roles or {"customer"}):
                for body in bodies:
                    headers = {"Authorization": f"Bearer {tokens[role]}", "Idempotency-Key": f"bad-{calls}",
                               "Content-Type": "application/json"}
                    response = client.open(url, method=method, data=body, headers=headers)
                    assert response.status_code < 500, (role, method, rule, body[:60])
                    if response.status_code >= 400:
                        assert response.mimetype == "application/problem+json", (method, rule)
                        assert response.json["detail"], (method, rule)
                    calls += 1
        return calls

    before = database_state(shop)
    assert send_all([*wrong, *RAW_BODIES.values()]) > 200
    assert database_state(shop) == before
    send_all(maybe_fine)

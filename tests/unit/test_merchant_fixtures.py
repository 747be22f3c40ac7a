"""Fixtures and page helpers shared by the till's tests: cards made by the domain, and a till
that fills and sends the forms a page hands out, as a browser without JavaScript would."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.ledger import Actor
from portal.models import Merchant, Transaction, User, utcnow
from portal.money import Money
from tests.conftest import PASSWORD, AuthActions


def make_card(app, amount: str = "10.00", *, merchant: str | None = None, owner: str | None = None,
              status: str = "active", expired: bool = False, currency: str = "USD") -> str:
    """Issue a card through the domain and return its full code; ``merchant`` scopes it by slug."""
    from portal.cards.operations import issue_card
    from portal.services import services

    with app.app_context():
        scope = db.session.scalar(sa.select(Merchant).where(Merchant.slug == merchant)) if merchant else None
        person = db.session.scalar(sa.select(User).where(User.email == owner)) if owner else None
        issued = issue_card(
            db.session, services().vault, amount=Money.parse(amount, currency), actor=Actor(),
            idempotency_key=uuid.uuid4().hex, owner=person, merchant=scope, scope_to_merchant=scope is not None,
        )
        issued.card.status = status
        if expired:
            issued.card.expires_at = utcnow() - timedelta(days=1)
        db.session.commit()
        return issued.code


def balance(app, code: str) -> str:
    """A card's balance now, read from the database."""
    from portal.cards.lookup import find_card
    from portal.services import services

    with app.app_context():
        card = find_card(db.session, code, services().vault, services().qr)
        return str(Money(card.account.balance, card.currency))


def count(app, kind: str) -> int:
    """How many ledger transactions of a kind exist."""
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Transaction).where(Transaction.kind == kind))


def add_merchant(app, slug: str, name: str, staff: str | None = None, **rules) -> None:
    """Another store, with one staff member if named."""
    from portal.auth.users import create_user
    from portal.merchants import create_merchant

    with app.app_context():
        merchant = create_merchant(db.session, slug, name, **rules)
        if staff:
            create_user(db.session, staff, PASSWORD, role="merchant", merchant=merchant, name=slug)
        db.session.commit()


def set_merchant(app, slug: str, **values) -> None:
    with app.app_context():
        merchant = db.session.scalar(sa.select(Merchant).where(Merchant.slug == slug))
        for name, value in values.items():
            setattr(merchant, name, value)
        db.session.commit()


# --- Reading pages -------------------------------------------------------------------------------


def text(html: str) -> str:
    """The page's words with tags and extra spaces removed, as a person reads them."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'")


@dataclass
class Form:
    action: str
    fields: dict[str, str]


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._form = Form(attrs.get("action", ""), {})
            self.forms.append(self._form)
        elif self._form is not None and tag == "input" and attrs.get("name"):
            self._form.fields[attrs["name"]] = attrs.get("value") or ""
        elif self._form is not None and tag == "textarea" and attrs.get("name"):
            self._textarea = attrs["name"]
            self._form.fields[self._textarea] = ""

    def handle_data(self, data):
        if self._form is not None and self._textarea:
            self._form.fields[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "textarea":
            self._textarea = None


def forms_of(html: str) -> list[Form]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


class Till:
    """A staff member at the checkout, sending the forms each answer hands back."""

    def __init__(self, client, htmx: bool = True):
        self.client = client
        self.htmx = htmx
        self.html = ""
        self.response = None

    def open(self, path: str = "/till/"):
        self.response = self.client.get(path)
        self.html = self.response.get_data(as_text=True)
        return self.response

    def form(self, action: str) -> Form:
        matches = [f for f in forms_of(self.html) if f.action == action]
        assert matches, f"no form posting to {action} on the page"
        return matches[0]

    def send(self, action: str, **values):
        """Post the form with this action as the page has it, with some fields filled in."""
        fields = {**self.form(action).fields, **values}
        headers = {"HX-Request": "true"} if self.htmx else {}
        self.response = self.client.post(action, data=fields, headers=headers)
        self.html = self.response.get_data(as_text=True)
        return self.response

    def look_up(self, code: str, total: str | None = None):
        values = {"code": code}
        if total is not None:
            values["total"] = total
        return self.send("/till/lookup", **values)

    def apply(self, amount: str | None = None):
        return self.send("/till/apply", **({"amount": amount} if amount is not None else {}))


def pay(till: Till, code: str, total: str) -> int:
    """Take a card payment at the till and return its transaction number."""
    till.open()
    till.look_up(code, total=total)
    till.apply()
    return int(re.search(r"/till/transactions/(\d+)/undo", till.html).group(1))


@pytest.fixture
def staff(client, people):
    """The signed-in staff member of corner-cafe."""
    AuthActions(client).login(people["merchant"])
    return client


@pytest.fixture
def till(staff):
    return Till(staff)

"""The attacker's view of the portal: people and cards on PostgreSQL, reached over HTTP through
gunicorn (4 workers) with Redis, as in production (DESIGN §7)."""

from __future__ import annotations

import html
import re
import threading
import uuid
from dataclasses import dataclass, field

import pytest
import requests
import sqlalchemy as sa

from portal.auth.users import create_user
from portal.cards import operations
from portal.extensions import db
from portal.ledger import SYSTEM, verify
from portal.merchants import create_merchant
from portal.models import GiftCard, Transaction, User
from portal.money import Money
from portal.services import services
from portal.tokens import create_token
from tests.conftest import PASSWORD

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
HIDDEN = re.compile(r'<input[^>]*type="hidden"[^>]*>')
ATTRIBUTE = re.compile(r'(name|value)="([^"]*)"')


def hidden_fields(page: str) -> dict[str, str]:
    """The hidden fields a page's forms carry (CSRF token, the till's sale), as a browser sends them."""
    tags = (dict(ATTRIBUTE.findall(tag)) for tag in HIDDEN.findall(page))
    return {tag["name"]: html.unescape(tag.get("value", "")) for tag in tags if "name" in tag}


class Visitor:
    """One browser's worth of cookies against a server, acting by pages and forms."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.http = requests.Session()

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(self.base_url + path, timeout=30, allow_redirects=False, **kwargs)

    def csrf(self, path: str = "/signin") -> str:
        match = CSRF_META.search(self.get(path).text)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def submit(self, path: str, data: dict, *, page: str | None = None, **kwargs) -> requests.Response:
        """Post a form with the CSRF token its page hands out."""
        token = self.csrf(page or path)
        return self.http.post(
            self.base_url + path, data={**data, "csrf_token": token}, timeout=30, allow_redirects=False, **kwargs
        )

    def sign_in(self, email: str, password: str = PASSWORD) -> requests.Response:
        response = self.submit("/signin", {"email": email, "password": password})
        assert response.status_code == 302, response.text
        return response


@dataclass
class Stack:
    """The running portal and the people in it."""

    url: str
    app: object
    tokens: dict[str, str] = field(default_factory=dict)

    def visitor(self) -> Visitor:
        return Visitor(self.url)

    def token(self, email: str) -> str:
        """An API token of this user (one per user, made on first use)."""
        if email not in self.tokens:
            with self.app.app_context():
                user = db.session.scalar(sa.select(User).where(User.email == email))
                self.tokens[email] = create_token(db.session, user, f"token {len(self.tokens)}")[1]
                db.session.commit()
        return self.tokens[email]

    def api(self, email: str, method: str, path: str, *, key: str | None = None, session=None, **kwargs):
        """Call the API as this user; writes carry an Idempotency-Key (a fresh one unless given)."""
        headers = {"Authorization": f"Bearer {self.token(email)}"}
        if method != "GET":
            headers["Idempotency-Key"] = key or uuid.uuid4().hex
        return (session or requests).request(method, f"{self.url}/api/v1{path}", headers=headers, timeout=60, **kwargs)

    def card(self, amount: str, *, currency: str = "USD", owner: str | None = None, **options) -> tuple[int, str]:
        """Issue a card straight in the domain; returns (id, full code)."""
        with self.app.app_context():
            user = db.session.scalar(sa.select(User).where(User.email == owner)) if owner else None
            issued = operations.issue_card(
                db.session, services().vault, amount=Money.parse(amount, currency), actor=SYSTEM,
                idempotency_key=f"seed-{uuid.uuid4().hex}", owner=user, **options,
            )
            db.session.commit()
            return issued.card.id, issued.code

    def balance(self, card_id: int) -> int:
        with self.app.app_context():
            return db.session.get(GiftCard, card_id).account.balance

    def count(self, model, *where) -> int:
        with self.app.app_context():
            return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))

    def transactions(self, kind: str) -> int:
        return self.count(Transaction, Transaction.kind == kind)

    def together(self, count: int, call) -> list:
        """Run ``call(session, i)`` on ``count`` threads, each with its own HTTP connection,
        released at the same instant by a barrier. gunicorn speaks HTTP/1.1 only, so the barrier
        is the release (a single-packet HTTP/2 burst does not apply)."""
        barrier = threading.Barrier(count)
        results: list = [None] * count

        def run(i):
            with requests.Session() as session:
                # Connect first, so the barrier releases requests rather than TCP handshakes.
                session.get(f"{self.url}/healthz", timeout=30)
                barrier.wait(timeout=60)
                try:
                    results[i] = call(session, i)
                except Exception as error:  # noqa: BLE001 - reported by the test's assertion
                    results[i] = error

        threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads)
        return results

    def verify(self) -> list[str]:
        """What `portal ledger verify` reports (nothing when the ledger is sound)."""
        with self.app.app_context():
            return verify(db.session)


CUSTOMERS = ("cara@example.com", "dan@example.com")
STAFF = {"corner-cafe": "staff@corner-cafe.test", "book-nook": "staff@book-nook.test"}
ADMIN = "admin@example.com"


def seed_people(app) -> None:
    """Two customers, two merchants with one staff member each, and an admin."""
    with app.app_context():
        for slug, email in STAFF.items():
            merchant = create_merchant(db.session, slug, slug.replace("-", " ").title())
            create_user(db.session, email, PASSWORD, role="merchant", merchant=merchant)
        for email in CUSTOMERS:
            create_user(db.session, email, PASSWORD, name=email.split("@")[0].title())
        create_user(db.session, ADMIN, PASSWORD, role="admin", name="Ada")
        db.session.commit()


@pytest.fixture
def stack(pg_app, gunicorn_server) -> Stack:
    """gunicorn with 4 workers on PostgreSQL and Redis, with the people of ``seed_people``."""
    seed_people(pg_app)
    return Stack(gunicorn_server, pg_app)


# Rows a refused request may still write: the lock-out it earned, the refusal an Idempotency-Key
# replays (DESIGN §5), when a token or person was last seen, and an event's place in the feed
# (numbered when first read).
BOOKKEEPING_TABLES = {"security_events", "idempotency_records"}
BOOKKEEPING_COLUMNS = {"last_used_at", "last_signed_in_at", "events.position"}


def database_state(app) -> dict:
    """Every row of every table, but for bookkeeping: what a refused request must leave as it was."""
    with app.app_context():
        state = {}
        for table in db.metadata.sorted_tables:
            if table.name in BOOKKEEPING_TABLES:
                continue
            columns = [c for c in table.columns if not {c.name, f"{table.name}.{c.name}"} & BOOKKEEPING_COLUMNS]
            state[table.name] = db.session.execute(sa.select(*columns).order_by(*table.primary_key.columns)).all()
        db.session.remove()
        return state

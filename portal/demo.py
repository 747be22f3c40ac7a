"""Demo data for ``portal demo``: idempotent, so it can run on every start."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.auth.users import create_user
from portal.merchants import create_merchant
from portal.models import Merchant, User

DEMO_PASSWORD = "giftloop-demo"
MERCHANTS = [
    ("corner-cafe", "Corner Café", {"loops_per_unit": 10}),
    ("book-nook", "The Book Nook", {"loops_per_unit": 5, "conversion_rate": 90, "sells_network_cards": True}),
]
USERS = [
    ("admin@giftloop.test", "admin", None, "Ada Admin"),
    ("staff@corner-cafe.test", "merchant", "corner-cafe", "Sam at Corner Café"),
    ("staff@book-nook.test", "merchant", "book-nook", "Bea at The Book Nook"),
    ("alice@giftloop.test", "customer", None, "Alice"),
    ("bob@giftloop.test", "customer", None, "Bob"),
]


def load_demo(session: Session) -> Iterator[str]:
    """Create what is missing of the demo; report each thing created."""
    merchants = {}
    for slug, name, rules in MERCHANTS:
        merchant = session.scalar(sa.select(Merchant).where(Merchant.slug == slug))
        if merchant is None:
            merchant = create_merchant(session, slug, name, "USD", **rules)
            yield f"merchant {slug}"
        merchants[slug] = merchant
    for email, role, slug, name in USERS:
        if session.scalar(sa.select(User.id).where(User.email == email)) is None:
            create_user(session, email, DEMO_PASSWORD, role=role, name=name, merchant=merchants.get(slug))
            yield f"{role} {email} / {DEMO_PASSWORD}"

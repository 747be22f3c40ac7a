"""Fixtures of the unit tier: a signed-in till, admin and customer, and the outbox with an app
context held open."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.extensions import db
from tests.conftest import PASSWORD, AuthActions
from tests.pages import Till


@pytest.fixture
def staff(client, people):
    """The signed-in staff member of corner-cafe."""
    AuthActions(client).login(people["merchant"])
    return client


@pytest.fixture
def admin(client, auth, people):
    """The admin from ``people``, signed in; the client."""
    auth.login(people["admin"])
    return client


@pytest.fixture
def cara(client, auth, people):
    """The customer from ``people``, signed in; her e-mail address."""
    auth.login(people["customer"])
    return people["customer"]


@pytest.fixture
def till(staff):
    return Till(staff)


@pytest.fixture
def outbox_dir(app) -> Path:
    """Where e-mail is written as .eml files on the embedded default (no SMTP)."""
    return Path(app.config["OUTBOX_DIR"])


@pytest.fixture
def mail_app(app):
    """The app with its context held open for the whole test."""
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def customer(mail_app):
    """Cara, a customer, committed."""
    from portal.auth.users import create_user

    user = create_user(db.session, "cara@example.com", PASSWORD, role="customer", name="Cara")
    db.session.commit()
    return user

"""Passwords as the running server stores them (DESIGN §7: Argon2id, OWASP ≥ 19 MiB, t ≥ 2)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import User
from tests.conftest import signup_link

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_a_password_set_through_the_server_is_stored_as_argon2id_at_the_owasp_cost(stack):
    """Sign up through gunicorn (production settings): is the stored hash $argon2id$ with m ≥ 19456 KiB and t ≥ 2?"""
    visitor = stack.visitor()
    password = "a quite long passphrase"
    response = visitor.submit("/signup", {"name": "Eve", "email": "eve@example.com", "password": password, "confirm": password})
    assert response.status_code == 302, response.text
    link = signup_link(stack.app, "eve@example.com")
    assert visitor.submit(link, {}).status_code == 302
    with stack.app.app_context():
        stored = db.session.scalar(sa.select(User.password_hash).where(User.email == "eve@example.com"))
    match = re.fullmatch(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+", stored)
    assert match, stored
    memory, time_cost, _ = map(int, match.groups())
    assert memory >= 19 * 1024 and time_cost >= 2
    assert password not in stored
    stack.visitor().sign_in("eve@example.com", password)  # and it verifies

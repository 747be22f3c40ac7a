"""Input no database can hold (found by schemathesis): refused with a problem document that says
why, never a server error, and nothing changed."""

from __future__ import annotations

import uuid

import pytest

from tests.api import state
from tests.factories import make_card


def raw_post(api, path: str, text: str, role: str = "merchant"):
    """Post a body as written: JSON escapes such as \\u0000 reach the server untouched."""
    headers = {"Authorization": f"Bearer {api.tokens[role]}", "Idempotency-Key": str(uuid.uuid4()),
               "Content-Type": "application/json"}
    return api.client.post(f"/api/v1{path}", data=text, headers=headers)


def test_text_with_half_a_surrogate_pair_is_refused_and_changes_nothing(app, api):
    code = make_card(app, "20.00")
    before = state(app)
    response = raw_post(api, "/cards/redeem", rf'{{"code": "{code}", "amount": "5.00", "reference": "order \udabe"}}')
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert response.json["code"] == "validation_error"
    assert response.json["detail"].startswith("Text in the body must be valid Unicode")
    assert state(app) == before


def test_a_nul_even_deep_inside_a_list_is_a_bad_request_and_creates_nothing(app, api):
    body = r'{"code": "SAVE1", "discount_type": "percent", "discount_value": "1", "max_uses": 1, "merchants": ["a\u0000"]}'
    response = raw_post(api, "/coupons", body, role="admin")
    assert response.status_code == 400 and response.json["code"] == "bad_request"
    assert api.get("/coupons/1", role="admin").status_code == 404


@pytest.mark.parametrize(("method", "path", "role"), [
    ("POST", "/me/cards/302153432443639981670400/transfer", "customer"),
    ("GET", "/coupons/9223372036854775808", "admin"),
    ("POST", "/transactions/99999999999999999999/reverse", "merchant"),
])
def test_an_id_beyond_the_databases_range_is_not_found(api, method, path, role):
    headers = {"Authorization": f"Bearer {api.tokens[role]}", "Idempotency-Key": str(uuid.uuid4())}
    response = api.client.open(f"/api/v1{path}", method=method, json={"reason": "x"}, headers=headers)
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert response.json["code"] == "not_found"

"""Per-token rate limits (issue 8): past its limit a token gets 429 with Retry-After, nothing runs,
and every other token goes on as before."""

from __future__ import annotations

import uuid

import pytest

from portal.extensions import db
from portal.models import IdempotencyRecord, User
from portal.tokens import create_token
from tests.api import state
from tests.conftest import make_app
from tests.factories import make_card


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def token_for(app, email: str, **kwargs) -> str:
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.email == email))
        token = create_token(db.session, user, "limited", **kwargs)[1]
        db.session.commit()
        return token


def test_past_its_own_limit_a_token_is_refused_and_another_is_not(app, api, people):
    """Does a token with a limit of 3 get its 4th call refused, while the user's other token works?"""
    limited = token_for(app, people["merchant"], rate_limit=3)
    client = app.test_client()
    answers = [client.get("/api/v1/me", headers=bearer(limited)) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].headers["RateLimit-Policy"] == '"token";q=3;w=60'
    assert [a.headers["RateLimit"].split(";")[1] for a in answers] == ["r=2", "r=1", "r=0"]
    refused = client.get("/api/v1/me", headers=bearer(limited))
    assert refused.status_code == 429 and refused.mimetype == "application/problem+json"
    assert refused.json["code"] == "rate_limited" and "3 requests in 60 seconds" in refused.json["detail"]
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit"].startswith('"token";r=0;t=')
    # The same user's other token, and other users' tokens, have their own count.
    assert client.get("/api/v1/me", headers=bearer(api.tokens["merchant"])).status_code == 200
    assert client.get("/api/v1/me", headers=bearer(api.tokens["customer"])).status_code == 200


def test_a_write_refused_by_the_limit_changes_nothing_and_runs_later_under_its_key(app, api, people):
    """Is a refused redemption not charged and not remembered, so the till can retry it with the same key?"""
    code = make_card(app, "20.00")
    limited = token_for(app, people["merchant"], rate_limit=1)
    client = app.test_client()
    assert client.get("/api/v1/me", headers=bearer(limited)).status_code == 200
    before = state(app)
    key = str(uuid.uuid4())
    refused = client.post("/api/v1/cards/redeem", json={"code": code, "amount": "5.00"},
                          headers={**bearer(limited), "Idempotency-Key": key})
    assert refused.status_code == 429 and refused.json["code"] == "rate_limited"
    assert state(app) == before
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(IdempotencyRecord.id))) == 0
    app.extensions["api_limiter"].reset()  # the minute is over
    done = client.post("/api/v1/cards/redeem", json={"code": code, "amount": "5.00"},
                       headers={**bearer(limited), "Idempotency-Key": key})
    assert done.status_code == 200 and done.json["card"]["balance"] == "15.00"


def test_the_default_limit_comes_from_the_settings(app, api):
    app.config["API_RATE_LIMIT"] = 2
    client = app.test_client()
    codes = [client.get("/api/v1/me/cards", headers=bearer(api.tokens["customer"])).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_refused_calls_count_too_and_the_public_document_does_not(app, api):
    """Do calls the role guard refuses count (no free probing), while the public document never does?"""
    app.config["API_RATE_LIMIT"] = 2
    client = app.test_client()
    assert client.get("/api/v1/me/cards", headers=bearer(api.tokens["merchant"])).status_code == 403
    assert client.get("/api/v1/me", headers=bearer(api.tokens["merchant"])).status_code == 200
    for _ in range(3):
        assert client.get("/api/v1/openapi.json", headers=bearer(api.tokens["merchant"])).status_code == 200
    assert client.get("/api/v1/me", headers=bearer(api.tokens["merchant"])).status_code == 429


def test_with_redis_down_two_app_processes_still_share_one_count(tmp_path):
    """With Redis unreachable, do two app servers count a token's calls together in the database
    (not each its own limit, which would multiply it by the number of workers)?"""
    _assert_two_processes_share_one_count(f"sqlite:///{tmp_path / 'down.db'}", "redis://127.0.0.1:1/0")


def _assert_two_processes_share_one_count(database: str, redis_url: str) -> None:
    """Two apps on one database and one Redis URL: a token's fourth call, whichever app takes it,
    meets the limit of three."""
    first, second = (make_app(database, REDIS_URL=redis_url, API_RATE_LIMIT=3) for _ in range(2))
    with first.app_context():
        db.create_all()
    token = _customer_token(first)
    a, b = first.test_client(), second.test_client()
    codes = [client.get("/api/v1/me", headers=bearer(token)).status_code for client in (a, b, a, b)]
    assert codes == [200, 200, 200, 429]
    for app in (first, second):
        with app.app_context():
            db.engine.dispose()


def _customer_token(app) -> str:
    from portal.auth.users import create_user

    with app.app_context():
        user = create_user(db.session, "solo@example.com", "correct horse battery", role="customer")
        token = create_token(db.session, user, "solo")[1]
        db.session.commit()
        return token


@pytest.mark.redis
def test_two_app_processes_share_one_count_in_redis(tmp_path, redis_url):
    """Do two app servers on one Redis count a token's calls together (not twice the limit)?"""
    _assert_two_processes_share_one_count(f"sqlite:///{tmp_path / 'shared.db'}", redis_url)

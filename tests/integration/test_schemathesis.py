"""Schemathesis against the served OpenAPI document (issue 8), on the production stack: gunicorn,
PostgreSQL and Redis. Every operation gets generated requests, valid ones and ones that break the
document's rules (a dropped header or token, a wrong type), sent with a merchant's, a customer's and
an admin's token; no answer may be a server error or fall outside the document (status code,
content type, headers, body schema). About a minute for 15 examples per operation and mode.

Generated codes rarely name a real card, so each request is also sent once more with a real card's
id in its path or code in its body, which reaches the answers of a found card (and its refusals)."""

from __future__ import annotations

from collections import Counter

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks
from schemathesis.core.failures import FailureGroup

from portal.auth.users import create_user
from portal.cards import operations
from portal.extensions import db
from portal.ledger import Actor
from portal.merchants import create_merchant
from portal.money import Money
from portal.services import services
from portal.tokens import create_token

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ROLES = ("merchant", "customer", "admin")
# A token's own limit, far above what this run sends: the limit itself is tested in test_api_rate_limits.
UNLIMITED = 1_000_000
EXAMPLES_PER_OPERATION = 15
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture
def seeded(pg_app, redis_url) -> dict:
    """A merchant with staff, a customer with a card, an admin; their tokens; a bearer card's code."""
    with pg_app.app_context():
        cafe = create_merchant(db.session, "corner-cafe", "Corner Café")
        people = {
            "merchant": create_user(db.session, "staff@example.com", "a long password", role="merchant", merchant=cafe),
            "customer": create_user(db.session, "customer@example.com", "a long password", role="customer"),
            "admin": create_user(db.session, "admin@example.com", "a long password", role="admin"),
        }
        tokens = {role: create_token(db.session, user, "schemathesis", rate_limit=UNLIMITED)[1] for role, user in people.items()}
        owned = operations.issue_card(
            db.session, services().vault, amount=Money.parse("500.00", "USD"), actor=Actor(), idempotency_key="seed-owned",
            owner=people["customer"],
        )
        bearer = operations.issue_card(
            db.session, services().vault, amount=Money.parse("500.00", "USD"), actor=Actor(), idempotency_key="seed-bearer",
        )
        db.session.commit()
        found = {"tokens": tokens, "code": bearer.code, "card_id": owned.card.id}
    client = redis.Redis.from_url(redis_url)
    yield {**found, "redis": client}
    client.close()


def lift_guess_lock(client: redis.Redis) -> None:
    for key in client.scan_iter("giftloop:throttle:guess:*"):
        client.delete(key)


def send(case, base_url: str, seeded: dict, answers: Counter, mode: GenerationMode) -> None:
    """The request with each role's token, and again with a real card's id in the path or (for the
    card endpoints, which take codes only in the body) its code in the body; each answer checked.

    Generated codes soon lock this machine out for guessing (429, documented); before a real card's
    turn the lock is lifted, so its answers are reached too."""
    generated = (dict(case.path_parameters or {}), case.body)
    variants = [generated]
    if "card_id" in generated[0]:
        variants.append(({**generated[0], "card_id": seeded["card_id"]}, case.body))
    if case.operation.path.startswith("/cards") and isinstance(case.body, dict) and "code" in case.body:
        variants.append((generated[0], {**case.body, "code": seeded["code"]}))
    for role in ROLES:
        headers = {"Authorization": f"Bearer {seeded['tokens'][role]}"}
        for n, (path_parameters, body) in enumerate(variants):
            if n:  # a real card's turn
                lift_guess_lock(seeded["redis"])
            case.path_parameters, case.body = path_parameters, body
            response = case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)
            answers[(mode, case.operation.label, role, response.status_code)] += 1


def test_every_answer_is_in_the_document(gunicorn_server, seeded):
    """Does any generated request, valid or not, from any role, get a 5xx or an answer the document does not describe?"""
    schema = schemathesis.openapi.from_url(f"{gunicorn_server}/api/v1/openapi.json")
    base_url = f"{gunicorn_server}/api/v1"
    failures, answers = [], Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case):
                send(case, base_url, seeded, answers, mode)

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # nothing in the request to get wrong
            except (Exception, FailureGroup) as error:  # noqa: BLE001 - every operation is tried; all faults are listed at the end
                failures.append(f"{operation.label} ({mode.value}): {error}")
    assert not failures, "\n\n".join(failures)
    # Valid requests reached the API as each role (no token refused; negative ones may drop it)
    # and a real card's answers.
    positive = GenerationMode.POSITIVE
    assert not [key for key in answers if key[0] is positive and key[3] == 401]
    assert all(answers[(positive, "GET /me", role, 200)] for role in ROLES)
    assert answers[(positive, "POST /cards/lookup", "merchant", 200)]
    assert answers[(positive, "GET /me/cards", "customer", 200)]

"""Guessing codes and passwords through the real stack (OWASP OAT-002, DESIGN §7): a thousand tries,
ten at a time, get at most the budget's failures (an account's 10, an address's 100) before every
answer is 429, and with Redis down the budgets stay global across the 4 gunicorn workers."""

from __future__ import annotations

import concurrent.futures
from collections import Counter

import pytest
import redis
import requests

from portal.cards.codes import generate_card_code
from portal.extensions import db
from portal.models import SecurityEvent, User
from portal.tokens import create_token
from tests.conftest import REDIS_URL, serve_gunicorn
from tests.security.conftest import ADMIN, CUSTOMERS, STAFF, Stack, Visitor, hidden_fields, seed_people

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

TRIES = 1000
AT_ONCE = 10  # a guesser does not wait for one answer before sending the next
LIMIT = 10  # failures per account
ADDRESS_LIMIT = 100  # per address: what a visitor without an account gets
WINDOW = 15 * 60
CLOSED_PORT = "redis://127.0.0.1:1/0"  # Redis down: nothing listens there


def hammer(send, tries: int = TRIES) -> Counter:
    """Send ``tries`` guesses, AT_ONCE in flight; count the statuses and check every lock-out's Retry-After."""
    def one(_):
        response = send(generate_card_code())
        if response.status_code == 429:
            assert 0 < int(response.headers["Retry-After"]) <= WINDOW
        return response.status_code

    with concurrent.futures.ThreadPoolExecutor(AT_ONCE) as pool:
        return Counter(pool.map(one, range(tries)))


def fresh_counters() -> None:
    """Forget every failure counted so far: each channel starts from nothing."""
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()


class FormSender:
    """Posts one form again and again with the hidden fields its page hands out (the CSRF token,
    the till's sale), as a script would."""

    def __init__(self, visitor: Visitor, path: str, page: str, **fields):
        self.visitor, self.path = visitor, path
        self.fields = {**hidden_fields(visitor.get(page).text), **fields}

    def __call__(self, code: str):
        data = {**self.fields, "code": code}
        return self.visitor.http.post(self.visitor.base_url + self.path, data=data, timeout=30, allow_redirects=False)


def channels(stack) -> dict:
    stack.token(STAFF["corner-cafe"])  # made once, before the guesses run in parallel
    customer = stack.visitor()
    customer.sign_in(CUSTOMERS[0])
    till = stack.visitor()
    till.sign_in(STAFF["corner-cafe"])
    return {
        "public balance page": FormSender(stack.visitor(), "/balance", "/balance"),
        "customer redeem": FormSender(customer, "/wallet/redeem", "/wallet/redeem"),
        "merchant look-up": FormSender(till, "/till/lookup", "/till/", total="5.00"),
        "API look-up": lambda code: stack.api(STAFF["corner-cafe"], "POST", "/cards/lookup", json={"code": code}),
    }


def failures(statuses: Counter) -> int:
    return sum(n for status, n in statuses.items() if status != 429)


def test_a_thousand_guessed_codes_get_at_most_a_budget_of_failures_on_every_channel(stack):
    """On each channel, of 1,000 codes with valid check characters, are all but a budget refused
    with 429: the account's 10 when signed in, the address's 100 on the public page?"""
    _, real = stack.card("25.00")
    for name, send in channels(stack).items():
        fresh_counters()
        statuses = hammer(send)
        assert set(statuses) <= {404, 422, 429}, (name, statuses)
        assert failures(statuses) <= (ADDRESS_LIMIT if name == "public balance page" else LIMIT), (name, statuses)
        assert send(real).status_code == 429, f"{name}: a real code must wait too"
    events = stack.count(SecurityEvent, SecurityEvent.kind == "code_guessing_locked")
    assert events >= 4


def test_sign_in_guessing_is_limited_and_admins_see_the_lock_outs(stack):
    """1,000 passwords tried for one account: at most ten are checked; the lock-out is on the admin overview."""
    guesser = stack.visitor()
    token = guesser.csrf("/signin")

    def guess(password):
        return guesser.http.post(
            f"{stack.url}/signin", data={"email": CUSTOMERS[1], "password": password, "csrf_token": token},
            timeout=30, allow_redirects=False,
        )

    statuses = hammer(guess)
    assert statuses[401] <= LIMIT and statuses[429] >= TRIES - LIMIT, statuses
    assert guess("correct horse battery").status_code == 429  # even the right password waits

    admin = stack.visitor()
    admin.sign_in(ADMIN)
    overview = admin.get("/admin/").text
    assert "signin_locked" in overview and f"email:{CUSTOMERS[1]}" in overview


def test_with_redis_down_the_budgets_stay_global_and_staff_still_redeem(pg_app, pg_url):
    """With Redis unreachable under 4 gunicorn workers, does an account still get at most its 10
    failures (not 10 per worker), a token at most its rate limit, and do staff redemptions work?"""
    seed_people(pg_app)
    with serve_gunicorn(pg_url, CLOSED_PORT) as url:
        stack = Stack(url, pg_app)
        customer = stack.visitor()
        customer.sign_in(CUSTOMERS[0])
        statuses = hammer(FormSender(customer, "/wallet/redeem", "/wallet/redeem"), tries=100)
        assert failures(statuses) <= LIMIT and statuses[429] >= 100 - LIMIT, statuses
        # The same account's API token spends the same budget.
        assert stack.api(CUSTOMERS[0], "POST", "/me/redeem", json={"code": generate_card_code()}).status_code == 429

        card_id, code = stack.card("25.00")
        paid = stack.api(STAFF["corner-cafe"], "POST", "/cards/redeem", json={"code": code, "amount": "5.00"})
        assert paid.status_code == 200, paid.text
        assert stack.balance(card_id) == 2000

        limited = limited_token(stack, STAFF["book-nook"], rate_limit=20)
        calls = hammer(lambda _: requests.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {limited}"}, timeout=30),
                       tries=80)
        assert calls[200] == 20 and calls[429] == 60, calls


def limited_token(stack: Stack, email: str, *, rate_limit: int) -> str:
    with stack.app.app_context():
        user = db.session.scalar(db.select(User).where(User.email == email))
        token = create_token(db.session, user, "limited", rate_limit=rate_limit)[1]
        db.session.commit()
        return token

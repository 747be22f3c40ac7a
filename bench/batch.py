"""Figures 4 and 5: bulk code generation and the expiry sweep, timed in-process on the bench database.

Generation goes through the real job (``request_generation`` then ``run_job``): random codes
drawn, hashed, encrypted and inserted in batches. The sweep runs ``run_expiry`` (reminders, then
expiry of every due card) over a million cards laid down by SQL, ``due`` of them past their date.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import timedelta

import sqlalchemy as sa
from flask_migrate import upgrade

from bench import stage
from portal import create_app
from portal.auth.users import create_user
from portal.campaigns.definitions import create_campaign, read_spec
from portal.campaigns.generation import request_generation
from portal.campaigns.jobs import run_job
from portal.extensions import db
from portal.jobs.sweeps import run_expiry
from portal.ledger import Actor, system_account
from portal.models import User, utcnow
from portal.services import services

# A million cards for the sweep, with what a real card has: code, account, the issue transaction.
_SWEEP_CARDS = """
INSERT INTO codes (lookup_hash, ciphertext, masked, created_at)
SELECT md5(:tag || i), decode('00', 'hex'), 'GC-••••-••••-••••-SWEP-0', :now FROM generate_series(1, :count) AS i;
INSERT INTO accounts (key, kind, currency, balance, created_at)
SELECT (:tag || i), 'card', 'USD', 500, :now FROM generate_series(1, :count) AS i;
INSERT INTO gift_cards (code_id, account_id, owner_id, currency, status, kind, expires_at, created_at)
SELECT c.id, a.id, CASE WHEN mod(i, 10) = 0 THEN :owner END, 'USD', 'active', 'promotional',
       CASE WHEN i <= CAST(:due AS integer) * :groups THEN CAST(:first_due AS timestamptz) + ((i - 1) / CAST(:due AS integer)) * interval '1 hour'
            ELSE CAST(:now AS timestamptz) + interval '300 days' END,
       :now
FROM generate_series(1, :count) AS i
JOIN codes c ON c.lookup_hash = md5(:tag || i) JOIN accounts a ON a.key = (:tag || i);
INSERT INTO ledger_transactions (kind, actor, idempotency_key, card_id, memo, created_at)
SELECT 'issue', 'system', 'issue:' || :tag || g.id, g.id, 'bench', :now
FROM gift_cards g JOIN accounts a ON a.id = g.account_id WHERE a.key LIKE :tag || '%';
INSERT INTO ledger_entries (transaction_id, account_id, amount, currency)
SELECT t.id, g.account_id, 500, 'USD' FROM ledger_transactions t JOIN gift_cards g ON g.id = t.card_id
WHERE t.idempotency_key LIKE 'issue:' || :tag || '%';
INSERT INTO ledger_entries (transaction_id, account_id, amount, currency)
SELECT t.id, :promotions, -500, 'USD' FROM ledger_transactions t WHERE t.idempotency_key LIKE 'issue:' || :tag || '%';
UPDATE accounts SET balance = balance - 500 * :count WHERE id = :promotions;
ANALYZE;
"""


def credit_campaign(session, admin_email: str, name: str, prefix: str, count: int):
    """A new credit campaign of 5.00 USD with random codes, and its job to generate ``count`` of
    them, as the admin asks for them (committed; the job not yet run). Returns (campaign, job, actor)."""

    actor = Actor(user_id=session.scalar(sa.select(User.id).where(User.email == admin_email)))
    spec = read_spec(session, {
        "name": name, "kind": "credit", "currency": "USD", "value": "5.00", "code_mode": "random",
        "code_prefix": prefix,
    })
    campaign = create_campaign(session, services().vault, spec, actor=actor)
    job = request_generation(session, campaign, count, actor=actor)
    session.commit()
    return campaign, job, actor


def generate_codes(app, count: int, admin_email: str) -> float:
    """Seconds to generate ``count`` random codes for one new credit campaign, end to end."""

    with app.app_context():
        session = db.session
        _, job, _ = credit_campaign(session, admin_email, f"Bench codes {time.time_ns()}", "SPRING", count)
        started = time.perf_counter()
        run_job(job.id)
        elapsed = time.perf_counter() - started
        session.refresh(job)
        if job.status != "finished" or job.done != count:
            raise SystemExit(f"generation ended {job.status} with {job.done} of {count}: {job.error}")
        return elapsed


def lay_sweep_cards(app, count: int, due: int, groups: int, owner_email: str) -> list:
    """``count`` cards of 5.00; ``due`` of them expire in each of ``groups`` consecutive hours.

    Returns the moment to sweep at for each group (just after its hour), so each sweep finds
    ``due`` cards due among ``count``.
    """

    now = utcnow()
    first_due = now - timedelta(days=2)
    with app.app_context():
        session = db.session
        owner = session.scalar(sa.select(User.id).where(User.email == owner_email))
        promotions = system_account(session, "promotions", "USD").id
        params = dict(
            now=now, count=count, due=due, groups=groups, first_due=first_due, owner=owner, promotions=promotions,
            tag=f"sweep:{time.time_ns()}:",
        )
        for statement in filter(str.strip, _SWEEP_CARDS.split(";")):
            session.execute(sa.text(statement), {k: v for k, v in params.items() if f":{k}" in statement})
        session.commit()
    return [first_due + timedelta(hours=n, minutes=30) for n in range(groups)]


def sweep(app, at) -> tuple[float, int]:
    """Seconds for one expiry sweep as of ``at``, and how many cards it expired."""

    with app.app_context():
        started = time.perf_counter()
        result = run_expiry(at)
        return time.perf_counter() - started, result["expired"]


def main() -> None:
    """Figure 5 alone, on the bench's database (built afresh): ``python -m bench.batch --cards 1000000``."""

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--cards", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    stage.fresh_database()
    redis_server = stage.start_redis()  # the owners' notices are relayed to it, as in production
    try:
        os.environ.update(stage.environment())


        app = create_app()
        with app.app_context():
            upgrade()
            create_user(db.session, stage.PEOPLE["customer"], stage.PASSWORD, role="customer", name="Cara")
            db.session.commit()
        moments = lay_sweep_cards(app, args.cards, args.due, args.repeat, stage.PEOPLE["customer"])
        for at in moments:
            seconds, expired = sweep(app, at)
            print(f"sweep of {args.cards:,} cards, {expired:,} due: {seconds:.1f} s (load {os.getloadavg()[0]:.1f})")
    finally:
        redis_server.terminate()
        redis_server.wait(timeout=10)


if __name__ == "__main__":
    main()

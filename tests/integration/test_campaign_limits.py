"""Usage limits under a burst on PostgreSQL: a limit of N stops at exactly N (DESIGN §2, campaigns)."""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import pytest

from portal.auth.users import create_user
from portal.campaigns import redeem_code, redeem_coupon
from portal.campaigns.definitions import create_campaign, read_spec
from portal.errors import DomainError
from portal.extensions import db
from portal.ledger import Actor, verify
from portal.merchants import create_merchant
from portal.models import Account, Merchant, User
from portal.models.campaigns import Campaign, CampaignCustomer, CampaignUse
from portal.money import Money
from portal.services import services
from tests.concurrency import at_once
from tests.conftest import make_app

pytestmark = pytest.mark.postgres

BURST = 50


@pytest.fixture
def burst_app(pg_app, pg_url):
    """The app on the test database with a connection for every thread of the burst.

    ``pg_app`` empties the tables afterwards; this app only needs a bigger pool.
    """
    app = make_app(pg_url, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": BURST, "max_overflow": 2, "pool_pre_ping": True})
    with app.app_context():
        create_merchant(db.session, "corner-cafe", "Corner Café")
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def campaign(app, **raw) -> int:
    with app.app_context():
        made = create_campaign(db.session, services().vault, read_spec(db.session, {"name": "Burst", **raw}), actor=Actor())
        db.session.commit()
        return made.id


def burst(app, call) -> Counter:
    """Run ``call(i)`` on BURST threads released together, each with its own app context and session;
    how many ended "ok", with each refusal's code, or with any other error."""

    def work(i):
        call(i)
        return "ok"

    return Counter(
        outcome if outcome == "ok" else outcome.code if isinstance(outcome, DomainError) else repr(outcome)
        for outcome in at_once(app, BURST, work)
    )


def till_use(app, code: str, email=None):
    def call(i):
        cafe = db.session.scalar(db.select(Merchant).where(Merchant.slug == "corner-cafe"))
        redeem_coupon(
            db.session, services().vault, code, order_total=Money.parse("20.00", "USD"), merchant=cafe,
            channel="api", email=email(i) if email else None, reference=f"sale-{i}",
        )

    return call


def counts(app, campaign_id) -> tuple[int, int]:
    with app.app_context():
        return (
            db.session.get(Campaign, campaign_id).uses,
            db.session.scalar(db.select(db.func.count(CampaignUse.id)).where(CampaignUse.campaign_id == campaign_id)),
        )


def test_a_limit_of_seven_holds_at_exactly_seven_under_fifty_tills_at_once(burst_app):
    """50 simultaneous redemptions of a 7-use coupon: 7 succeed, 43 hear usage_limit_reached."""
    coupon = campaign(burst_app, kind="coupon", discount_type="percent", discount_value="10", max_uses="7",
                      code_mode="vanity", code="BURST7")
    outcomes = burst(burst_app, till_use(burst_app, "BURST7"))
    assert outcomes == Counter({"ok": 7, "usage_limit_reached": 43})
    assert counts(burst_app, coupon) == (7, 7)


def test_one_customer_at_fifty_tills_gets_exactly_their_three_uses(burst_app):
    """The per-customer limit holds the same way: one address, 50 tills, 3 uses."""
    coupon = campaign(burst_app, kind="coupon", discount_type="percent", discount_value="10", uses_per_user="3",
                      code_mode="vanity", code="MINE3")
    outcomes = burst(burst_app, till_use(burst_app, "MINE3", email=lambda i: "cara@example.com"))
    assert outcomes == Counter({"ok": 3, "already_redeemed": 47})
    assert counts(burst_app, coupon) == (3, 3)
    with burst_app.app_context():
        assert db.session.scalar(db.select(CampaignCustomer.uses)) == 3


def test_both_limits_together_under_a_burst_of_many_customers(burst_app):
    """Ten customers trying five times each at a coupon of 12 uses, 2 per customer."""
    coupon = campaign(burst_app, kind="coupon", discount_type="percent", discount_value="10", max_uses="12",
                      uses_per_user="2", code_mode="vanity", code="MIXED")
    outcomes = burst(burst_app, till_use(burst_app, "MIXED", email=lambda i: f"customer{i % 10}@example.com"))
    assert outcomes["ok"] == 12 and sum(outcomes.values()) == BURST
    assert set(outcomes) <= {"ok", "usage_limit_reached", "already_redeemed"}
    assert counts(burst_app, coupon) == (12, 12)
    with burst_app.app_context():
        per_customer = db.session.scalars(db.select(CampaignCustomer.uses)).all()
        assert max(per_customer) <= 2 and sum(per_customer) == 12


def test_one_customer_at_fifty_tills_gets_no_more_than_the_maximum_discount(burst_app):
    """A 30.00 cap per customer on 10.00 off: 50 tills at once for one address give exactly three uses."""
    coupon = campaign(burst_app, kind="coupon", discount_type="fixed", discount_value="10.00", currency="USD",
                      max_discount_per_customer="30.00", code_mode="vanity", code="CAP30")
    outcomes = burst(burst_app, till_use(burst_app, "CAP30", email=lambda i: "cara@example.com"))
    assert outcomes == Counter({"ok": 3, "usage_limit_reached": 47})
    assert counts(burst_app, coupon) == (3, 3)
    with burst_app.app_context():
        given = db.session.scalar(db.select(db.func.sum(CampaignUse.discount)).where(CampaignUse.campaign_id == coupon))
        assert given == 3000
        assert db.session.scalar(db.select(CampaignCustomer.discounted)) == 3000


def test_a_credit_code_pays_out_exactly_its_limit_to_fifty_customers_at_once(burst_app):
    """A 5-use credit code redeemed by 50 customers at once: 5 wallets credited, the ledger sound."""
    credit = campaign(burst_app, kind="credit", currency="USD", value="2.00", max_uses="5", code_mode="vanity", code="FIVE")
    with burst_app.app_context():
        for i in range(BURST):
            create_user(db.session, f"c{i}@example.com", "a long password")
        db.session.commit()

    def call(i):
        user = db.session.scalar(db.select(User).where(User.email == f"c{i}@example.com"))
        redeem_code(db.session, services().vault, user, "FIVE", channel="api")

    outcomes = burst(burst_app, call)
    assert outcomes == Counter({"ok": 5, "usage_limit_reached": 45})
    assert counts(burst_app, credit) == (5, 5)
    with burst_app.app_context():
        paid = db.session.scalar(db.select(db.func.sum(Account.balance)).where(Account.kind == "wallet"))
        assert paid == 1000
        assert verify(db.session) == []


def test_a_redeem_still_running_under_the_same_key_answers_409(burst_app, pg_url):
    """While a first request holds its Idempotency-Key, a second one with it hears idempotency_in_progress."""
    import sqlalchemy as sa

    from portal.api.idempotency import _lock_key
    from portal.tokens import create_token

    campaign(burst_app, kind="coupon", discount_type="percent", discount_value="10", code_mode="vanity", code="SLOW")
    with burst_app.app_context():
        cafe = db.session.scalar(db.select(Merchant).where(Merchant.slug == "corner-cafe"))
        staff = create_user(db.session, "staff@example.com", "a long password", role="merchant", merchant=cafe)
        row, token = create_token(db.session, staff, "till")
        db.session.commit()
        scope = f"token:{row.id} POST /api/v1/coupons/redeem"
    key = str(uuid.uuid4())
    holder = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with holder.connect() as conn, conn.begin():
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key(scope, key))))
        response = burst_app.test_client().post(
            "/api/v1/coupons/redeem", json={"code": "SLOW", "order_total": "10.00"},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
        )
    holder.dispose()
    assert response.status_code == 409 and response.json["code"] == "idempotency_in_progress"
    assert response.headers["Retry-After"] == "1"


@pytest.mark.redis
def test_a_generation_job_goes_through_rq_and_a_worker_reports_its_progress(pg_app, pg_url, redis_url):
    """With REDIS_URL the job is enqueued (id from its row) on a queue `portal worker` serves; a worker runs it."""
    from redis import Redis
    from rq import Queue, SimpleWorker
    from rq.job import Job

    from portal.campaigns.generation import request_generation
    from portal.campaigns.jobs import QUEUE, rq_job_id, start_job
    from portal.jobs import QUEUES
    from portal.models.campaigns import CampaignCode, CampaignJob

    assert QUEUE in QUEUES
    app = make_app(pg_url, REDIS_URL=redis_url, CAMPAIGN_BATCH_SIZE=70)
    connection = Redis.from_url(redis_url)
    with app.app_context():
        made = create_campaign(db.session, services().vault, read_spec(db.session, {
            "name": "Queued", "kind": "gift_card", "currency": "USD", "value": "5.00"}), actor=Actor())
        job = request_generation(db.session, made, 200, actor=Actor())
        db.session.commit()
        start_job(job.id)
        assert db.session.get(CampaignJob, job.id).status == "queued"  # nothing ran in the request
        assert Queue(QUEUE, connection=connection).job_ids == [rq_job_id(job.id)]
        SimpleWorker([Queue(QUEUE, connection=connection)], connection=connection).work(burst=True)
        db.session.expire_all()
        finished = db.session.get(CampaignJob, job.id)
        assert (finished.status, finished.done) == ("finished", 200)
        assert db.session.scalar(db.select(db.func.count(CampaignCode.id))) == 200
        assert Job.fetch(rq_job_id(job.id), connection=connection).meta == {"done": 200, "requested": 200}
        assert verify(db.session) == []
        db.session.remove()
        db.engine.dispose()
    connection.close()


def test_generation_runs_in_two_lanes_and_a_failing_lane_stops_the_job_until_it_is_started_again(
    pg_app, pg_url, monkeypatch
):
    """On PostgreSQL two lanes share the count: exactly the codes asked for, each once. A lane that
    fails stops the other; the job says why, counts only what was committed, and finishes when
    started again."""
    from portal.campaigns import jobs
    from portal.campaigns.generation import request_generation
    from portal.models import Code
    from portal.models.campaigns import CampaignCode, CampaignJob

    app = make_app(pg_url, CAMPAIGN_BATCH_SIZE=50)
    lanes, calls, real = set(), [], jobs.generate_batch

    def watched(session, vault, job, count, **kwargs):
        lanes.add(threading.current_thread().name)
        calls.append(count)
        if len(calls) == 5:
            raise RuntimeError("disk full")
        return real(session, vault, job, count, **kwargs)

    monkeypatch.setattr(jobs, "generate_batch", watched)
    with app.app_context():
        campaign = create_campaign(db.session, services().vault, read_spec(db.session, {
            "name": "Lanes", "kind": "credit", "currency": "USD", "value": "1.00",
            "code_mode": "random", "code_prefix": "LANE"}), actor=Actor())
        job = request_generation(db.session, campaign, 1000, actor=Actor())
        db.session.commit()
        jobs.start_job(job.id)  # inline, as without Redis: the failure is recorded on the job
        db.session.expire_all()
        failed = db.session.get(CampaignJob, job.id)
        stored = db.session.scalar(db.select(db.func.count(CampaignCode.id)))
        assert (failed.status, failed.error) == ("failed", "RuntimeError: disk full")
        assert failed.done == stored and stored % 50 == 0 and stored < 1000

        jobs.start_job(job.id)
        db.session.expire_all()
        finished = db.session.get(CampaignJob, job.id)
        assert (finished.status, finished.done) == ("finished", 1000)
        assert db.session.scalar(db.select(db.func.count(CampaignCode.id))) == 1000
        assert db.session.scalar(db.select(db.func.count(db.distinct(Code.lookup_hash)))) == 1000
        assert len(lanes) == 2
        db.session.remove()
        db.engine.dispose()

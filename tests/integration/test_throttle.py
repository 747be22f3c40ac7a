"""Failure counters in real Redis, and their fallback to the database when Redis is away."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import redis
import sqlalchemy as sa
from redis.backoff import NoBackoff
from redis.retry import Retry

from portal.config import database_url
from portal.models import ThrottleCounter, utcnow
from portal.throttle import DatabaseCounters, Throttle

pytestmark = pytest.mark.redis


def test_failures_are_counted_in_redis_until_the_limit(redis_url):
    """After the limit, is the subject told to wait for the rest of the window?"""
    client = redis.Redis.from_url(redis_url)
    throttle = Throttle("t", 3, 900, client)
    assert throttle.fail("ip:1") == [] and throttle.fail("ip:1") == []
    assert throttle.retry_after("ip:1") == 0
    assert throttle.fail("ip:1") == ["ip:1"]
    assert 890 <= throttle.retry_after("ip:1") <= 900
    assert throttle.retry_after("ip:2") == 0
    # Another process (a second app server) sees the same count.
    assert Throttle("t", 3, 900, redis.Redis.from_url(redis_url)).retry_after("ip:1") > 0
    throttle.clear("ip:1")
    assert throttle.retry_after("ip:1") == 0
    client.close()


def test_a_subject_kind_can_have_its_own_limit(redis_url):
    client = redis.Redis.from_url(redis_url)
    throttle = Throttle("t", 2, 60, client, per_kind={"ip": 4})
    for _ in range(3):
        throttle.fail("ip:9", "email:a@b.c")
    assert throttle.retry_after("email:a@b.c") > 0
    assert throttle.retry_after("ip:9") == 0
    client.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request, tmp_path):
    """An engine on a database with the counters table: a SQLite file, or the run's PostgreSQL."""
    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'counters.db'}")
        ThrottleCounter.__table__.create(engine)
    else:
        engine = sa.create_engine(database_url(request.getfixturevalue("pg_url")))
    yield engine
    with engine.begin() as conn:
        conn.execute(sa.delete(ThrottleCounter.__table__))
    engine.dispose()


def test_with_redis_down_every_process_counts_in_the_database(database, caplog):
    """With Redis unreachable, do two app processes (two throttles) still share one count, in the
    database, instead of each counting on its own and doubling the budget?"""
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    first, second = (Throttle("t", 3, 60, dead, fallback=DatabaseCounters(lambda: database)) for _ in range(2))
    with caplog.at_level(logging.WARNING):
        assert first.attempt("user:1").wait == 0
        assert second.attempt("user:1").wait == 0
        assert first.attempt("user:1").reaching == ["user:1"]
        refused = second.attempt("user:1")
        assert 0 < refused.wait <= 60
        assert first.retry_after("user:1") > 0 and second.retry_after("user:2") == 0
    # One warning per process, not one per call: Redis is skipped for a while after it fails.
    assert caplog.text.count("Redis unavailable") == 2 and "DatabaseCounters" in caplog.text
    # A success gives its attempt back; clearing (an admin's lift) forgets the count everywhere.
    second.give_back("user:1")
    assert first.attempt("user:1").wait == 0
    first.clear("user:1")
    assert second.retry_after("user:1") == 0


def test_a_window_that_ended_starts_again_in_the_database(database):
    """Does a count whose window is over start again from one (not go on from the old count)?"""
    counters = DatabaseCounters(lambda: database)
    assert counters.incr("k", 60)[0] == 1 and counters.incr("k", 60)[0] == 2
    with database.begin() as conn:
        conn.execute(sa.update(ThrottleCounter.__table__).values(window_ends=utcnow() - timedelta(seconds=1)))
    assert counters.get("k") == (0, 0)
    counters.decr("k")  # nothing to give back in an ended window
    count, left = counters.incr("k", 60)
    assert count == 1 and 59 <= left <= 60


def test_a_count_given_back_to_nothing_leaves_no_row(database):
    """Do attempts that are all given back (successes, refusals) leave the table as it was?"""
    counters = DatabaseCounters(lambda: database)
    counters.incr("kept", 60)
    for n in range(3):
        counters.incr(f"given back {n}", 60)
        counters.decr(f"given back {n}")
    with database.connect() as conn:
        assert conn.execute(sa.select(ThrottleCounter.key)).scalars().all() == ["kept"]


def test_the_daily_sweep_forgets_counts_whose_window_ended(app):
    """After an outage, do the counts it left in the database go with the next daily sweep, while a
    count still running stays?"""
    from portal.extensions import db
    from portal.jobs.sweeps import run_events

    with app.app_context():
        counters = DatabaseCounters(lambda: db.engine)
        counters.incr("ended", 60)
        counters.incr("running", 600)
        assert run_events(now=utcnow() + timedelta(seconds=120))["counters"] == 1
        assert db.session.scalars(sa.select(ThrottleCounter.key)).all() == ["running"]

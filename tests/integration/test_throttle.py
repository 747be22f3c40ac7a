"""Failure counters in real Redis, and their fallback to this process when Redis is away."""

from __future__ import annotations

import logging

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from portal.throttle import Throttle

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


def test_with_redis_down_counting_goes_on_in_the_process(caplog):
    """Does a Redis outage keep limiting (in memory) instead of failing or letting all through?"""
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    throttle = Throttle("t", 2, 60, dead)
    with caplog.at_level(logging.WARNING):
        throttle.fail("ip:1")
        throttle.fail("ip:1")
        assert throttle.retry_after("ip:1") > 0
    assert "Redis unavailable" in caplog.text
    # One warning, not one per call: Redis is skipped for a while after it fails.
    assert caplog.text.count("Redis unavailable") == 1

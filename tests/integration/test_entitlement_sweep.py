"""The entitlement sweep on PostgreSQL: two sweeps at once announce each ended entitlement once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.auth.users import create_user
from portal.campaigns import grant
from portal.extensions import db
from portal.jobs.sweeps import run_entitlements
from portal.models import Event, utcnow
from tests.concurrency import at_once
from tests.conftest import PASSWORD

pytestmark = pytest.mark.postgres


def test_two_sweeps_at_once_expire_each_entitlement_once(pg_app):
    long_ago = utcnow() - timedelta(days=10)
    with pg_app.app_context():
        for i in range(20):
            customer = create_user(db.session, f"c{i}@example.com", PASSWORD, role="customer")
            grant(db.session, customer, "plus", 3, now=long_ago)
            grant(db.session, customer, "vip", 30, now=long_ago)
        db.session.commit()
    counted = at_once(pg_app, 2, lambda _: run_entitlements()["expired"])
    assert sum(counted) == 20
    with pg_app.app_context():
        expired = db.session.scalars(sa.select(Event.payload).where(Event.type == "entitlement.expired")).all()
        assert len(expired) == 20 and {e["feature"] for e in expired} == {"plus"}
        assert len({e["entitlement_id"] for e in expired}) == 20

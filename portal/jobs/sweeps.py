"""The sweeps (DESIGN §4): set-based, safe to run twice; a second run changes nothing.

``run_*`` do the work in the caller's app context and commit (``portal sweep`` calls them);
the ``sweep_*`` functions are the RQ jobs the cron scheduler enqueues on the "sweeps" queue.
"""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa

from portal.extensions import db
from portal.jobs.runtime import app_context
from portal.models import utcnow

log = logging.getLogger(__name__)

EXPIRY_BATCH = 500
GIFT_TABLES = ("gift_subscriptions", "gifts")
GIFTS_NOT_YET = "Gift subscriptions arrive with issue 8: there is nothing to sweep yet."


def run_expiry(now: datetime | None = None) -> dict[str, int]:
    """Queue the 7-day reminders, then expire every card whose date has passed.

    Each card expires by the domain's ``expire_due`` (one ``expire`` transaction per card and
    date, moving what is left to breakage), in batches, each batch its own commit.
    """
    from portal.cards.expiry import expire_due
    from portal.notifications.reminders import queue_expiry_reminders

    now = now or utcnow()
    session = db.session
    reminders = queue_expiry_reminders(session, now)
    session.commit()
    expired = 0
    while True:
        done = expire_due(session, now, limit=EXPIRY_BATCH)
        session.commit()
        expired += done
        if done < EXPIRY_BATCH:
            break
    log.info("Expiry sweep: %d reminder(s) queued, %d card(s) expired", reminders, expired)
    return {"reminders": reminders, "expired": expired}


def run_transfers(now: datetime | None = None) -> dict[str, int]:
    """End the transfers whose 14 days ran out; their cards stay with their owners."""
    from portal.cards.transfers import lapse_transfers

    lapsed = lapse_transfers(db.session, now or utcnow())
    db.session.commit()
    log.info("Transfer sweep: %d transfer(s) lapsed", lapsed)
    return {"lapsed": lapsed}


def run_gifts(now: datetime | None = None) -> dict[str, int] | None:
    """Remove gift subscriptions left unpaid for 24 hours; None until issue 8 brings them.

    Issue 8 provides ``portal.campaigns.gifts.remove_unpaid(session, now) -> int``.
    """
    tables = set(sa.inspect(db.session.connection()).get_table_names())
    if not tables.intersection(GIFT_TABLES):
        return None
    try:
        from portal.campaigns.gifts import remove_unpaid
    except ImportError:
        log.warning("A gifts table exists but portal.campaigns.gifts.remove_unpaid does not")
        return None
    removed = remove_unpaid(db.session, now or utcnow())
    db.session.commit()
    log.info("Gift sweep: %d unpaid gift(s) removed", removed)
    return {"removed": removed}


def sweep_expiry() -> dict[str, int]:
    """RQ job (daily): expiry reminders and expiry."""
    with app_context():
        return run_expiry()


def sweep_transfers() -> dict[str, int]:
    """RQ job (hourly): lapsed transfers."""
    with app_context():
        return run_transfers()


def sweep_gifts() -> dict[str, int] | None:
    """RQ job (hourly): unpaid gift subscriptions."""
    with app_context():
        return run_gifts()

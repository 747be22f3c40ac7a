"""The sweeps (DESIGN §4): set-based, safe to run twice; a second run changes nothing.

``run_*`` do the work in the caller's app context and commit (``portal sweep`` calls them);
the ``sweep_*`` functions are the RQ jobs the cron scheduler enqueues on the "sweeps" queue.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from flask import current_app

from portal import gifts
from portal.campaigns import entitlements
from portal.cards import expiry, holds, transfers
from portal.events import retention
from portal.extensions import db
from portal.jobs.lanes import lanes_setting, run_in_lanes
from portal.jobs.runtime import app_context
from portal.models import utcnow
from portal.notifications.reminders import queue_code_reminders, queue_expiry_reminders
from portal.orders.delivery import deliver_due
from portal.orders.payment import expire_unpaid
from portal.services import services
from portal.throttle import DatabaseCounters

log = logging.getLogger(__name__)

EXPIRY_BATCH = 5_000  # cards per commit: each batch is a few set-based statements
HOLD_BATCH = 5_000  # holds per commit, the same way


def run_expiry(now: datetime | None = None) -> dict[str, int]:
    """Queue the 7-day reminders (cards, and campaign codes e-mailed to someone), then expire every
    card whose date has passed.

    Each card expires by the domain's ``expire_due`` (one ``expire`` transaction per card and
    date, moving what is left to breakage), in batches, each batch its own commit; on PostgreSQL
    in lanes (``EXPIRY_LANES``), each claiming due cards no other lane holds.
    """

    now = now or utcnow()
    session = db.session
    reminders = queue_expiry_reminders(session, now) + queue_code_reminders(session, now)
    session.commit()
    expired = 0
    counting = threading.Lock()

    def step(session) -> bool:
        nonlocal expired
        done = expiry.expire_due(session, now, limit=EXPIRY_BATCH)
        with counting:
            expired += done
        return done == EXPIRY_BATCH

    run_in_lanes(current_app._get_current_object(), lanes_setting("EXPIRY_LANES"), step, name="expiry")
    log.info("Expiry sweep: %d reminder(s) queued, %d card(s) expired", reminders, expired)
    return {"reminders": reminders, "expired": expired}


def run_transfers(now: datetime | None = None) -> dict[str, int]:
    """End the transfers whose 14 days ran out; their cards stay with their owners."""

    lapsed = transfers.lapse_transfers(db.session, now or utcnow())
    db.session.commit()
    log.info("Transfer sweep: %d transfer(s) lapsed", lapsed)
    return {"lapsed": lapsed}


def run_gifts(now: datetime | None = None) -> dict[str, int]:
    """Remove gift subscriptions left unpaid for 24 hours; expire (and refund) sent gifts past their date."""

    now = now or utcnow()
    removed = gifts.remove_unpaid(db.session, now)
    expired = gifts.expire_due(db.session, now)
    db.session.commit()
    log.info("Gift sweep: %d unpaid gift(s) removed, %d expired", removed, expired)
    return {"removed": removed, "expired": expired}


def run_orders(now: datetime | None = None) -> dict[str, int]:
    """Expire shop orders left unpaid for 24 hours (a payment confirmed later still issues its cards),
    then e-mail the gifts whose delivery date has come."""

    now = now or utcnow()
    expired = expire_unpaid(db.session, now)
    db.session.commit()
    delivered = 0
    while sent := deliver_due(db.session, services().vault, now):
        db.session.commit()
        delivered += sent
    log.info("Order sweep: %d unpaid order(s) expired, %d gift(s) delivered", expired, delivered)
    return {"expired": expired, "delivered": delivered}


def run_events(now: datetime | None = None) -> dict[str, int]:
    """Prune events (and their delivery log) older than ``EVENT_RETENTION_DAYS``, a batch per commit,
    and the throttle counters a Redis outage left in the database whose window has ended."""

    now, days = now or utcnow(), current_app.config["EVENT_RETENTION_DAYS"]
    pruned = 0
    while True:
        done = retention.prune_events(db.session, now, days=days)
        db.session.commit()
        pruned += done
        if done < retention.BATCH:
            break
    counters = DatabaseCounters(lambda: db.engine).prune(now)
    log.info("Event sweep: %d event(s) older than %d days pruned, %d ended throttle count(s)", pruned, days, counters)
    return {"pruned": pruned, "counters": counters}


def run_entitlements(now: datetime | None = None) -> dict[str, int]:
    """Announce (entitlement.expired) every customer's feature whose time ran out."""

    expired = entitlements.expire_due(db.session, now or utcnow())
    db.session.commit()
    log.info("Entitlement sweep: %d entitlement(s) expired", expired)
    return {"expired": expired}


def run_holds(now: datetime | None = None) -> dict[str, int]:
    """Lapse the card holds past their time: each amount goes back to its card, a batch per commit."""

    now = now or utcnow()
    lapsed = 0
    while True:
        done = holds.lapse_due(db.session, now, limit=HOLD_BATCH)
        db.session.commit()
        lapsed += done
        if done < HOLD_BATCH:
            break
    log.info("Hold sweep: %d hold(s) lapsed", lapsed)
    return {"lapsed": lapsed}


def sweep_expiry() -> dict[str, int]:
    """RQ job (daily): expiry reminders and expiry."""
    with app_context():
        return run_expiry()


def sweep_transfers() -> dict[str, int]:
    """RQ job (hourly): lapsed transfers."""
    with app_context():
        return run_transfers()


def sweep_gifts() -> dict[str, int]:
    """RQ job (hourly): unpaid and expired gift subscriptions."""
    with app_context():
        return run_gifts()


def sweep_orders() -> dict[str, int]:
    """RQ job (hourly): unpaid shop orders, and gifts due for delivery."""
    with app_context():
        return run_orders()


def sweep_events() -> dict[str, int]:
    """RQ job (daily): events past their retention."""
    with app_context():
        return run_events()


def sweep_entitlements() -> dict[str, int]:
    """RQ job (hourly): entitlements that ended."""
    with app_context():
        return run_entitlements()


def sweep_holds() -> dict[str, int]:
    """RQ job (hourly): card holds that lapsed."""
    with app_context():
        return run_holds()

"""Writing events: in the caller's transaction, with a delivery row for every endpoint that wants it.

Nothing here commits: the event and its deliveries commit with the change they describe, or
vanish with it. After the commit the deliveries are handed to RQ (portal/events/deliveries.py).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.bulk import insert_rows
from portal.events.catalogue import EVENT_TYPES, TRANSACTION_EVENTS
from portal.events.deliveries import remember
from portal.events.payloads import Movement, checked, checked_json, transaction_movement
from portal.models import Transaction, utcnow
from portal.models.events import Event, WebhookDelivery, WebhookEndpoint


def _listening(type: str, merchant_ids: set[int | None]) -> tuple:
    """Which endpoints hear events of ``type`` belonging to ``merchant_ids``: the enabled ones that
    chose the type, each merchant's own and every admin's."""
    scope = WebhookEndpoint.merchant_id.is_(None)
    if merchant_ids - {None}:
        scope = sa.or_(scope, WebhookEndpoint.merchant_id.in_(merchant_ids - {None}))
    # The types are a JSON list of names; each is quoted in its text, so this matches whole names.
    chosen = sa.cast(WebhookEndpoint.event_types, sa.Text).contains(f'"{type}"', autoescape=True)
    return WebhookEndpoint.status == "enabled", scope, chosen


def _listeners(session: Session, type: str, merchant_ids: set[int | None]) -> dict[int | None, list[int]]:
    """The endpoints that hear ``type`` (see ``_listening``), by merchant (None: the admins')."""
    listening = (
        sa.select(WebhookEndpoint.id, WebhookEndpoint.merchant_id)
        .where(*_listening(type, merchant_ids))
        .order_by(WebhookEndpoint.id)
    )
    wanted: dict[int | None, list[int]] = defaultdict(list)
    for endpoint_id, merchant_id in session.execute(listening):
        wanted[merchant_id].append(endpoint_id)
    return wanted


def _hearing(wanted: dict[int | None, list[int]], merchant_id: int | None) -> list[int]:
    """Who hears an event of ``merchant_id``: that merchant's endpoints and every admin endpoint."""
    return wanted.get(None, []) + (wanted.get(merchant_id, []) if merchant_id is not None else [])


def record(
    session: Session,
    type: str,
    data: dict,
    *,
    merchant_id: int | None = None,
    transaction_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Write one event of ``type`` (a key of EVENT_TYPES) and queue it for every endpoint that asked.

    ``merchant_id`` routes it: that merchant's endpoints and every admin endpoint hear it; without
    one only admins do. Returns the event's id. Raise ValueError for an unknown type or a full
    card code in ``data``.
    """
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    now = now or utcnow()
    # The endpoints that hear it come back with the event's id: one round trip for every change of value.
    hearing = (
        sa.select(sa.func.aggregate_strings(sa.cast(WebhookEndpoint.id, sa.String), ","))
        .where(*_listening(type, {merchant_id}))
        .scalar_subquery()
    )
    event_id, endpoint_ids = session.execute(
        sa.insert(Event)
        .values(type=type, occurred_at=now, merchant_id=merchant_id, transaction_id=transaction_id, payload=checked(data))
        .returning(Event.id, hearing)
    ).one()
    wanted = sorted(int(endpoint_id) for endpoint_id in endpoint_ids.split(",")) if endpoint_ids else []
    if wanted:
        rows = [
            {"endpoint_id": endpoint_id, "event_id": event_id, "status": "pending", "attempts": 0, "created_at": now}
            for endpoint_id in wanted
        ]
        remember(session, list(session.scalars(sa.insert(WebhookDelivery).values(rows).returning(WebhookDelivery.id))))
    return event_id


def record_transaction(session: Session, transaction: Transaction, legs: list) -> int:
    """The event of a ledger transaction just posted (subscribed to the ledger's after-post hook)."""
    movement = transaction_movement(session, transaction, legs)
    return record(
        session, TRANSACTION_EVENTS[transaction.kind], movement.data(), merchant_id=movement.routed_to,
        transaction_id=transaction.id, now=transaction.created_at,
    )


def record_movements(session: Session, movements: list[Movement], *, now: datetime) -> list[int]:
    """The events of many ledger transactions of one kind posted set-wise at ``now`` (the expiry
    sweep), as ``record_transaction`` writes each, in a few statements whatever their number.

    Returns the events' ids in order. Raise ValueError for a full card code in any of them.
    """
    if not movements:
        return []
    (kind,) = {movement.kind for movement in movements}
    type = TRANSACTION_EVENTS[kind]
    # COPY (PostgreSQL, see portal/bulk.py) takes JSON as text; SQLAlchemy's insert elsewhere encodes it itself.
    stored = checked_json if session.connection().dialect.name == "postgresql" else checked
    event_ids = insert_rows(
        session, Event, ["type", "occurred_at", "merchant_id", "transaction_id", "payload"],
        [(type, now, movement.routed_to, movement.transaction_id, stored(movement.data())) for movement in movements],
    )
    queue_deliveries(session, type, list(zip(event_ids, [movement.routed_to for movement in movements])), now=now)
    return event_ids


def queue_deliveries(session: Session, type: str, events: list[tuple[int, int | None]], *, now: datetime) -> None:
    """A delivery of each of many events of ``type`` just written, ``(event id, merchant id)``, for
    every endpoint that hears it (see ``_listening``), relayed after the commit."""
    wanted = _listeners(session, type, {merchant_id for _, merchant_id in events})
    remember(session, insert_rows(
        session, WebhookDelivery, ["endpoint_id", "event_id", "status", "attempts", "created_at"],
        [
            (endpoint_id, event_id, "pending", 0, now)
            for event_id, merchant_id in events
            for endpoint_id in _hearing(wanted, merchant_id)
        ],
    ))

"""Events and webhooks (issue 11): every change of value and of a campaign's state is written as
an event in the same database transaction; endpoints hear of them by signed HTTP POSTs sent by RQ
jobs, and programs can pull them in commit order from ``GET /api/v1/events``.

``record`` writes one event (and a delivery row for every endpoint that wants it); the ledger's
``post`` calls ``record_transaction`` for every transaction it makes, and a set-based writer of
transactions (the expiry sweep) ``record_movements`` for all of its at once.
"""

from portal.events.payloads import Movement
from portal.events.record import record, record_movements, record_transaction

__all__ = ["Movement", "record", "record_movements", "record_transaction"]

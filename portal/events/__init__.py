"""Events and webhooks (issue 11): every change of value and of a campaign's state is written as
an event in the same database transaction; endpoints hear of them by signed HTTP POSTs sent by RQ
jobs, and programs can pull them in commit order from ``GET /api/v1/events``.

``record`` writes one event (and a delivery row for every endpoint that wants it); importing this
package subscribes ``record_transaction`` to the ledger's after-post hook, so ``post`` writes the
event of every transaction it makes, and a set-based writer of transactions (the expiry sweep)
calls ``record_movements`` for all of its at once.
"""

from portal.events.payloads import Movement
from portal.events.record import record, record_movements, record_transaction
from portal.ledger.hooks import after_post

after_post(record_transaction)

__all__ = ["Movement", "record", "record_movements", "record_transaction"]

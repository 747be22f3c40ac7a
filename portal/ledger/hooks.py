"""What runs right after ``post`` writes a new transaction, inside the same database transaction.

The ledger knows nothing of who listens: the events package subscribes ``record_transaction``
when it is imported (``create_app`` imports it), so a transaction and its event commit or roll
back together while the ledger stays free of webhooks.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from portal.models import Transaction

AfterPost = Callable[[Session, Transaction, list], object]
_after_post: list[AfterPost] = []


def after_post(subscriber: AfterPost) -> AfterPost:
    """Call ``subscriber(session, transaction, legs)`` after every new transaction; a raise undoes the post."""
    if subscriber not in _after_post:
        _after_post.append(subscriber)
    return subscriber


def posted(session: Session, transaction: Transaction, legs: list) -> None:
    """Tell every subscriber of a transaction just written."""
    for subscriber in _after_post:
        subscriber(session, transaction, legs)

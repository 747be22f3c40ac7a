"""The money: accounts, balanced transactions, replays and the ledger check. No Flask here.

Every change of value is one ``post()``: its entries sum to zero per currency and each balance
changes in one statement that refuses to take a stored-value account below zero.
"""

from portal.ledger.accounts import account_for, balance_by_key, balance_of, settlement_account, system_account
from portal.ledger.actors import SYSTEM, Actor
from portal.ledger.audit import audit, required_reason
from portal.ledger.history import history
from portal.ledger.posting import fingerprint, post, post_or_replay, replay
from portal.ledger.savepoints import savepoint
from portal.ledger.verify import verify

__all__ = [
    "SYSTEM", "Actor", "account_for", "audit", "balance_by_key", "balance_of", "fingerprint", "history", "post",
    "post_or_replay", "replay", "required_reason", "savepoint", "settlement_account",
    "system_account", "verify",
]

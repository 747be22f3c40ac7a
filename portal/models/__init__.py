"""SQLAlchemy models by aggregate; importing this package registers them all."""

from portal.models.base import Base, utcnow
from portal.models.cards import Code, GiftCard
from portal.models.ledger import Account, Entry, Transaction
from portal.models.merchants import Merchant
from portal.models.records import AuditEvent, IdempotencyRecord, SecurityEvent
from portal.models.users import ApiToken, User

__all__ = [
    "Account", "ApiToken", "AuditEvent", "Base", "Code", "Entry", "GiftCard",
    "IdempotencyRecord", "Merchant", "SecurityEvent", "Transaction", "User", "utcnow",
]

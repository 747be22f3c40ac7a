"""SQLAlchemy models by aggregate; importing this package registers them all."""

from portal.models.base import Base, utcnow
from portal.models.cards import Code, GiftCard
from portal.models.campaigns import Campaign, CampaignCode, CampaignCustomer, CampaignJob, CampaignRecipient, CampaignUse, Entitlement  # noqa: F401,E501
from portal.models.gifts import GiftSubscription, SubscriptionPlan  # noqa: F401
from portal.models.events import Event, WebhookDelivery, WebhookEndpoint  # noqa: F401
from portal.models.holds import Hold  # noqa: F401
from portal.models.ledger import Account, Entry, Transaction
from portal.models.merchants import Merchant
from portal.models.networks import Network
from portal.models.programme import ProgrammeCurrency, ProgrammeKind  # noqa: F401
from portal.models.orders import DailyLoad, Order, OrderLine, ProgrammeLimits  # noqa: F401
from portal.models.outbox import OutboxMessage  # noqa: F401
from portal.models.records import AuditEvent, IdempotencyRecord, SecurityEvent, ThrottleCounter
from portal.models.transfers import Transfer
from portal.models.users import ApiToken, User

__all__ = [
    "Account", "ApiToken", "AuditEvent", "Base", "Code", "Entry", "GiftCard",
    "IdempotencyRecord", "Merchant", "Network", "SecurityEvent", "ThrottleCounter", "Transaction", "Transfer", "User", "utcnow",
]

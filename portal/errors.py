"""Domain errors: one exception type carrying a stable code.

Blueprints and the API translate the code into a form message or a problem
document (see ``portal/web/problems.py``); the domain never knows about HTTP.
"""


class DomainError(Exception):
    """A refused operation, with a stable machine code and a plain message."""

    code = "validation_error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field


class ValidationError(DomainError):
    code = "validation_error"


class NotFound(DomainError):
    code = "not_found"


class Forbidden(DomainError):
    code = "forbidden"


class InsufficientFunds(DomainError):
    code = "insufficient_funds"


class CurrencyMismatch(DomainError):
    code = "currency_mismatch"


class NotValidHere(DomainError):
    code = "not_valid_here"


class CardExpired(DomainError):
    code = "expired"


class CardFrozen(DomainError):
    code = "frozen"


class CardCancelled(DomainError):
    code = "cancelled"


class UsageLimitReached(DomainError):
    code = "usage_limit_reached"


class LimitExceeded(DomainError):
    """A programme limit (portal/orders/limits.py) the change would pass."""

    code = "limit_exceeded"


class AlreadyRedeemed(DomainError):
    code = "already_redeemed"


class RateLimited(DomainError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class IdempotencyConflict(DomainError):
    code = "idempotency_conflict"


class IdempotencyInProgress(DomainError):
    code = "idempotency_in_progress"


class TransferNotFound(NotFound):
    """No pending or past card transfer matches (a claim code or an id)."""

"""The rules of buying a gift, one function each, called by the page, the API and the demo alike."""

from __future__ import annotations

from portal.cards.codes import CARD_CODE_RE
from portal.emails import normalise_email
from portal.errors import Forbidden, ValidationError
from portal.models import User
from portal.models.gifts import PAYMENT_METHODS

MAX_MESSAGE = 500
DEFAULT_GIFT_DAYS = 30
MAX_GIFT_DAYS = 3660


def check_buyer(user: User) -> None:
    """Only customers buy gifts (they pay from their own wallet or Loops)."""
    if not user.is_customer:
        raise Forbidden("Only customer accounts can buy gift subscriptions")


def check_recipient(value: object, buyer: User) -> str | None:
    """The friend's address, lower-cased; None for an open gift. Refuse a bad address or one's own."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ValidationError("Enter your friend's e-mail address like name@example.com", field="recipient_email")
    try:
        email = normalise_email(value)
    except ValidationError as error:
        raise ValidationError(error.message, field="recipient_email") from None
    if email == buyer.email.lower():
        raise ValidationError("That is your own address: enter your friend's, or leave it empty for an open gift",
                              field="recipient_email")
    return email


def check_message(value: object) -> str:
    """A message to the friend: optional, at most 500 characters, and no gift card code in it."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError("The message must be text", field="message")
    text = value.strip()
    if len(text) > MAX_MESSAGE:
        raise ValidationError(f"Keep the message under {MAX_MESSAGE} characters", field="message")
    # E-mails never carry a card code in clear (the outbox refuses one), so neither may the message.
    if CARD_CODE_RE.search(text.upper()):
        raise ValidationError("Please leave gift card codes out of the message: give the card itself instead",
                              field="message")
    return text


def check_payment_method(value: object) -> str:
    """wallet (credit) or loops."""
    if value not in PAYMENT_METHODS:
        raise ValidationError("Pay with wallet credit or Loops", field="payment_method")
    return value


def check_gift_days(value: object) -> int:
    """How long the friend has to redeem the gift: 1 to 3660 days, 30 when not given."""
    if value is None or value == "":
        return DEFAULT_GIFT_DAYS
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_GIFT_DAYS:
        raise ValidationError(f"A gift can be redeemed for 1 to {MAX_GIFT_DAYS} days", field="gift_duration_days")
    return value

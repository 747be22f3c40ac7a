"""Finding a card from what a till or a customer typed or scanned, and whether it is usable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from portal.cards.codes import CodeVault, QrTokens, is_qr_token, normalise
from portal.errors import CardCancelled, CardExpired, CardFrozen, CurrencyMismatch, NotFound, NotValidHere
from portal.models import Account, Code, GiftCard, Merchant, utcnow

NO_SUCH_CARD = "No gift card has that code"
STALE_QR = "That QR code is no longer valid: ask the customer to refresh their card page"


@dataclass(frozen=True)
class CardName:
    """How a card is found: by id (read before with the code ``code_id``), by its code's keyed
    hash, or by a QR token's code id alone."""

    card_id: int | None = None
    code_id: int | None = None
    lookup_hash: str | None = None

    def missing(self) -> NotFound:
        """The answer when no card has this name."""
        return NotFound(NO_SUCH_CARD if self.lookup_hash is not None else STALE_QR, field="code")


def card_name(text: str, vault: CodeVault, qr: QrTokens) -> CardName:
    """The name of the card a code (any forgiving spelling) or a QR token names, before any
    database query. Raise ValidationError for a malformed code or a typo, NotFound for a stale or
    forged QR token."""
    if is_qr_token(text):
        # A token names the card's code: once the card has a new one, the token names no card.
        if (code_id := qr.resolve(text)) is None:
            raise NotFound(STALE_QR, field="code")
        return CardName(code_id=code_id)
    return CardName(lookup_hash=vault.lookup_hash(normalise(text)))


def find_card(session: Session, text: str, vault: CodeVault, qr: QrTokens) -> GiftCard:
    """The card named by a code (any forgiving spelling) or a QR token.

    Raise ValidationError for a malformed code or a typo (before any database query),
    NotFound if no card has the code or the QR token is stale or forged.
    """
    name = card_name(text, vault, qr)
    if name.lookup_hash is None:
        card = session.scalar(sa.select(GiftCard).where(GiftCard.code_id == name.code_id))
    else:
        card = session.scalar(
            sa.select(GiftCard).join(Code, GiftCard.code_id == Code.id).where(Code.lookup_hash == name.lookup_hash)
        )
    if card is None:
        raise name.missing()
    return card


def long_date(moment: datetime) -> str:
    """A date as people write it: "3 March 2027"."""
    return f"{moment.day} {moment:%B %Y}"


def usable_at(card: GiftCard, merchant: Merchant | None, now: datetime | None = None) -> None:
    """Refuse a card that cannot pay here now.

    Raise CardCancelled, CardFrozen, CardExpired if its status or date forbid use,
    NotValidHere if it is scoped to another merchant or to a network the merchant is not in
    (the same rule as ``giftloop_card_usable`` on PostgreSQL), CurrencyMismatch if the merchant
    trades in another currency.
    """
    now = now or utcnow()
    if card.status == "cancelled":
        raise CardCancelled("This card was cancelled")
    if card.status == "frozen":
        raise CardFrozen("This card is frozen; please contact Giftloop support")
    if card.status == "expired" or card.expires_at <= now:
        raise CardExpired(f"This card expired on {long_date(card.expires_at)}")
    if merchant is None:
        return
    refuse_out_of_scope(card, merchant)
    if merchant.currency != card.currency:
        raise CurrencyMismatch(f"This card is in {card.currency}; {merchant.name} takes {merchant.currency}")


def refuse_out_of_scope(card: GiftCard, merchant: Merchant) -> None:
    """Raise NotValidHere if the card is scoped to another merchant or to a network ``merchant`` is not in."""
    if card.merchant_id is not None and card.merchant_id != merchant.id:
        raise NotValidHere(f"This card can only be used at {card.merchant.name}")
    if card.network_id is not None and merchant not in card.network.merchants:
        raise NotValidHere(
            f"This card works only in the {card.network.name} network, and {merchant.name} is not part of it"
        )


_CHANGEABLE = ("status", "owner_id", "expires_at", "merchant_id", "network_id", "code_id")


def lock_card_and_read(session: Session, card: GiftCard, *also: sa.ColumnElement, by_code: bool = False) -> tuple:
    """Re-read the card's changeable fields under a row lock (FOR UPDATE) before deciding on them,
    and answer the scalar subqueries ``also`` in the same round trip; returns their values.

    ``by_code``: the request names the card by a code (or QR token). Then raise
    NotFound(NO_SUCH_CARD) if the card got a new code since it was read: it changed hands while
    this request waited for the lock, and whoever found it by its old code must not use it.
    """
    session.flush()
    read_with = card.code_id
    row = session.execute(
        sa.select(*(getattr(GiftCard, name) for name in _CHANGEABLE), *also)
        .where(GiftCard.id == card.id)
        .with_for_update(of=GiftCard)
    ).one()
    refresh_card(session, card, dict(zip(_CHANGEABLE, row)))
    if by_code and card.code_id != read_with:
        raise NotFound(NO_SUCH_CARD, field="code")
    return tuple(row[len(_CHANGEABLE):])


def refresh_card(session: Session, card: GiftCard, fresh: dict) -> None:
    """Put the card's changeable fields (those of ``_CHANGEABLE`` in ``fresh``) as just read under
    its lock into the loaded card, without marking it changed."""
    for name, value in fresh.items():
        set_committed_value(card, name, value)
    session.expire(card, ["owner", "merchant", "network"])  # reloaded on use, in step with the ids just read


def lock_card(session: Session, card: GiftCard, *, by_code: bool = False) -> GiftCard:
    """Re-read the card's changeable fields under a row lock (FOR UPDATE) before deciding on them
    (``by_code`` as for ``lock_card_and_read``)."""
    lock_card_and_read(session, card, by_code=by_code)
    return card


def locked_balance(session: Session, card: GiftCard) -> int:
    """The card's balance, read under a row lock on its account so no one changes it meanwhile."""
    balance = session.scalar(
        sa.select(Account.balance).where(Account.id == card.account_id).with_for_update()
    )
    set_committed_value(card.account, "balance", balance)
    return balance

"""Acceptance networks: named sets of merchants (a mall, a franchise). No HTTP here.

A card scoped to a network is taken only by the network's merchants (``portal.cards.lookup.usable_at``,
and ``giftloop_card_usable`` on PostgreSQL); a gift card campaign scoped to one issues such cards.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from portal.cards.lookup import lock_card
from portal.errors import NotFound, ValidationError
from portal.ledger import Actor, audit
from portal.models import GiftCard, Merchant, Network
from portal.models.networks import network_merchants


def check_network_name(session: Session, value: object, network: Network | None = None) -> str:
    """A network's name: 1 to 120 characters, not another network's."""
    name = " ".join(value.split()) if isinstance(value, str) else ""
    if not name or len(name) > 120:
        raise ValidationError("Give the network a name of 1 to 120 characters", field="name")
    taken = session.scalar(sa.select(Network.id).where(sa.func.lower(Network.name) == name.lower()))
    if taken is not None and (network is None or taken != network.id):
        raise ValidationError(f"A network called {name} already exists", field="name")
    return name


def networks(session: Session) -> list[Network]:
    """Every network, by name, with its merchants."""
    return list(session.scalars(sa.select(Network).options(selectinload(Network.merchants)).order_by(Network.name)))


def networks_of(session: Session, merchant: Merchant) -> list[Network]:
    """The networks a merchant is in, by name."""
    return list(session.scalars(
        sa.select(Network).join(network_merchants).where(network_merchants.c.merchant_id == merchant.id).order_by(Network.name)
    ))


def network(session: Session, network_id: int) -> Network:
    """The network with this id. Raise NotFound."""
    found = session.get(Network, network_id)
    if found is None:
        raise NotFound("No network has that number")
    return found


def check_network(session: Session, value: object, field: str = "network") -> Network | None:
    """A network chosen by its id (form text or a number); None when left blank. Raise ValidationError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    found = session.get(Network, int(text)) if text.isascii() and text.isdigit() and len(text) < 12 else None
    if found is None:
        raise ValidationError("Choose one of the networks", field=field)
    return found


def create_network(session: Session, name: object, *, actor: Actor) -> Network:
    """A new network with no merchants yet. Raise ValidationError for a bad or taken name."""
    found = Network(name=check_network_name(session, name))
    session.add(found)
    session.flush()
    audit(session, actor, "network.created", f"network:{found.id}", "", name=found.name)
    return found


def rename_network(session: Session, found: Network, name: object, *, actor: Actor) -> Network:
    """Give the network a new name. Raise ValidationError for a bad or taken name."""
    before, found.name = found.name, check_network_name(session, name, found)
    session.flush()
    audit(session, actor, "network.renamed", f"network:{found.id}", "", before=before, after=found.name)
    return found


def add_merchant(session: Session, found: Network, slug: object, *, actor: Actor) -> Merchant:
    """Add a merchant (by slug) to the network. Raise ValidationError if unknown or already in it."""
    merchant = session.scalar(sa.select(Merchant).where(Merchant.slug == slug)) if isinstance(slug, str) else None
    if merchant is None:
        raise ValidationError("Choose a merchant to add", field="merchant")
    if merchant in found.merchants:
        raise ValidationError(f"{merchant.name} is already in {found.name}", field="merchant")
    found.merchants.append(merchant)
    session.flush()
    audit(session, actor, "network.merchant_added", f"network:{found.id}", "", merchant=merchant.slug)
    return merchant


def remove_merchant(session: Session, found: Network, slug: str, *, actor: Actor) -> Merchant:
    """Take a merchant out of the network: its cards stop working there. Raise NotFound if not a member."""
    merchant = next((m for m in found.merchants if m.slug == slug), None)
    if merchant is None:
        raise NotFound(f"That merchant is not in {found.name}")
    found.merchants.remove(merchant)
    session.flush()
    audit(session, actor, "network.merchant_removed", f"network:{found.id}", "", merchant=merchant.slug)
    return merchant


def set_card_network(session: Session, card: GiftCard, chosen: Network | None, *, actor: Actor) -> GiftCard:
    """Scope a card to a network (None: no network). Raise ValidationError for a card that works at
    one merchant only: a network would not widen it, and a narrower scope would be misleading."""
    lock_card(session, card)  # in step with a payment deciding on the card's scope meanwhile
    if chosen is not None and card.merchant_id is not None:
        raise ValidationError(
            f"This card works only at {card.merchant.name}; it cannot also be scoped to a network", field="network"
        )
    if card.network_id != (chosen.id if chosen else None):
        before = card.network.name if card.network else None
        card.network = chosen
        session.flush()
        audit(session, actor, "card.network", f"card:{card.id}", "", before=before, after=chosen.name if chosen else None)
    return card

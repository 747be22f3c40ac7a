"""The customer's own wallet, Loops, cards and history."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g

from portal.api import bp
from portal.api import schemas as out
from portal.api.contract import operation
from portal.api.models.me import Me, MyCards, MyEntitlements, MyTransactions
from portal.api.models.paging import PageQuery
from portal.api.paging import in_order, keyset, requested_page
from portal.campaigns import active_entitlements
from portal.customer.queries import dashboard_for
from portal.extensions import db
from portal.models import Account, Entry, GiftCard, Transaction, utcnow
from portal.models.campaigns import Entitlement
from portal.web.guards import roles


@bp.get("/me")
@operation("Me", Me)
def me():
    """Who the token acts for

    The user; for a customer also wallet, Loops, tier and the features unlocked now.
    """
    user = g.api_token.user
    body = {"id": user.id, "email": user.email, "name": user.name, "role": user.role}
    if user.role == "merchant":
        body["merchant"] = user.merchant.slug
    if user.is_customer:
        view = dashboard_for(db.session, user)
        body["wallet"] = [{"balance": out.amount(a.balance, a.currency), "currency": a.currency} for a in view.wallets]
        body["loops"] = view.loops
        body["tier"] = view.tier.name
        body["lifetime_loops"] = user.lifetime_loops
        body["loops_to_next_tier"] = view.loops_to_next if view.next_tier else None
        body["entitlements"] = [out.entitlement(e) for e in active_entitlements(db.session, user)]
    return body


@bp.get("/me/cards")
@roles("customer")
@operation("Me", MyCards)
def my_cards(query: PageQuery):
    """The customer's cards

    Most urgent first; the cursor names the last card seen.
    """
    view = dashboard_for(db.session, g.api_token.user)
    cards, cursor = in_order([line.card for line in view.cards], requested_page(query), key=lambda card: card.id)
    return {"cards": [out.card(card) for card in cards], "next_cursor": cursor}


@bp.get("/me/transactions")
@roles("customer")
@operation("Me", MyTransactions)
def my_transactions(query: PageQuery):
    """The customer's history

    Every entry on the customer's cards, wallet or Loops, newest first, a page at a time.
    """
    user = g.api_token.user
    select = (
        sa.select(Transaction.id, Entry.id, Transaction, Entry)
        .join(Entry, Entry.transaction_id == Transaction.id)
        .join(Account, Account.id == Entry.account_id)
        .where(
            sa.or_(
                Account.owner_id == user.id,
                Account.id.in_(sa.select(GiftCard.account_id).where(GiftCard.owner_id == user.id)),
            )
        )
    )
    rows, cursor = keyset(db.session, select, requested_page(query), Transaction.id, Entry.id)
    items = []
    for tx, entry in rows:
        body = out.transaction(tx)
        body.update(amount=out.amount(entry.amount, entry.currency), currency=entry.currency, account=entry.account.kind)
        if entry.account.kind == "card":
            body["card_id"] = tx.card_id
        items.append(body)
    return {"transactions": items, "next_cursor": cursor}


@bp.get("/me/entitlements")
@roles("customer")
@operation("Me", MyEntitlements)
def my_entitlements(query: PageQuery):
    """The customer's features

    Every feature a code, a plan or a gift unlocked, active or expired, with what it gives and until when;
    the newest first, a page at a time. Other systems check a feature here.
    """
    select = sa.select(Entitlement.id, Entitlement).where(Entitlement.user_id == g.api_token.user.id)
    rows, cursor = keyset(db.session, select, requested_page(query), Entitlement.id)
    now = utcnow()
    return {"entitlements": [out.entitlement_state(row, now) for row in rows], "next_cursor": cursor}

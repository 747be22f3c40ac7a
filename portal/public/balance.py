"""Checking a gift card's balance by its code, without an account (DESIGN §7: guessing)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from portal.cards.codes import CodeVault, QrTokens
from portal.cards.lookup import find_card, usable_at
from portal.errors import DomainError, NotFound, ValidationError
from portal.extensions import db
from portal.models import GiftCard, utcnow
from portal.public import bp
from portal.public.forms import BalanceForm
from portal.services import services
from portal.web.guessing import guarded
from portal.web.render import page_or_fragment
from portal.web.responses import no_store, refuse, retry_after

# Unknown, expired, cancelled, frozen and empty cards all get this answer, so the page tells a
# guesser nothing about which codes exist.
NO_BALANCE = "We can't show a balance for that code"


@dataclass
class PublicBalance:
    card: GiftCard
    balance: int
    expires_at: datetime


def public_balance(session: Session, text: str, vault: CodeVault, qr: QrTokens) -> PublicBalance:
    """The balance of a card that can be used now. Raise NotFound(NO_BALANCE) for any other."""
    try:
        card = find_card(session, text, vault, qr)
        usable_at(card, None, utcnow())
    except ValidationError:
        raise  # a typo, caught by the check character before any look-up: it reveals nothing
    except DomainError:
        raise NotFound(NO_BALANCE, field="code") from None
    if card.account.balance == 0:
        raise NotFound(NO_BALANCE, field="code")
    return PublicBalance(card, card.account.balance, card.expires_at)


@bp.route("/balance", methods=["GET", "POST"])
def balance():
    """Check a gift card's balance by its code; failed checks count towards a lock-out."""
    form = BalanceForm()
    result, status, headers = None, 200, {}
    if form.validate_on_submit():
        try:
            with guarded(form.code.data):
                result = public_balance(db.session, form.code.data, services().vault, services().qr)
        except DomainError as error:
            status, headers = refuse(form, error), retry_after(error)
    elif form.errors:
        status = 422
    response = page_or_fragment("public/balance.html", "public/_balance.html", status, form=form, result=result)
    response.headers.update(headers)
    return no_store(response) if result else response

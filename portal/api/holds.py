"""Hold endpoints for tills and shops: reserve an amount on a card, then capture or release it."""

from __future__ import annotations

from portal.api import bp
from portal.api import schemas as out
from portal.api.cards import CARD_REFUSALS, TILL, _actor, _amount, _card_by_code, _card_by_id, _merchant
from portal.api.contract import operation
from portal.api.idempotency import idempotent, request_key
from portal.api.models.holds import CaptureHold, Hold, PlaceHold
from portal.cards import holds
from portal.errors import ValidationError
from portal.extensions import db
from portal.models import Transaction
from portal.models.holds import Hold as HoldRow
from portal.web.guards import roles

# A card frozen, cancelled or expired since its hold was placed cannot pay it (it can still be released).
FINISH_REFUSALS = ("hold_not_open", "frozen", "expired", "cancelled")


def _hold(hold: HoldRow) -> dict:
    """The hold as the API writes it, with its latest transaction (the one that placed or ended it)."""
    return out.hold(hold, db.session.get(Transaction, hold.finished_transaction_id or hold.placed_transaction_id))


@bp.post("/holds")
@roles(*TILL)
@operation("Holds", Hold, status=201, errors=(404,), refusals=CARD_REFUSALS)
@idempotent
def hold_place(json: PlaceHold):
    """Place a hold

    Reserve an amount of the card's available balance for a sale not yet complete: the card is named by its
    code (or QR token) or by the id of a card the caller's user looked up lately. The rules are a payment's.
    The hold lapses after `expires_in_hours` (7 days if not given) unless captured or released first.
    """
    if (json.code is None) == (json.card_id is None):
        raise ValidationError("Give the card's code or its id from a look-up (one of them)", field="code")
    card = _card_by_code(json.code) if json.code is not None else _card_by_id(json.card_id)
    hold = holds.place_hold(
        db.session, card, _amount(json, card.currency), actor=_actor(), idempotency_key=request_key(),
        merchant=_merchant(), reference=json.reference or None, expires_in_hours=json.expires_in_hours,
    )
    return _hold(hold), 201


@bp.get("/holds/<int:hold_id>")
@roles(*TILL)
@operation("Holds", Hold, errors=(404,))
def hold_show(hold_id: int):
    """A hold

    Staff see their own store's holds; admins any.
    """
    return _hold(holds.own_hold(db.session, hold_id, _merchant()))


@bp.post("/holds/<int:hold_id>/capture")
@roles(*TILL)
@operation("Holds", Hold, errors=(404,), refusals=FINISH_REFUSALS)
@idempotent
def hold_capture(hold_id: int, json: CaptureHold):
    """Capture a hold

    Take the held amount, or less, as a payment to the store that placed the hold; the rest goes back to the
    card at once. A hold that was captured, released or has lapsed answers 409 `hold_not_open`.
    """
    merchant = _merchant()
    hold = holds.own_hold(db.session, hold_id, merchant)
    amount = json.money("amount", hold.currency) if json.amount is not None else None
    return _hold(holds.capture_hold(
        db.session, hold_id, amount, actor=_actor(), idempotency_key=request_key(), merchant=merchant,
    ))


@bp.post("/holds/<int:hold_id>/release")
@roles(*TILL)
@operation("Holds", Hold, errors=(404,), refusals=("hold_not_open",))
@idempotent
def hold_release(hold_id: int):
    """Release a hold

    Give the whole held amount back to the card. A hold that was captured, released or has lapsed answers 409
    `hold_not_open`.
    """
    return _hold(holds.release_hold(
        db.session, hold_id, actor=_actor(), idempotency_key=request_key(), merchant=_merchant(),
    ))

"""The till: checkout, undo, today's activity and reports.

Each view parses its form, makes one domain call, commits and renders. A refusal shows its
message by the field it concerns with 422 (429 when locked out for guessing) and changes nothing.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import Response, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user

from portal.cards import operations
from portal.cards.codes import is_qr_token
from portal.cards.lookup import find_card
from portal.errors import DomainError, IdempotencyConflict, NotFound, RateLimited, ValidationError
from portal.extensions import db
from portal.ledger import Actor
from portal.loyalty import points
from portal.merchant import bp, reports
from portal.till import checkout, queries, shopper
from portal.till.card_check import check_card
from portal.till.checkout import Sale
from portal.merchant.forms import (
    ApplyForm, CouponForm, CustomerForm, LookupForm, LoopsForm, SpendLoopsForm, UndoForm, WalletForm, blank,
)
from portal.models import Merchant, utcnow
from portal.money import Money
from portal.services import services
from portal.till.shopper import Shopper
from portal.web.guessing import guarded
from portal.web.render import page_or_fragment
from portal.web.responses import refuse
from portal.web.sessions import background_poll

ALREADY_PAID = "This payment was already made; it is shown below. Scan the card again to take more from it."
ALREADY_AWARDED = "Loops for this sale were already awarded."
ALREADY_TAKEN = "This payment was already made; it is shown below."
# What the customer has back when a payment of each kind is undone.
GIVEN_BACK = {"card": "the card has its money back", "wallet": "the customer has their wallet credit back",
              "loops": "the customer has their Loops back"}
# A coupon's refusals name the order or the customer; at the till they belong by the code field.
COUPON_FIELDS = {"order_total": "code", "customer_email": "code"}


def actor() -> Actor:
    """The signed-in staff member, acting for their store."""
    return Actor(user_id=current_user.id, merchant_id=current_user.merchant_id)


def store() -> Merchant:
    return current_user.merchant


def open_sale(sale_id: str | None, total: Money | None, customer: Shopper | None = None) -> Sale:
    """The sale as the ledger knows it, at this store's counter."""
    return checkout.open_sale(db.session, store(), sale_id, total, vault=services().vault, customer=customer)


def customer_of(form) -> Shopper | None:
    """The customer a posted form names for its sale. Raise ValidationError if tampered with or too old."""
    return shopper.shopper_from_ticket(
        db.session, current_app.config["SECRET_KEY"], form.customer.data, current_user.id, form.sale.data
    )


def answer(response: Response, error: DomainError | None = None) -> Response:
    """Tell a locked-out till when to try again."""
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


# --- Checkout ---------------------------------------------------------------------------------


def fresh(form_class, sale: Sale, prefix: str = "", **data):
    """A new, empty form for this sale (with a new idempotency key if it has one)."""
    total = str(sale.total) if sale.total is not None else ""
    customer = shopper.shopper_ticket(current_app.config["SECRET_KEY"], sale.customer, current_user.id, sale.id)
    return blank(form_class, prefix=prefix, sale=sale.id, total=total, customer=customer, **data)


def sale_of(form) -> Sale:
    """The sale a posted form belongs to, read back from the ledger. Raise ValidationError if tampered with."""
    return open_sale(form.sale.data, checkout.parse_total(form.total.data, store().currency), customer_of(form))


def paying_sale(form) -> Sale:
    """The sale of a form that pays towards it, read once no other payment of it is deciding."""
    checkout.lock_sale(db.session, form.sale.data)
    return sale_of(form)


def focus(
    sale: Sale, undo: dict, *, lookup, loops, apply=None, check=None, coupon=None, customer=None, wallet=None,
    spend=None, **_,
) -> str:
    """Where the cursor goes next, so the whole sale can be done from the keyboard and the scanner."""
    if undo:
        return f"undo-{next(iter(undo))}"
    if customer is not None and (customer.who.errors or customer.form_errors):
        return "who"
    if coupon is not None and (coupon.code.errors or coupon.form_errors):
        return "coupon-code"
    if wallet is not None and (wallet.amount.errors or wallet.form_errors):
        return "wallet-amount"
    if spend is not None and (spend.loops.errors or spend.form_errors):
        return "spend-loops"
    if loops.email.errors or loops.form_errors:
        return "email"
    if apply is not None:
        return "amount"
    if lookup.total.errors:
        return "total"
    if sale.paid:
        return "new-sale"
    if sale.total is None and check is None and not lookup.code.errors:
        return "total"
    return "code"


def screen(sale: Sale, *, status: int = 200, error: DomainError | None = None, **parts) -> Response:
    """The checkout: the page on a first load, the sale fragment for htmx."""
    merchant = store()
    check = parts.get("check")
    if check is not None and check.can_pay and parts.get("apply") is None:
        parts["apply"] = fresh(
            ApplyForm, sale,
            ticket=checkout.card_ticket(current_app.config["SECRET_KEY"], check.card, current_user.id),
            amount=str(check.suggested(sale.due())),
        )
    parts.setdefault("lookup", fresh(LookupForm, sale))
    parts.setdefault("loops", fresh(LoopsForm, sale))
    parts.setdefault("coupon", fresh(CouponForm, sale, prefix="coupon"))
    parts.setdefault("customer", fresh(CustomerForm, sale))
    holds = shopper.holdings(db.session, sale.customer, merchant, utcnow()) if sale.customer else None
    if holds is not None and sale.customer.present and sale.total is not None and not sale.paid:
        due = sale.due()
        parts.setdefault("wallet", fresh(WalletForm, sale, prefix="wallet", amount=str(min(holds.wallet, due))))
        most = min(holds.loops, checkout.loops_for_due(sale.customer.user, sale, merchant))
        parts.setdefault("spend", fresh(SpendLoopsForm, sale, prefix="spend", loops=str(most)))
    undo = parts.pop("undo", {})
    undo_forms = {
        t.transaction.id: undo.get(t.transaction.id) or fresh(UndoForm, sale, prefix=f"undo-{t.transaction.id}")
        for t in sale.tenders
        if not t.undone
    }
    parts.setdefault("focus", focus(sale, undo, **parts))
    response = page_or_fragment(
        "merchant/checkout.html", "merchant/_sale.html", status,
        merchant=merchant, sale=sale, undo_forms=undo_forms, receipt_lines=checkout.receipt_lines(sale),
        loops_offered=checkout.loops_offered(sale, merchant), owner=checkout.card_owner(db.session, sale),
        holds=holds,
        **parts,
    )
    return answer(response, error)


def stale(error: DomainError) -> Response:
    """A form that no longer matches any sale: start over with the reason."""
    db.session.rollback()
    return screen(open_sale(checkout.new_id(), None), status=422, notice=error.message)


@bp.get("/", endpoint="checkout")
def checkout_page():
    """Show the checkout for a new sale: total, card code, scan."""
    return screen(open_sale(checkout.new_id(), None))


@bp.post("/lookup")
def lookup():
    """Set the purchase total and look a card up by code or QR token: balance, expiry, valid here."""
    form = LookupForm()
    merchant = store()
    try:
        sale = open_sale(form.sale.data, None, customer_of(form))
    except DomainError as error:
        return stale(error)
    try:
        typed = checkout.parse_total(form.total.data, merchant.currency)
        if sale.coupon is None:  # once a coupon is used, the total it was worked out on stays
            sale.total = typed
        if not (form.code.data or "").strip():
            if sale.total is None:
                raise ValidationError("Scan or type the card's code", field="code")
            return screen(sale, focus="code")
        with guarded():
            card = find_card(db.session, form.code.data, services().vault, services().qr)
    except DomainError as error:
        return screen(sale, status=refuse(form, error), error=error, lookup=form)
    if sale.customer is None and card.owner is not None and is_qr_token(form.code.data):
        sale.customer = Shopper(card.owner, present=True)  # the QR is on the owner's phone: they are here
    return screen(sale, check=check_card(db.session, card, merchant, utcnow(), staff=current_user))


@bp.post("/customer")
def customer():
    """Name the sale's customer by e-mail, customer code or a card's QR: their name and what they can use here."""
    form = CustomerForm()
    try:
        sale = sale_of(form)
    except DomainError as error:
        return stale(error)
    try:
        with guarded():
            sale.customer = shopper.identify(
                db.session, form.who.data, codes=services().customer_codes, vault=services().vault, qr=services().qr
            )
    except DomainError as error:
        return screen(sale, status=refuse(form, error, {"code": "who"}), error=error, customer=form)
    return screen(sale)


@bp.post("/apply")
def apply():
    """Take the amount from the looked-up card for this sale and show the receipt."""
    form = ApplyForm()
    merchant = store()
    try:
        sale = paying_sale(form)
    except DomainError as error:
        return stale(error)
    card = None
    try:
        card = checkout.card_from_ticket(db.session, current_app.config["SECRET_KEY"], form.ticket.data, current_user.id)
        key = checkout.web_key(form.key.data)
        amount = Money.parse(form.amount.data, merchant.currency)
        checkout.check_amount(amount, sale, key)
        paid = operations.redeem(
            db.session, card, amount, actor=actor(), idempotency_key=key, merchant=merchant, reference=sale.reference,
            receipt=not checkout.on_sale_receipt(sale, card),
        )
        checkout.send_receipt_if_paid(db.session, sale_of(form), merchant)
        db.session.commit()
    except IdempotencyConflict:
        db.session.rollback()
        return screen(sale_of(form), status=422, notice=ALREADY_PAID)
    except DomainError as error:
        status = refuse(form, error)
        if card is None:  # the look-up is too old or was tampered with: scan the card again
            return screen(sale_of(form), status=status, notice=error.message)
        return screen(sale_of(form), status=status, check=check_card(db.session, card, merchant, utcnow(), staff=current_user), apply=form)
    return screen(sale_of(form), receipt=paid)


@bp.post("/coupon")
def coupon():
    """Take a coupon's discount off the sale before any card pays: one use counted, the new total shown."""
    form = CouponForm(prefix="coupon")
    try:
        sale = sale_of(form)
    except DomainError as error:
        return stale(error)
    if sale.coupon is not None:
        return screen(sale, status=422, notice=checkout.ONE_COUPON)
    try:
        with guarded():
            checkout.add_coupon(
                db.session, services().vault, sale, store(), form.code.data, user_id=current_user.id
            )
        db.session.commit()
    except DomainError as error:
        if error.field == "customer_email" and sale.customer is None:
            # The coupon needs a customer: ask for one in the customer field, with the reason.
            named = fresh(CustomerForm, sale)
            return screen(sale_of(form), status=refuse(named, error, {"customer_email": "who"}), error=error,
                          customer=named, coupon=form)
        status = refuse(form, error, COUPON_FIELDS)
        again = sale_of(form)
        if again.coupon is not None:  # another till used one for this sale meanwhile
            return screen(again, status=status, error=error, notice=checkout.ONE_COUPON)
        return screen(again, status=status, error=error, coupon=form)
    return screen(sale_of(form))


def take(form, part: str, pay) -> Response:
    """Take a payment from the sale's customer (``pay(sale, key)``) and show the sale with what is left;
    a refusal comes back in the form drawn as ``part``."""
    try:
        sale = paying_sale(form)
    except DomainError as error:
        return stale(error)
    try:
        transaction = pay(sale, checkout.web_key(form.key.data))
        checkout.send_receipt_if_paid(db.session, sale_of(form), store())
        db.session.commit()
    except IdempotencyConflict:
        db.session.rollback()
        return screen(sale_of(form), status=422, notice=ALREADY_TAKEN)
    except DomainError as error:
        status = refuse(form, error)
        if error.field is None:  # about the sale, not the field (say the customer is not here): on top
            return screen(sale_of(form), status=status, error=error, notice=error.message)
        return screen(sale_of(form), status=status, error=error, **{part: form})
    after = sale_of(form)
    [tender] = [t for t in after.tenders if t.transaction.id == transaction.id]
    return screen(after, notice_ok=f"{tender.label}: {tender.applied.display()} paid; {after.due().display()} still to pay.")


@bp.post("/wallet")
def pay_wallet():
    """Pay part or all of the sale from the customer's wallet credit."""
    form = WalletForm(prefix="wallet")
    return take(form, "wallet", lambda sale, key: checkout.pay_by_wallet(
        db.session, sale, store(), form.amount.data, actor=actor(), idempotency_key=key))


@bp.post("/spend-loops")
def pay_loops():
    """Take whole Loops off the sale at the customer's rate here."""
    form = SpendLoopsForm(prefix="spend")
    return take(form, "spend", lambda sale, key: checkout.pay_by_loops(
        db.session, sale, store(), form.loops.data, actor=actor(), idempotency_key=key))


@bp.post("/loops")
def award_loops():
    """Award the purchase's Loops to the customer named by e-mail, or to the owner of a card used."""
    form = LoopsForm()
    merchant = store()
    try:
        sale = sale_of(form)
    except DomainError as error:
        return stale(error)
    try:
        if sale.total is None:
            raise ValidationError("Enter the purchase total first", field="email")
        customer = checkout.loops_customer(db.session, sale, form.email.data)
        points.earn(db.session, customer, sale.total_after, merchant, actor=actor(), idempotency_key=checkout.loops_key(sale.id))
        db.session.commit()
    except IdempotencyConflict:
        db.session.rollback()
        return screen(sale_of(form), status=422, notice=ALREADY_AWARDED)
    except DomainError as error:
        return screen(sale, status=refuse(form, error), loops=form)
    return screen(sale_of(form))


# --- Undo ---------------------------------------------------------------------------------------


def counter_transaction_or_404(transaction_id: int):
    try:
        return queries.counter_transaction(db.session, store(), transaction_id)
    except NotFound:
        abort(404)


def undo_page(transaction, form: UndoForm, status: int = 200):
    """One transaction of this counter with its undo form, or the reason it cannot be undone here."""
    today = utcnow().date()
    [line] = queries.lines_for(db.session, store(), [transaction], today)
    return page_or_fragment("merchant/undo.html", "merchant/_undo.html", status, line=line, form=form, today=today)


@bp.get("/transactions/<int:transaction_id>/undo")
def undo_form(transaction_id: int):
    """Ask why a transaction made at this counter today should be undone (older ones go to an admin)."""
    transaction = counter_transaction_or_404(transaction_id)
    return undo_page(transaction, blank(UndoForm, prefix=f"undo-{transaction_id}"))


@bp.post("/transactions/<int:transaction_id>/undo")
def undo(transaction_id: int):
    """Undo a transaction made at this counter today, with a reason; back to the sale or the activity."""
    form = UndoForm(prefix=f"undo-{transaction_id}")
    transaction = counter_transaction_or_404(transaction_id)
    in_sale = bool(form.sale.data)
    try:
        sale = sale_of(form) if in_sale else None
        key = checkout.web_key(form.key.data)
    except DomainError as error:
        return stale(error)
    try:
        operations.reverse(
            db.session, transaction.id, actor=actor(), idempotency_key=key, reason=form.reason.data, staff_merchant=store()
        )
        db.session.commit()
    except DomainError as error:
        status = refuse(form, error)
        if sale is not None:
            return screen(sale, status=status, undo={transaction_id: form})
        return undo_page(counter_transaction_or_404(transaction_id), form, status)
    if sale is not None:
        back = GIVEN_BACK[queries.tender_source(transaction)]
        return screen(sale_of(form), notice_ok=f"Payment #{transaction_id} was undone: {back}.")
    flash(f"Transaction #{transaction_id} was undone.")
    return redirect(url_for("merchant.activity"), 303)


# --- Activity and reports -------------------------------------------------------------------------


def asked_day(today: date) -> date:
    try:
        return date.fromisoformat(request.args.get("day") or today.isoformat())
    except ValueError:
        return today


@bp.get("/activity")
def activity():
    """The day's transactions at this counter, newest first; today's list refreshes itself."""
    if request.headers.get("HX-Trigger") == "activity":
        background_poll()  # the list asking for itself: no visit, so a till left open still goes idle
    merchant = store()
    today = utcnow().date()
    day = min(asked_day(today), today)
    span = reports.Period(day, day)
    return page_or_fragment(
        "merchant/activity.html", "merchant/_activity.html",
        lines=queries.activity(db.session, merchant, day, today), day=day, today=today,
        previous=day - timedelta(days=1), following=day + timedelta(days=1),
        totals=reports.totals(db.session, merchant, span), merchant=merchant,
    )


def asked_period() -> tuple[reports.Period, ValidationError | None]:
    today = utcnow().date()
    try:
        return reports.period(request.args.get("from"), request.args.get("to"), today), None
    except ValidationError as error:
        return reports.period(None, None, today), error


@bp.get("/reports")
def reports_page():
    """Totals per kind and the settlement for a period, with CSV downloads of both."""
    merchant = store()
    span, error = asked_period()
    return page_or_fragment(
        "merchant/reports.html", "merchant/_reports.html", 422 if error else 200,
        span=span, error=error, merchant=merchant,
        totals=reports.totals(db.session, merchant, span), settlement=reports.settlement(db.session, merchant, span),
        issuers=reports.accepted_from_others(db.session, merchant, span),
        asked={"from": request.args.get("from", span.start.isoformat()), "to": request.args.get("to", span.end.isoformat())},
    )


def csv_download(text: str, name: str) -> Response:
    response = Response(text, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def report_csv(name: str, build) -> Response:
    """One of the store's reports for the asked period (400 for a bad one) as a CSV download;
    ``build(merchant, span)`` writes its text."""
    merchant = store()
    span, error = asked_period()
    if error:
        abort(400)
    return csv_download(build(merchant, span), f"{merchant.slug}-{name}-{span.slug()}.csv")


@bp.get("/reports/totals.csv")
def totals_csv():
    """The totals per kind for a period, as CSV."""
    return report_csv("totals", lambda merchant, span: reports.totals_csv(
        merchant, span, reports.totals(db.session, merchant, span)))


@bp.get("/reports/issuers.csv")
def issuers_csv():
    """What was accepted from cards other issuers sold in a period, as CSV."""
    return report_csv("issuers", lambda merchant, span: reports.issuers_csv(
        merchant, span, reports.accepted_from_others(db.session, merchant, span)))


@bp.get("/reports/settlement.csv")
def settlement_csv():
    """The settlement for a period, as CSV."""
    return report_csv("settlement", lambda merchant, span: reports.settlement_csv(
        merchant, reports.settlement(db.session, merchant, span)))

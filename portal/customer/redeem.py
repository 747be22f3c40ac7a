"""One field for any code: a gift card, a friend's claim code, a credit code or a feature unlock."""

from __future__ import annotations

from flask import url_for
from flask_login import current_user

from portal.claims import redeem_any
from portal.customer import bp
from portal.customer.forms import RedeemForm
from portal.errors import DomainError
from portal.extensions import db
from portal.services import services
from portal.web.guessing import guarded
from portal.web.render import done, page_or_fragment
from portal.web.responses import refuse, retry_after


@bp.route("/redeem", methods=["GET", "POST"])
def redeem():
    """Redeem any code: a gift card or a friend's card joins the wallet, a credit code fills it, a feature unlocks."""
    form = RedeemForm()
    status, headers = 200, {}
    if form.validate_on_submit():
        try:
            with guarded(form.code.data):
                redeemed = redeem_any(db.session, services().vault, services().qr, form.code.data, current_user)
        except DomainError as error:
            status, headers = refuse(form, error, {"claim_code": "code", "gift_code": "code"}), retry_after(error)
        else:
            db.session.commit()
            where = url_for(".card", card_id=redeemed.card.id) if redeemed.card else url_for(".dashboard")
            return done(where, redeemed.message)
    elif form.errors:
        status = 422
    response = page_or_fragment("customer/redeem.html", "customer/_redeem.html", status, form=form)
    response.headers.update(headers)
    return response

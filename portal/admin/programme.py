"""The programme's limits per currency: what the shop may sell and a card may hold (audited)."""

from __future__ import annotations

from flask import render_template, request, url_for

from portal.admin import bp
from portal.admin.responses import actor
from portal.errors import ValidationError
from portal.extensions import db
from portal.orders.programme import LIMIT_NAMES, programme_for, set_limits
from portal.shop import shop_currency
from portal.web.render import done


@bp.get("/programme")
def programme():
    """Show the limits of the shop's currency."""
    return render_template("admin/programme.html", programme=programme_for(db.session, shop_currency()),
                           names=LIMIT_NAMES, form=None, error=None)


@bp.post("/programme")
def programme_save():
    """Set the limits; a bad value says which and why, and changes nothing."""
    currency = shop_currency()
    try:
        set_limits(db.session, actor(), currency, request.form)
    except ValidationError as error:
        db.session.rollback()
        return render_template("admin/programme.html", programme=programme_for(db.session, currency),
                               names=LIMIT_NAMES, form=request.form, error=error), 400
    db.session.commit()
    return done(url_for(".programme"), f"The {currency} programme limits are saved.")

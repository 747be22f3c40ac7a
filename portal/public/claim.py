"""The link a friend follows to claim a card: sign in or sign up first, then it is theirs."""

from __future__ import annotations

from flask import make_response, render_template, url_for

from portal.customer.forms import RedeemForm
from portal.public import bp
from portal.web.responses import no_store


@bp.get("/claim")
@bp.get("/claim/<claim_code>")
def claim(claim_code: str = ""):
    """Explain the gift and offer to sign in, sign up, or (signed in) add it to the wallet."""
    form = RedeemForm(code=claim_code)
    here = url_for("public.claim", claim_code=claim_code) if claim_code else url_for("public.claim")
    return no_store(make_response(render_template("public/claim.html", form=form, claim_code=claim_code, here=here)))

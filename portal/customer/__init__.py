"""The customer portal: wallet, Loops, cards (designed for a phone first)."""

from flask import Blueprint

from portal.web.guards import protect

bp = Blueprint("customer", __name__)
protect(bp, ("customer",))

from portal.customer import cards, gifting, gifts, loops, orders, paid_topups, redeem, routes, topup  # noqa: E402,F401

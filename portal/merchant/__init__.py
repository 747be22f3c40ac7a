"""The merchant till: checkout, counter sales, activity and reports."""

from flask import Blueprint

from portal.web.guards import protect

bp = Blueprint("merchant", __name__)
protect(bp, ("merchant",))

from portal.merchant import routes, sales, webhooks  # noqa: E402,F401

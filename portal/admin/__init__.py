"""The admin console: overview, campaigns, cards, merchants, users, audit."""

from flask import Blueprint

from portal.web.guards import protect

bp = Blueprint("admin", __name__)
protect(bp, ("admin",))

from portal.admin import routes  # noqa: E402,F401

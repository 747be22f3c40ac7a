"""The admin console: overview, campaigns, cards, merchants, users, audit (one module each)."""

from datetime import datetime, timedelta

from flask import Blueprint, render_template

from portal.campaigns.conditions import describe_timeframe
from portal.campaigns.rules import KIND_NAMES, describe_value
from portal.errors import NotFound
from portal.web.guards import protect

bp = Blueprint("admin", __name__)
protect(bp, ("admin",))


def last_day(moment: datetime) -> datetime:
    """The last moment a code is valid: an expiry "through 31 March" is stored as the midnight after."""
    return moment - timedelta(microseconds=1)


@bp.context_processor
def _names():
    return {"kind_names": KIND_NAMES, "describe": describe_value, "timeframe": describe_timeframe, "last_day": last_day}


@bp.errorhandler(NotFound)
def _not_found(error: NotFound):
    """A campaign, card, merchant or person that does not exist is a plain 404 page."""
    return render_template("errors/error.html", status=404, message=error.message), 404


from portal.admin import audit, campaigns, cards, lockouts, merchants, networks, orders, overview, programme, users, webhooks  # noqa: E402,F401,E501

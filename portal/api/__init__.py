"""The JSON API (DESIGN §5): bearer tokens, problem documents, idempotent writes."""

from flask import Blueprint, abort

from portal.api.ratelimit import limit_tokens
from portal.api.tokens import authenticate_request, token_user
from portal.web.guards import protect
from portal.errors import DomainError
from portal.extensions import db
from portal.web.problems import from_domain_error, problem

MAX_ID = 2**63 - 1  # ids are BIGINT
bp = Blueprint("api", __name__)
bp.before_request(authenticate_request)
limit_tokens(bp)  # checked before any of the hooks below: a call the role check refuses counts too
protect(
    bp,
    ("customer", "merchant", "admin"),
    identify=token_user,
    unauthenticated=lambda: problem(
        "unauthorized", "Send a valid token as 'Authorization: Bearer <token>'.",
        headers={"WWW-Authenticate": 'Bearer realm="giftloop"'},
    ),
    forbidden=lambda: problem("forbidden", "This token's role may not call this endpoint."),
)
# Bodies and queries are read by each view's declared schemas (portal.api.contract), after the token and
# role checks above: a stranger learns nothing of the fields.


@bp.url_value_preprocessor
def _ids_fit_the_database(endpoint, values):
    """An id in a path beyond the database's 64-bit range names nothing: 404, not a failed query."""
    if any(isinstance(v, int) and v > MAX_ID for v in (values or {}).values()):
        abort(404)


@bp.errorhandler(DomainError)
def _refused(error: DomainError):
    """A refused operation answers with its problem document; nothing was changed."""
    db.session.rollback()
    return from_domain_error(error)


from portal.api import cards, checkout, coupons, customer, docs, events, gifts, holds, me, orders, retired  # noqa: E402,F401

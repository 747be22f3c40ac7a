"""The JSON API (DESIGN §5): bearer tokens, problem documents, idempotent writes."""

from flask import Blueprint

from portal.api.tokens import authenticate_request, token_user
from portal.web.guards import protect
from portal.errors import DomainError
from portal.extensions import db
from portal.web.problems import from_domain_error, problem

bp = Blueprint("api", __name__)
bp.before_request(authenticate_request)
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



@bp.errorhandler(DomainError)
def _refused(error: DomainError):
    """A refused operation answers with its problem document; nothing was changed."""
    db.session.rollback()
    return from_domain_error(error)


from portal.api import cards, coupons, customer, me, openapi  # noqa: E402,F401

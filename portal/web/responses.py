"""How views of every blueprint answer a posted form, a refusal, a rate limit, and a page that shows a secret."""

from __future__ import annotations

from flask import request

from portal.errors import DomainError, IdempotencyConflict, RateLimited, ValidationError
from portal.extensions import db
from portal.web.forms import new_key, show_domain_error

ALREADY_SENT = "This form was already sent with other details. Please check the result, then try again."


def refuse(form, error: DomainError, field_names: dict[str, str] | None = None) -> int:
    """Undo whatever the refused call began, put the reason by its field (or above the form), and
    give the status to answer with: 429 when rate-limited, else 422."""
    db.session.rollback()
    if isinstance(error, IdempotencyConflict) and hasattr(form, "idempotency_key"):
        # The same form sent again with other values (say after the back button): a fresh key
        # lets the next submission through as a new request.
        error = ValidationError(ALREADY_SENT)
        form.idempotency_key.data = new_key()
    show_domain_error(form, error, field_names)
    return 429 if isinstance(error, RateLimited) else 422


def on_submit(form, change, answer, page, refusal=refuse):
    """A page with a form: when valid input is posted, run ``change``, commit and give
    ``answer(result)``; otherwise ``page(status)``, the page drawn with the form: 200 on a GET,
    422 for invalid input, and a refusal's status (``refusal``, ``refuse`` unless a page shows
    its errors its own way) with its reason by its field."""
    if not form.validate_on_submit():
        return page(422 if request.method == "POST" else 200)
    try:
        result = change()
    except DomainError as error:
        return page(refusal(form, error))
    db.session.commit()
    return answer(result)


def retry_after(error: DomainError) -> dict[str, str]:
    """The Retry-After header a rate-limited answer carries."""
    return {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited) else {}


def no_store(response):
    """A response showing a code: kept by no cache and no back-button snapshot."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response

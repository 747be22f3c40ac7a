"""Settings → API tokens: every user makes tokens for their programs, sees them, and revokes them.

A new token is shown in the answer to the request that made it and never again (only its
SHA-256 is kept), so it is rendered straight away rather than carried through a redirect.
"""

from __future__ import annotations

from flask import render_template, url_for
from flask_login import current_user

from portal.auth.forms import TokenForm
from portal.auth.blueprint import bp
from portal.errors import DomainError
from portal.extensions import db
from portal.models import utcnow
from portal.tokens import create_token, live_tokens, own_token, revoke_token
from portal.web.guards import roles
from portal.web.render import done, page_or_fragment
from portal.web.responses import on_submit

EVERY_ROLE = ("customer", "merchant", "admin")


def _tokens_page(form: TokenForm, status: int = 200, new_token: str | None = None):
    return page_or_fragment(
        "auth/tokens.html", "auth/_tokens.html", status,
        form=form, tokens=live_tokens(db.session, current_user), new_token=new_token, now=utcnow(),
    )


@bp.get("/settings/tokens")
@roles(*EVERY_ROLE)
def tokens():
    """The user's API tokens and a form to make one."""
    return _tokens_page(TokenForm())


@bp.post("/settings/tokens")
@roles(*EVERY_ROLE)
def token_create():
    """Make a token and show it, this once."""
    form = TokenForm()
    return on_submit(
        form, lambda: create_token(db.session, current_user, form.name.data, expires_in_days=form.expires_in_days.data),
        lambda made: _tokens_page(TokenForm(formdata=None), 201, new_token=made[1]),
        lambda status: _tokens_page(form, status),
    )


def _not_yours(error: DomainError):
    """The revoke page for a token that is not (or no longer) one of the user's."""
    return render_template("auth/token_revoke.html", token=None, error=error.message), 404


@bp.get("/settings/tokens/<int:token_id>/revoke")
@roles(*EVERY_ROLE)
def token_revoke_confirm(token_id: int):
    """Ask before revoking a token: programs that use it stop working."""
    try:
        token = own_token(db.session, current_user, token_id)
    except DomainError as error:
        return _not_yours(error)
    return render_template("auth/token_revoke.html", token=token)


@bp.post("/settings/tokens/<int:token_id>/revoke")
@roles(*EVERY_ROLE)
def token_revoke(token_id: int):
    """Revoke a token for good."""
    try:
        token = revoke_token(db.session, current_user, token_id)
    except DomainError as error:
        return _not_yours(error)
    db.session.commit()
    return done(url_for(".tokens"), f"The token “{token.name}” is revoked; programs using it are refused from now on.")

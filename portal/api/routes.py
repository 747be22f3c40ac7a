from flask import g

from portal.api import bp


@bp.get("/me")
def me():
    """Who the token acts for."""
    user = g.api_token.user
    return {"id": user.id, "email": user.email, "role": user.role, "name": user.name}

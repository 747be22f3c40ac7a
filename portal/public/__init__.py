"""Pages anyone may see: the front page, a balance check by code, and claiming a friend's card."""

from flask import Blueprint

bp = Blueprint("public", __name__)

from portal.public import balance, claim, routes  # noqa: E402,F401

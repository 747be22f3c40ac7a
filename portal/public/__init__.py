"""Pages anyone may see: the front page (balance check and transfer claims come later)."""

from flask import Blueprint

bp = Blueprint("public", __name__)

from portal.public import routes  # noqa: E402,F401

"""The account pages' blueprint: sign-in and password (``routes``) and API tokens (``tokens``) join it."""

from flask import Blueprint

from portal.web.guards import protect

bp = Blueprint("auth", __name__)
protect(bp, None)

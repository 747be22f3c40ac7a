"""The till's webhooks: endpoints that hear this merchant's own events."""

from portal.merchant import bp
from portal.web import webhooks

bp.register_blueprint(webhooks.bp)

"""The admins' webhooks: endpoints that hear every event."""

from portal.admin import bp
from portal.web import webhooks

bp.register_blueprint(webhooks.bp)

"""The admins' webhooks: endpoints that hear every event."""

from portal.admin import bp
from portal.web.webhooks import register

register(bp, scope=lambda: None, layout="layouts/admin.html")

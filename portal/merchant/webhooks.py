"""The till's webhooks: endpoints that hear this merchant's own events."""

from flask_login import current_user

from portal.merchant import bp
from portal.web.webhooks import register

register(bp, scope=lambda: current_user.merchant_id, layout="layouts/merchant.html")

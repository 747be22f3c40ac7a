"""E-mail: the outbox, rendering from paired templates, and sending by SMTP or to .eml files."""

from portal.notifications.outbox import failed_messages, queue_email, requeue

__all__ = ["failed_messages", "queue_email", "requeue"]

"""Log lines with codes masked (DESIGN §7): the app's own, the dev server's and gunicorn's.

A client that still puts a code in a URL, or an error whose message quotes one, must not leave it
in a log file. The filter sits on the loggers (not their handlers), so gunicorn re-creating its
handlers on a reload keeps it; it runs in each process that builds the app.
"""

from __future__ import annotations

import logging

from flask import Flask

from portal.cards.codes import mask_codes

# gunicorn.access carries every request line; werkzeug is the development server's request log.
MASKED_LOGGERS = ("gunicorn.access", "gunicorn.error", "werkzeug")


class MaskCodes(logging.Filter):
    """Rewrite a record's message and traceback with every code-shaped part masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed call must not raise here, in the caller's code
            message = f"{record.msg} {record.args}"
        record.msg, record.args = mask_codes(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_codes(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_codes(record.stack_info)
        return True


def init_app(app: Flask) -> None:
    masking = MaskCodes()
    for logger in (app.logger, *map(logging.getLogger, MASKED_LOGGERS)):
        if not any(isinstance(f, MaskCodes) for f in logger.filters):
            logger.addFilter(masking)

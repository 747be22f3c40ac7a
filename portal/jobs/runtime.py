"""One app per worker process, and an app context around each job."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, has_app_context

_app: Flask | None = None
_fork_hook_installed = False


def bind(app: Flask) -> None:
    """Make ``app`` the app of this process's jobs (``portal worker`` calls this before it forks).

    RQ runs each job in a forked child; the child inherits the app, but must not use the parent's
    database connections, so the engines' pools are replaced in every child.
    """
    global _app, _fork_hook_installed
    _app = app
    if not _fork_hook_installed:
        os.register_at_fork(after_in_child=_fresh_connections_in_child)
        _fork_hook_installed = True


def prepare(app: Flask) -> None:
    """Do once, when ``portal worker`` starts, what the e-mail jobs would otherwise pay for, each
    again if it runs in a forked child: import their modules, compile their templates into Jinja's
    cache, and load the TLS settings when SMTP_URL asks for TLS."""
    import portal.jobs.email  # noqa: F401
    import portal.notifications.delivery  # noqa: F401
    from portal.notifications.sending import parse_smtp_url, tls_context

    env = app.jinja_env
    for name in env.list_templates(filter_func=lambda name: name.startswith("email/")):
        env.get_template(name)
    try:
        settings = parse_smtp_url(app.config["SMTP_URL"]) if app.config.get("SMTP_URL") else None
    except ValueError:
        settings = None  # each send reports the bad URL where the operator looks: the message's error
    if settings and (settings.ssl or settings.starttls):
        tls_context()


def _fresh_connections_in_child() -> None:
    if _app is None:
        return
    from portal.extensions import db

    with _app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)  # forget the parent's connections without closing them


def worker_app() -> Flask:
    """The app bound to this process, built from the environment on first use."""
    global _app
    if _app is None:
        from portal import create_app

        _app = create_app()
    return _app


@contextmanager
def app_context() -> Iterator[Flask]:
    """An app context for one job: a fresh one of the process's app (its session ends with it),
    or the caller's own when a job function is called directly inside an app (inline, tests)."""
    if _app is None and has_app_context():
        yield current_app._get_current_object()
        return
    app = worker_app()
    with app.app_context():
        yield app

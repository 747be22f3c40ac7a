"""One app per worker process, and an app context around each job."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session

from portal.extensions import db

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


def _fresh_connections_in_child() -> None:
    if _app is None:
        return
    with _app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)  # forget the parent's connections without closing them


def worker_app() -> Flask:
    """The app bound to this process, built from the environment on first use."""
    global _app
    if _app is None:
        # Here, not above: ``portal`` imports the jobs (its CLI runs the sweeps).
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


def relay_waiting(
    waiting_ids: Callable[[Session], list[int]], relay: Callable[[list[int]], int], log: logging.Logger, message: str
) -> int:
    """Offer every row that waits (Redis was down, a worker died) to its send job again; ``message``
    logs how many waited and how many were newly offered."""
    with app_context():
        with Session(db.engine) as session:
            ids = waiting_ids(session)
        enqueued = relay(ids)
        if ids:
            log.info(message, len(ids), enqueued)
        return enqueued

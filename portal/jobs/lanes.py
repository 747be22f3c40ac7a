"""Lanes: one job's batches run in a few threads at once, each with its own session and transaction.

On two cores Python builds the next batch on one while PostgreSQL writes another on the other.
Only for work whose batches cannot collide: each takes rows no other lane can (its own count of
new codes; due cards claimed ``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask, current_app
from sqlalchemy.orm import Session

from portal.extensions import db


def lanes_setting(name: str, default: int = 2) -> int:
    """How many lanes the setting ``name`` asks for: one (the caller's own session) unless the
    database is PostgreSQL, since SQLite has one writer."""
    if db.session.get_bind().dialect.name != "postgresql":
        return 1
    return max(1, int(current_app.config.get(name, default)))


def run_in_lanes(app: Flask, lanes: int, step: Callable[[Session], bool], *, name: str) -> None:
    """Call ``step`` in each of ``lanes`` threads, committing after every call, until it answers
    False in that lane. The first failure stops every lane after its current step and is raised here.
    One lane is the caller's own session, in this thread."""
    if lanes <= 1:
        session = db.session
        while step(session):
            session.commit()
        session.commit()
        return
    failures: list[BaseException] = []

    def lane() -> None:
        with app.app_context():
            session = db.session
            try:
                while not failures and step(session):
                    session.commit()
                session.commit()
            except BaseException as error:  # noqa: BLE001 - raised by run_in_lanes below
                session.rollback()
                failures.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=lane, name=f"{name}-lane-{n}") for n in range(lanes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]

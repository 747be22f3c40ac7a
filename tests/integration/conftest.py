"""Fixtures of the integration tier: the SMTP server, the app with Redis and SMTP (or with Redis
down), `portal worker` subprocesses, and the app whose webhooks go through RQ."""

from __future__ import annotations

import pytest

from portal.auth.users import create_user
from portal.extensions import db
from portal.merchants import create_merchant
from tests.conftest import PASSWORD, make_app
from tests.processes import Mailbox, WorkerProcess, free_port, serving


@pytest.fixture
def smtp():
    """A live SMTP server on a free port; ``smtp.mailbox`` holds what it accepted."""
    mailbox = Mailbox()
    with serving(mailbox) as controller:
        yield controller
        mailbox.release.set()


@pytest.fixture
def jobs_app(pg_app, pg_url, redis_url, smtp):
    """The app on the test database with Redis and the SMTP server: e-mail goes through RQ."""
    app = make_app(pg_url, REDIS_URL=redis_url, SMTP_URL=smtp.url)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def redis_down_app(pg_app, pg_url, smtp):
    """The same app with REDIS_URL pointing at a port where nothing listens."""
    app = make_app(pg_url, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", SMTP_URL=smtp.url)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def start_worker(pg_url, redis_url, smtp, tmp_path):
    """Start `portal worker` subprocesses; every one is stopped at the end of the test."""
    started: list[WorkerProcess] = []

    def start(**env: str) -> WorkerProcess:
        worker = WorkerProcess(pg_url, redis_url, smtp.url, tmp_path / "worker.log", **env).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def hooks_app(pg_app, pg_url, redis_url):
    """The app on PostgreSQL with Redis (deliveries go through RQ), retrying at once and waiting
    a second for a receiver, allowed to send to 127.0.0.1; a café with staff."""
    app = make_app(
        pg_url, REDIS_URL=redis_url, WEBHOOK_ALLOW_PRIVATE_URLS=True, WEBHOOK_TIMEOUT_SECONDS=1,
        WEBHOOK_RETRY_INTERVALS=[0, 0, 0, 0, 0, 0, 0],
    )
    with app.app_context():
        cafe = create_merchant(db.session, "corner-cafe", "Corner Café")
        create_user(db.session, "staff@example.com", PASSWORD, role="merchant", merchant=cafe)
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()

"""Fixtures for every kind of test: the app on SQLite or PostgreSQL, Redis, a live server,
and headless Chromium. Integration and browser fixtures live here so any test can combine them."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import sqlite3
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from portal import create_app
from portal.extensions import db

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _redis_url_of_this_process() -> str:
    """TEST_REDIS_URL for a plain run; under pytest-xdist each worker takes the next index, so one
    worker's flush never empties another's."""
    base, _, index = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9").rpartition("/")
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    return f"{base}/{int(index) + worker}"


REDIS_URL = _redis_url_of_this_process()


@sa.event.listens_for(sa.engine.Engine, "connect")
def _sqlite_without_fsync(dbapi_connection, _record) -> None:
    """Test databases on SQLite skip fsync: a test never survives a power cut, and each commit's
    fsync was most of the unit tier's time. PostgreSQL, where durability matters, is untouched."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA synchronous = OFF")


def make_app(database_url: str, **overrides):
    """An app for tests: real settings, cheaper password hashing, no real secrets."""
    config = {
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET,
        "PORTAL_CODE_KEY": TEST_SECRET + "-codes",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": None,
        # Production keeps the OWASP minimum (tested in test_passwords); tests need speed.
        "ARGON2_MEMORY_KIB": 1024,
        "ARGON2_TIME_COST": 1,
        "SERVER_NAME": None,
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture(scope="session")
def sqlite_schema(tmp_path_factory) -> str:
    """A SQLite file with the schema of the models, built once per run (a second each time)."""
    path = tmp_path_factory.mktemp("schema") / "portal.db"
    app = make_app(f"sqlite:///{path}")
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    return str(path)


@pytest.fixture
def app(tmp_path, sqlite_schema):
    """The app on a fresh SQLite file with the schema of the models (a copy of the built one)."""
    shutil.copyfile(sqlite_schema, tmp_path / "portal.db")
    app = make_app(f"sqlite:///{tmp_path / 'portal.db'}", OUTBOX_DIR=str(tmp_path / "outbox"))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# --- PostgreSQL -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL database of this run's own, built by the migrations, dropped at the end."""
    name = f"giftloop_test_{secrets.token_hex(4)}"
    admin = sa.create_engine(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    app = make_app(url)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_app(pg_url):
    """The app on PostgreSQL; every table is emptied after the test."""
    app = make_app(pg_url)
    yield app
    with app.app_context():
        db.session.remove()
        tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.engine.dispose()


@pytest.fixture(params=["one call", "python"])
def payment_path(request, monkeypatch) -> str:
    """A card or wallet payment on PostgreSQL runs as one call of a database function or through
    the Python path (as on SQLite): the money tests run both ways, here and in servers they start."""
    if request.param == "python":
        from portal.ledger import in_database

        monkeypatch.setattr(in_database, "IN_ONE_CALL", set())
        monkeypatch.setenv("PORTAL_PAY_IN_PYTHON", "1")
    return request.param


# --- Redis ----------------------------------------------------------------------------


@pytest.fixture
def redis_url():
    """Redis on a database index of the tests' own, emptied before and after."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


# --- Live server and browser ----------------------------------------------------------


class LiveServer:
    """The app served by a threaded WSGI server on a free port."""

    def __init__(self, app):
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> LiveServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def live_server(app):
    server = LiveServer(app).start()
    yield server
    server.stop()


CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright (its own browser download is not used)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), headless=True, args=CHROMIUM_FLAGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def phone(browser, live_server):
    """A page in a phone-sized viewport, pointed at the live server."""
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def desktop(browser, live_server):
    """A page in a counter-PC viewport, pointed at the live server."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


# --- People ---------------------------------------------------------------------------

PASSWORD = "correct horse battery"


@pytest.fixture
def people(app):
    """One user of each role (and a merchant for the staff member), committed."""
    from portal.auth.users import create_user
    from portal.merchants import create_merchant

    with app.app_context():
        cafe = create_merchant(db.session, "corner-cafe", "Corner Café")
        create_user(db.session, "customer@example.com", PASSWORD, role="customer", name="Cara")
        create_user(db.session, "staff@example.com", PASSWORD, role="merchant", merchant=cafe, name="Sam")
        create_user(db.session, "admin@example.com", PASSWORD, role="admin", name="Ada")
        db.session.commit()
    return {"customer": "customer@example.com", "merchant": "staff@example.com", "admin": "admin@example.com"}


def csrf_token(client, path: str = "/signin") -> str:
    """The CSRF token a page hands out, read from its meta tag as the browser would."""
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def submit(client, path: str, data: dict, *, page: str | None = None, **kwargs):
    """Post a form the way its page would: with the page's CSRF token."""
    return client.post(path, data={**data, "csrf_token": csrf_token(client, page or path)}, **kwargs)


def signup_link(app, email: str) -> str:
    """The path of the newest sign-up link e-mailed to ``email``, read from the message as its reader would."""
    from portal.models import OutboxMessage
    from portal.notifications.rendering import render

    with app.app_context():
        row = db.session.scalar(
            sa.select(OutboxMessage).where(OutboxMessage.kind == "signup_confirm", OutboxMessage.recipient == email)
            .order_by(OutboxMessage.id.desc()).limit(1)
        )
        assert row is not None, f"no sign-up link was sent to {email}"
        text = render(db.session, row).text
    return re.search(r"https?://[^/\s]+(/signup/confirm/\S+)", text).group(1)


def sign_up(client, app, data: dict, *, next_path: str | None = None):
    """Sign up through the form, open the e-mailed link and press its button; the last answer."""
    started = submit(client, f"/signup?next={next_path}" if next_path else "/signup", data, page="/signup")
    assert started.status_code == 302 and started.headers["Location"] == "/signup/sent", started.get_data(as_text=True)
    link = signup_link(app, data["email"].strip().lower())
    return submit(client, link, {})


class AuthActions:
    """Sign in and out through the real forms, as a person would."""

    def __init__(self, client):
        self._client = client

    def login(self, email: str, password: str = PASSWORD):
        return submit(self._client, "/signin", {"email": email, "password": password})

    def logout(self):
        return submit(self._client, "/signout", {}, page="/signin")


@pytest.fixture
def auth(client):
    return AuthActions(client)


# --- The real HTTP stack: gunicorn with several workers on PostgreSQL --------------------


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gunicorn_server(pg_app, pg_url, redis_url):
    """``gunicorn wsgi:app`` with 4 workers on the test database and Redis, as in production."""
    with serve_gunicorn(pg_url, redis_url) as url:
        yield url


@contextlib.contextmanager
def serve_gunicorn(pg_url: str, redis_url: str, *, logs: str | None = None, **more_env: str) -> Iterator[str]:
    """Run gunicorn (4 workers) on this database and Redis, plus any other settings; yield its URL.

    With ``logs`` (a directory), gunicorn writes its access log (every request line, as a proxy
    keeps it) to access.log and its error log, the app's included, to error.log there."""
    import subprocess
    import sys
    import time
    import urllib.request

    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": TEST_SECRET,
        "PORTAL_CODE_KEY": TEST_SECRET + "-codes",
        **more_env,
    }
    log_files = ["--access-logfile", f"{logs}/access.log", "--error-logfile", f"{logs}/error.log"] if logs else []
    process = subprocess.Popen(
        # A short graceful timeout: a test's servers stop in seconds even on a machine under load.
        [sys.executable, "-m", "gunicorn", "--workers", "4", "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
         "--graceful-timeout", "5", *log_files, "wsgi:app"],
        env=env,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("gunicorn did not start") from None
            time.sleep(0.2)
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # never leave a server running into the next test
            process.kill()
            process.wait()

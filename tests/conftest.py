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
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.serving import make_server

from portal import create_app
from portal.extensions import db
from tests.factories import PASSWORD, add_credit, add_customer, add_loops

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
TESTS = Path(__file__).resolve().parent
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


def pytest_collection_modifyitems(items) -> None:
    """Mark what ``make test`` runs one test at a time: the integration tier, and the security tests
    on the real servers (races, faults, worker processes, timeouts). The rest, SQLite and browser
    alike, runs in parallel (``-m "not serial"``)."""
    for item in items:
        tier = item.path.relative_to(TESTS).parts[0]
        on_servers = item.get_closest_marker("postgres") or item.get_closest_marker("redis")
        if tier == "integration" or (tier == "security" and on_servers):
            item.add_marker(pytest.mark.serial)


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


class SharedApp:
    """One app per test process, given to each test as if new: building an app (its routes and,
    on first use, its templates) cost more than most tests. Before each test its database file
    is a fresh copy of the schema and its state (throttles, caches, payment provider) is rebuilt;
    after it, its settings are put back."""

    def __init__(self, folder, schema: str):
        self.database, self.schema = folder / "portal.db", schema
        self.app = make_app(f"sqlite:///{self.database}")
        self.settings = dict(self.app.config)

    def fresh(self, outbox) -> Flask:
        from portal import services, shop
        from portal.programme import forget_programme_rules
        from portal.tokens import forget_cached_tokens

        shutil.copyfile(self.schema, self.database)
        self.app.config["OUTBOX_DIR"] = str(outbox)
        services.init_app(self.app)
        shop.init_app(self.app)
        self.app.extensions["api_limiter"].reset()  # the tokens' counts (in memory here)
        forget_cached_tokens()  # kept per process, by database and token
        forget_programme_rules()  # kept per process, by database and kind
        return self.app

    def reset(self) -> None:
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()
        self.app.config.clear()
        self.app.config.update(self.settings)


@pytest.fixture(scope="session")
def shared_app(tmp_path_factory, sqlite_schema) -> SharedApp:
    return SharedApp(tmp_path_factory.mktemp("app"), sqlite_schema)


@pytest.fixture
def app(request, tmp_path, sqlite_schema, shared_app):
    """The app on a fresh SQLite file with the schema of the models (a copy of the built one);
    a test or module marked ``app_config(NAME=value, ...)`` gets an app of its own built with
    those settings."""
    marker = request.node.get_closest_marker("app_config")
    if marker is None:
        yield shared_app.fresh(tmp_path / "outbox")
        shared_app.reset()
        return
    shutil.copyfile(sqlite_schema, tmp_path / "portal.db")
    app = make_app(f"sqlite:///{tmp_path / 'portal.db'}", OUTBOX_DIR=str(tmp_path / "outbox"), **marker.kwargs)
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
    from portal.programme import forget_programme_rules

    forget_programme_rules()  # the next test's database has the same address


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


# --- Gifts and webhooks -----------------------------------------------------------------


@pytest.fixture
def gifting(app, people):
    """The plus plan on sale, a buyer with 20.00 USD and 1000 Loops, a friend and a stranger."""
    from portal.gifts import ensure_plans
    from tests.gifts import BUYER, FRIEND, STRANGER

    add_customer(app, FRIEND, "Fran")
    add_customer(app, STRANGER)
    with app.app_context():
        list(ensure_plans(db.session))
        db.session.commit()
    add_credit(app, BUYER, "20.00")
    add_loops(app, BUYER, 1000)
    return app


@pytest.fixture
def receiver():
    """Start webhook receivers (``receiver(200, 500, "hang")``); all are stopped after the test."""
    from tests.receivers import Receiver

    started = []

    def start(*script):
        started.append(Receiver(script or (200,)))
        return started[-1]

    yield start
    for one in started:
        one.stop()


# --- The JSON API -------------------------------------------------------------------------


def _token_for(app, email: str) -> str:
    from portal.tokens import create_token
    from tests.factories import user

    with app.app_context():
        token = create_token(db.session, user(email), "tests")[1]
        db.session.commit()
        return token


@pytest.fixture
def api(app, people):
    """The API client with a token for each role, and two more stores (book-nook; tokyo-tea in JPY)."""
    from portal.merchants import create_merchant
    from tests.api import Api

    with app.app_context():
        create_merchant(db.session, "book-nook", "The Book Nook")
        create_merchant(db.session, "tokyo-tea", "Tokyo Tea", "JPY")
        db.session.commit()
    return Api(app.test_client(), {role: _token_for(app, email) for role, email in people.items()})


@pytest.fixture
def capi(app, api):
    """The API client with two more customers: a friend and a stranger."""
    for role, email in (("friend", "friend@example.com"), ("stranger", "stranger@example.com")):
        add_customer(app, email)
        api.tokens[role] = _token_for(app, email)
    return api


@pytest.fixture
def contract(app, api, people):
    """The API client that checks each answer against the served (generated) document."""
    from tests.api_contract import Contract

    return Contract(app, api.client, api.tokens, api.client.get("/api/v1/openapi.json").json, people)


@pytest.fixture
def gift_contract(gifting, contract):
    """The contract checker with gifts on sale and tokens for the gift's friend and a stranger."""
    from tests.gifts import FRIEND, STRANGER

    for role, email in (("friend", FRIEND), ("stranger", STRANGER)):
        contract.tokens[role] = _token_for(gifting, email)
    return contract

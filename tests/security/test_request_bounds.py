"""Requests the portal refuses before they cost it anything (issue 20): bodies over the size limit,
JSON sent without a valid token, JSON nested too deep or not UTF-8, a ``next`` that would split a
header, a method a URL does not take. Each is a clear 4xx that changes nothing, never a 500."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from portal.config import from_environment
from portal.extensions import db
from portal.models import GiftCard
from portal.models.campaigns import Campaign, CampaignRecipient
from tests.api import state
from tests.conftest import PASSWORD, csrf_token, serve_gunicorn, submit
from tests.factories import make_card

LIMIT = 64 * 1024
TOO_LARGE = "x" * (LIMIT + 1024)


def send(api, method: str, path: str, data: bytes | str, *, role: str | None = "admin", token: str | None = None):
    """A JSON body as written, with a role's token, a given token, or none at all."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
    if token or role:
        headers["Authorization"] = f"Bearer {token or api.tokens[role]}"
    return api.client.open(f"/api/v1{path}", method=method, data=data, headers=headers)


def is_problem(response, status: int, code: str) -> bool:
    return (response.status_code, response.mimetype, response.json["code"]) == (status, "application/problem+json", code)


def cards(app) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count(GiftCard.id)))


# --- Size --------------------------------------------------------------------------------------


def test_the_limit_is_64_kib_unless_the_environment_says_otherwise(monkeypatch):
    monkeypatch.delenv("MAX_CONTENT_LENGTH", raising=False)
    assert from_environment()["MAX_CONTENT_LENGTH"] == LIMIT
    monkeypatch.setenv("MAX_CONTENT_LENGTH", "1000000")
    assert from_environment()["MAX_CONTENT_LENGTH"] == 1_000_000


def test_an_api_body_over_the_limit_is_a_413_problem_and_issues_nothing(app, api):
    body = json.dumps({"amount": "10.00", "currency": "USD", "reference": TOO_LARGE})
    response = send(api, "POST", "/cards", body)
    assert is_problem(response, 413, "payload_too_large")
    assert "at most 64 KB" in response.json["detail"]
    assert cards(app) == 0
    assert send(api, "POST", "/cards", json.dumps({"amount": "10.00", "currency": "USD"})).status_code == 201


def test_a_form_over_the_limit_is_a_413_page_and_signs_nobody_in(client, people):
    token = csrf_token(client)
    response = client.post("/signin", data={"email": people["customer"], "password": PASSWORD,
                                            "csrf_token": token, "padding": TOO_LARGE})
    assert response.status_code == 413 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "Too large" in page and "at most 64 KB is accepted here" in page
    assert client.get("/wallet/").status_code == 302  # still signed out


def test_a_get_with_a_body_over_the_limit_is_refused_too(client):
    assert client.get("/signin", data=TOO_LARGE).status_code == 413


@pytest.fixture
def campaign(app, client, auth, people):
    """A credit campaign of three codes, and the admin signed in on ``client``."""
    auth.login(people["admin"])
    submit(client, "/admin/campaigns/new", {"name": "Welcome", "kind": "credit", "currency": "USD", "value": "3.00",
                                            "code_mode": "random", "code_prefix": "HI", "quantity": "3"})
    with app.app_context():
        return db.session.scalar(db.select(db.func.max(Campaign.id)))


def upload(client, campaign_id: int, data: bytes, *, page: str | None = None):
    """Post the address list as the browser would, encoded here: the test client's own encoding
    of a large file leaves a temporary file open when the body is refused unread."""
    token = csrf_token(client, page or f"/admin/campaigns/{campaign_id}")
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="addresses"; filename="list.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return client.post(f"/admin/campaigns/{campaign_id}/recipients", data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


def recipients(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(db.select(CampaignRecipient.email).order_by(CampaignRecipient.id)))


def test_the_address_list_upload_takes_files_far_over_the_default_limit(app, client, campaign):
    """A 1 MB CSV (three addresses among other columns) is read: the upload has a 10 MB limit of its own."""
    filler = ("no address here," * 60 + "\n").encode() * (1024 * 1024 // 960)
    response = upload(client, campaign, b"ann@example.com\nbob@example.com\n" + filler + b"cy@example.com\n")
    assert response.status_code == 303
    assert recipients(app) == ["ann@example.com", "bob@example.com", "cy@example.com"]


def test_a_file_over_the_uploads_own_limit_is_a_413_page_and_adds_nobody(app, client, campaign):
    response = upload(client, campaign, b"ann@example.com\n" + b"x" * (10 * 1024 * 1024 + 128 * 1024))
    assert response.status_code == 413 and "at most 10 MB is accepted here" in response.get_data(as_text=True)
    assert recipients(app) == []


def test_only_an_admin_may_send_the_upload_a_large_body(app, client, campaign, auth, people):
    """The larger limit is for callers the route admits: anyone else is held to 64 KiB, unread."""
    auth.logout()
    auth.login(people["merchant"])
    assert upload(client, campaign, b"a@example.com\n" * 10_000, page="/signin").status_code == 413


# --- Parsed only after sign-in, bounded in depth, UTF-8 ---------------------------------------------


@pytest.fixture
def json_parses(monkeypatch):
    """How many times any code parsed JSON text during the test."""
    calls = []
    real = json.loads
    monkeypatch.setattr(json, "loads", lambda *args, **kwargs: calls.append(1) or real(*args, **kwargs))
    return calls


@pytest.mark.parametrize("token", [None, "glt_not-a-real-token"])
def test_without_a_valid_token_a_json_body_is_not_even_parsed(api, json_parses, token):
    """A 60 KB body, valid JSON and not JSON at all: 401 both times, and no JSON was parsed."""
    valid = json.dumps({"amount": "1.00", "reference": "x" * 60_000})
    for body in (valid, "{" * 60_000):
        json_parses.clear()
        response = send(api, "POST", "/cards", body, role=None, token=token)
        assert json_parses == []
        assert is_problem(response, 401, "unauthorized")
    # With a token, the endpoint reads the same body once, for its idempotency fingerprint and its fields alike.
    json_parses.clear()
    assert send(api, "POST", "/cards", valid).status_code == 422
    assert len(json_parses) == 1


def nested(depth: int) -> str:
    return '{"amount": "1.00", "memo": ' + '{"a": ' * (depth - 1) + "1" + "}" * (depth - 1) + "}"


def test_json_nested_over_32_deep_is_a_400_problem_and_32_is_read(app, api):
    card_id = api.card_id(make_card(app, "20.00"))
    before = state(app)
    response = send(api, "POST", f"/cards/{card_id}/redeem", nested(33), role="merchant")
    assert is_problem(response, 400, "bad_request") and "at most 32 deep" in response.json["detail"]
    assert state(app) == before
    # 32 deep is read: the answer names the undeclared field that holds it (strict input, issue 23).
    read = send(api, "POST", f"/cards/{card_id}/redeem", nested(32), role="merchant")
    assert is_problem(read, 422, "validation_error") and read.json["pointer"] == "/memo"
    assert state(app) == before


@pytest.mark.parametrize("brackets", ["[" * 350, "[" * 350 + "]" * 350, '{"a":' * 350, "[" * 30_000])
def test_deeply_nested_brackets_are_never_a_server_error_anywhere(app, api, caplog, brackets):
    """350 (or 30,000) nested brackets, to API endpoints with and without a token and to pages."""
    card_id = api.card_id(make_card(app, "20.00"))
    calls = [
        ("POST", f"/api/v1/cards/{card_id}/redeem", "merchant"), ("POST", "/api/v1/cards/redeem", "merchant"), ("POST", "/api/v1/cards", "admin"),
        ("GET", "/api/v1/me", "customer"), ("POST", "/api/v1/cards", None), ("POST", "/signin", None),
        ("POST", "/wallet/redeem", None), ("GET", "/", None), ("POST", "/no-such-page", None),
    ]
    with caplog.at_level(logging.WARNING):
        for method, path, role in calls:
            headers = {"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
            if role:
                headers["Authorization"] = f"Bearer {api.tokens[role]}"
            response = api.client.open(path, method=method, data=brackets, headers=headers)
            assert response.status_code < 500, (method, path, role)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_a_body_that_is_not_utf8_is_a_400_problem(app, api):
    card_id = api.card_id(make_card(app, "20.00"))
    before = state(app)
    response = send(api, "POST", f"/cards/{card_id}/redeem", b'{"amount": "5.00", "reference": "caf\xe9"}', role="merchant")
    assert is_problem(response, 400, "bad_request") and "UTF-8" in response.json["detail"]
    assert state(app) == before


# --- Headers ---------------------------------------------------------------------------------------


def test_a_next_with_a_line_break_is_ignored(client, people):
    token = csrf_token(client)
    response = client.post("/signin?next=/wallet/%0d%0aSet-Cookie:x=1",
                           data={"email": people["customer"], "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/wallet/"
    assert "x=1" not in response.headers.getlist("Set-Cookie")


def test_a_method_a_url_does_not_take_says_which_it_does(app, api, client):
    response = api.get("/cards")
    assert is_problem(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]
    page = client.get("/signout")
    assert page.status_code == 405 and page.mimetype == "text/html" and "POST" in page.headers["Allow"]


# --- Through gunicorn ------------------------------------------------------------------------------


def _workers_rss_kib() -> dict[int, int]:
    """Resident memory of each gunicorn worker this test started (grandchildren of this process)."""
    def children(pid: int) -> list[int]:
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
        return found

    workers = [worker for master in children(os.getpid()) for worker in children(master)]
    return {pid: int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1)) for pid in workers}


def _send_huge(url: str, path: str, head: str, size: int, chunk: bytes = b"[" * 65536) -> tuple[str, float]:
    """Send ``head`` then ``chunk`` until ``size`` bytes are sent or the server answers; its status line and how long it took."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{head}\r\n".encode())

        def pour():
            sent = 0
            try:
                while sent < size:
                    sock.sendall(chunk)
                    sent += len(chunk)
            except OSError:
                pass  # the server answered and closed: the rest is never read

        sender = threading.Thread(target=pour, daemon=True)
        sender.start()
        answer = b""
        while b"\r\n" not in answer:
            received = sock.recv(4096)
            if not received:
                break
            answer += received
        elapsed = time.monotonic() - started
        with contextlib.suppress(OSError):  # already reset by the server
            sock.shutdown(socket.SHUT_RDWR)
        sender.join(timeout=10)
    return answer.split(b"\r\n", 1)[0].decode(), elapsed


CHUNKED_FORM = "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n"


@pytest.mark.postgres
@pytest.mark.redis
def test_gunicorn_refuses_200_mb_bodies_at_once_without_its_workers_growing(pg_app, pg_url, redis_url):
    """200 MB with a Content-Length, and 200 MB chunked to a form, each four times: 413 in well under a
    second each, and no worker holds more memory afterwards. A body that breaks its chunking is a 400."""
    with serve_gunicorn(pg_url, redis_url) as url:
        before = _workers_rss_kib()
        size = 200 * 1024 * 1024
        for _ in range(4):
            status, elapsed = _send_huge(url, "/api/v1/cards", f"Content-Type: application/json\r\nContent-Length: {size}\r\n", size)
            assert " 413 " in status and elapsed < 2, (status, elapsed)
            status, elapsed = _send_huge(url, "/signin", CHUNKED_FORM, size, b"10000\r\n" + b"a" * 65536 + b"\r\n")
            assert " 413 " in status and elapsed < 2, (status, elapsed)
        # Chunks that are not framed as chunks: a 400, not a server error.
        assert " 400 " in _send_huge(url, "/signin", CHUNKED_FORM, 1024 * 1024)[0]
        after = _workers_rss_kib()
    assert before and set(after) == set(before)
    assert max(after[pid] - before[pid] for pid in before) < 20 * 1024, (before, after)

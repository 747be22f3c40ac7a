"""Compressed answers: pages, scripts and styles travel packed in what the browser takes."""

from __future__ import annotations

import gzip

import brotli

from tests.conftest import submit
from tests.factories import issue
from tests.pages import HTMX

GZIP = {"Accept-Encoding": "gzip"}


def test_a_page_travels_gzipped_and_unpacks_to_the_same_page(client):
    """Does the sign-in page arrive compressed, smaller, and identical once unpacked?"""
    plain = client.get("/signin")
    packed = client.get("/signin", headers=GZIP)
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert len(packed.data) < len(plain.data) / 2
    unpacked = gzip.decompress(packed.data).decode()
    # The CSRF token differs between the two requests; the rest of the page is the same.
    assert unpacked.split('name="csrf-token"')[0] == plain.get_data(as_text=True).split('name="csrf-token"')[0]


def test_a_browser_that_takes_brotli_gets_brotli(client):
    """Does a browser that lists brotli (as Chromium does) get the smaller brotli body?"""
    packed = client.get("/signin", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert packed.headers["Content-Encoding"] == "br"
    assert "<form" in brotli.decompress(packed.data).decode()


def test_a_client_that_does_not_take_gzip_gets_the_plain_page(client):
    """Does a client without Accept-Encoding: gzip get readable HTML?"""
    response = client.get("/signin", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in response.headers
    assert "<form" in response.get_data(as_text=True)


def test_a_script_revalidates_to_304(client):
    """Is a script sent with a validator the browser can send back for a 304?"""
    # Closed explicitly: the test client leaves a static file's handle to the caller.
    with client.get("/static/js/portal.js", headers=GZIP) as first:
        assert first.status_code == 200 and b"htmx:configRequest" in first.data
    with client.get("/static/js/portal.js", headers={**GZIP, "If-None-Match": first.headers["ETag"]}) as again:
        assert again.status_code == 304


def test_a_revealed_code_is_never_compressed(app, client, auth, people):
    """Is the answer that shows a full code (no-store) sent uncompressed, so BREACH has nothing to read?"""
    auth.login(people["customer"])
    card_id, code = issue(app, owner=people["customer"])
    response = submit(
        client, f"/wallet/cards/{card_id}/reveal", {}, page=f"/wallet/cards/{card_id}", headers={**HTMX, **GZIP}
    )
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert code in response.get_data(as_text=True)

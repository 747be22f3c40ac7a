"""Browsers ask every site for /favicon.ico: Giftloop answers with its own icon, not a 404."""

from __future__ import annotations


def test_favicon_ico_is_our_own_icon(client):
    with client.get("/favicon.ico") as response:
        assert response.status_code == 200
        assert response.mimetype == "image/svg+xml"
        assert b"<title>Giftloop</title>" in response.data


def test_every_page_names_the_icon(client):
    html = client.get("/signin").get_data(as_text=True)
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html

"""Webhooks on the till in real Chromium: add an endpoint by its labels, copy the secret shown
once, send a test event to a real receiver and read the delivery log; the page passes axe."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from portal.events.signing import HEADER, verify
from tests.browser.axe import audited_page, serious_violations
from tests.browser.pages import sign_in

# The till may send its events to a receiver on 127.0.0.1.
pytestmark = [pytest.mark.browser, pytest.mark.app_config(WEBHOOK_ALLOW_PRIVATE_URLS=True, WEBHOOK_TIMEOUT_SECONDS=2)]


def add_endpoint(page: Page, url: str) -> str:
    """Add an endpoint for redemptions and test events; returns the secret the page shows once."""
    page.get_by_role("link", name="Webhooks").click()
    page.get_by_label("Endpoint URL").fill(url)
    page.get_by_label("card.redeemed: A card paid for something").check()
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_role("heading", name="Endpoint added")).to_be_visible()
    return page.get_by_role("textbox", name="Signing secret").input_value()


def test_staff_add_an_endpoint_and_a_test_event_reaches_the_receiver_signed(desktop, app, people, receiver):
    hook = receiver()
    sign_in(desktop, people["merchant"])
    secret = add_endpoint(desktop, hook.url)
    assert secret.startswith("whsec_")
    desktop.get_by_role("link", name=f"Go to the endpoint {hook.url}").click()
    expect(desktop.get_by_text(secret)).to_have_count(0)  # shown once only
    desktop.get_by_role("button", name="Send a test event").click()
    expect(desktop.get_by_role("status")).to_contain_text("A test event is on its way")
    log = desktop.get_by_role("table")
    expect(log.get_by_role("row", name=re.compile("webhook.test"))).to_contain_text("Delivered")
    expect(log).to_contain_text("HTTP 200")
    ((headers, body),) = hook.requests
    verify(secret, headers[HEADER], body)
    assert json.loads(body)["type"] == "webhook.test"


def test_a_refused_url_is_explained_by_its_field(desktop, people):
    sign_in(desktop, people["merchant"])
    desktop.get_by_role("link", name="Webhooks").click()
    desktop.get_by_label("Endpoint URL").fill("ftp://pos.example.com")
    desktop.get_by_role("button", name="Add endpoint").click()
    field = desktop.get_by_label("Endpoint URL")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(desktop.locator("#url-error")).to_contain_text("Give a full http:// or https:// URL")
    field.fill("https://pos.example.com/giftloop")
    desktop.get_by_role("button", name="Add endpoint").click()
    expect(desktop.get_by_role("group", name="Events to send")).to_contain_text("Choose at least one kind of event")
    expect(desktop.get_by_text("No endpoints yet.")).to_be_visible()


def test_the_webhook_pages_have_no_serious_accessibility_violations(browser, live_server, people, receiver):
    hook = receiver()
    with audited_page(browser, live_server, viewport={"width": 1280, "height": 800}) as page:
        sign_in(page, people["merchant"])
        page.get_by_role("link", name="Webhooks").click()
        assert serious_violations(page) == []
        add_endpoint(page, hook.url)
        assert serious_violations(page) == []
        page.get_by_role("link", name=re.compile("Go to the endpoint")).click()
        page.get_by_role("button", name="Send a test event").click()
        expect(page.get_by_role("table")).to_contain_text("Delivered")
        assert serious_violations(page) == []

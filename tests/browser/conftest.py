"""Fixtures of the browser tier."""

import pytest
from playwright.sync_api import expect


@pytest.fixture(autouse=True)
def patient_expectations():
    """Assertions wait as long as the pages' actions do: a machine busy with other tests is slow."""
    expect.set_options(timeout=10_000)
    yield
    expect.set_options(timeout=None)


@pytest.fixture(params=[True, False], ids=["javascript", "no-javascript"])
def desktop_either_way(request, browser, live_server):
    """A counter-PC page with JavaScript on, then off: the form works the same before its script has
    loaded (a slow line, a quick hand) as after."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800},
                                  java_script_enabled=request.param)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()

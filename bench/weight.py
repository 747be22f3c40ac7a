"""Figure 6: what each main page costs a browser on first load: bytes over the wire and requests.

Headless Chromium (Debian's /usr/bin/chromium through Playwright) loads each page with an empty
cache, as the person it is for; every request the load makes is counted with its headers and its
body as sent (compressed where the server compressed it).
"""

from __future__ import annotations

from dataclasses import dataclass

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"


@dataclass
class Weight:
    page: str
    path: str
    bytes: int
    requests: int
    html_bytes: int


def _sign_in(page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/signin")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")


def _load(browser, base: str, name: str, path: str, who: tuple[str, str] | None) -> Weight:
    context = browser.new_context()
    page = context.new_page()
    if who is not None:
        _sign_in(page, base, *who)
        # A fresh cache for the measured load: only the session cookie carries over.
        cookies = context.cookies()
        context.close()
        context = browser.new_context()
        context.add_cookies(cookies)
        page = context.new_page()
    finished = []
    page.on("requestfinished", lambda request: finished.append(request))
    response = page.goto(f"{base}{path}", wait_until="networkidle")
    if response is None or response.status != 200:
        raise SystemExit(f"{path} answered {response.status if response else 'nothing'}")
    sizes = [(request, request.sizes()) for request in finished]
    total = sum(s["responseBodySize"] + s["responseHeadersSize"] for _, s in sizes)
    html = sum(s["responseBodySize"] for r, s in sizes if r.resource_type == "document")
    context.close()
    return Weight(name, path, total, len(sizes), html)


def page_weights(base: str, pages: list[tuple[str, str, tuple[str, str] | None]]) -> list[Weight]:
    """Load each (name, path, (email, password) or None) and weigh it."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            return [_load(browser, base, name, path, who) for name, path, who in pages]
        finally:
            browser.close()

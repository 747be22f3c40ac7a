"""The axe-core audit shared by the accessibility tests.

axe-core comes from npm (``node_modules/axe-core``, or the file named by AXE_CORE_JS). The page's
own CSP forbids injected scripts, so the audit's context bypasses CSP; the pages run as usual.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AXE = Path(os.environ.get("AXE_CORE_JS") or ROOT / "node_modules" / "axe-core" / "axe.min.js")


@contextmanager
def audited_page(browser, live_server, **context_options) -> Iterator:
    """A page on the live server in a context that lets the audit script in."""
    if not AXE.exists():
        pytest.skip("axe-core is not installed (npm install axe-core, or set AXE_CORE_JS)")
    context = browser.new_context(base_url=live_server.url, bypass_csp=True, **context_options)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        context.close()


def serious_violations(page) -> list[str]:
    """Every serious or critical axe violation on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    assert result["testEngine"]["name"] == "axe-core"
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]

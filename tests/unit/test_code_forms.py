"""Every form that takes a code sends it by POST (DESIGN §7): a code in a query string would be kept
in the address bar, the browser's history and every access log on the way."""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
FORM = re.compile(r"<form\b(?P<attributes>[^>]*)>(?P<body>.*?)</form>", re.S)
# A field for a code: a WTForms field named like one, or a plain input with such a name.
CODE_FIELD = re.compile(r"\b(?:form|lookup|coupon|load|redeem)\.(?:code|claim_code|gift_code)\b|name=\"(?:[\w-]*code)\"")


def test_every_form_with_a_code_field_posts_it():
    forms = [
        (path.relative_to(TEMPLATES), match)
        for path in TEMPLATES.rglob("*.html")
        for match in FORM.finditer(path.read_text())
        if CODE_FIELD.search(match["body"])
    ]
    assert len(forms) >= 4  # the balance check, the customer's redeem, the claim page, the till
    for where, form in forms:
        attributes = form["attributes"]
        assert re.search(r'method="post"', attributes, re.I), f"{where}: a form with a code is not POST"
        assert "hx-get" not in attributes, f"{where}: htmx would send the code in a query string"

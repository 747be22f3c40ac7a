"""Every form that takes a code sends it by POST (DESIGN §7): a code in a query string would be kept
in the address bar, the browser's history and every access log on the way."""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
FORM = re.compile(r"<form\b(?P<attributes>[^>]*)>(?P<body>.*?)</form>", re.S)
# A form written by a macro around the caller's fields: {% call post_form(...) %} fields {% endcall %}.
MACRO = re.compile(r"{%-?\s*macro\s+(?P<name>\w+)\(.*?%}(?P<body>.*?){%-?\s*endmacro", re.S)
CALL = re.compile(r"{%-?\s*call\s+(?P<name>\w+)\(.*?%}(?P<body>.*?){%-?\s*endcall", re.S)
# A field for a code: a WTForms field named like one, or a plain input with such a name.
CODE_FIELD = re.compile(r"\b(?:form|lookup|coupon|load|redeem)\.(?:code|claim_code|gift_code)\b|name=\"(?:[\w-]*code)\"")


def _posts(attributes: str) -> bool:
    return bool(re.search(r'method="post"', attributes, re.I)) and "hx-get" not in attributes


def test_every_form_with_a_code_field_posts_it():
    templates = {path.relative_to(TEMPLATES): path.read_text() for path in TEMPLATES.rglob("*.html")}
    # The macros that wrap their caller's fields in a form, and whether that form posts.
    wrapping = {
        macro["name"]: all(_posts(form["attributes"]) for form in FORM.finditer(macro["body"]))
        for text in templates.values() for macro in MACRO.finditer(text)
        if "caller()" in macro["body"] and FORM.search(macro["body"])
    }
    forms = [(where, _posts(form["attributes"])) for where, text in templates.items()
             for form in FORM.finditer(text) if CODE_FIELD.search(form["body"])]
    forms += [(where, wrapping[call["name"]]) for where, text in templates.items()
              for call in CALL.finditer(text) if call["name"] in wrapping and CODE_FIELD.search(call["body"])]
    assert len(forms) >= 4  # the balance check, the customer's redeem, the claim page, the till
    for where, posts in forms:
        assert posts, f"{where}: a form with a code is not POST, or htmx would send it in a query string"

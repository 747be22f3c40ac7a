"""Reading and using pages as a browser without JavaScript would: the words a person reads, the
forms a page hands out, and a till that fills and sends them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

HTMX = {"HX-Request": "true"}


def text(page) -> str:
    """The visible words of a page (its HTML, or a response), tags and runs of spaces collapsed."""
    html = page if isinstance(page, str) else page.get_data(as_text=True)
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    words = re.sub(r"<[^>]+>", " ", html)
    for entity, char in (("&#39;", "'"), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"), ("&#34;", '"'), ("&quot;", '"')):
        words = words.replace(entity, char)
    return re.sub(r"\s+", " ", words)


@dataclass
class Form:
    action: str
    fields: dict[str, str]


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._form = Form(attrs.get("action", ""), {})
            self.forms.append(self._form)
        elif self._form is not None and tag == "input" and attrs.get("name"):
            self._form.fields[attrs["name"]] = attrs.get("value") or ""
        elif self._form is not None and tag == "textarea" and attrs.get("name"):
            self._textarea = attrs["name"]
            self._form.fields[self._textarea] = ""

    def handle_data(self, data):
        if self._form is not None and self._textarea:
            self._form.fields[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "textarea":
            self._textarea = None


def forms_of(html: str) -> list[Form]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


class Till:
    """A staff member at the checkout, sending the forms each answer hands back."""

    def __init__(self, client, htmx: bool = True):
        self.client = client
        self.htmx = htmx
        self.html = ""
        self.response = None

    def open(self, path: str = "/till/"):
        self.response = self.client.get(path)
        self.html = self.response.get_data(as_text=True)
        return self.response

    def form(self, action: str) -> Form:
        matches = [f for f in forms_of(self.html) if f.action == action]
        assert matches, f"no form posting to {action} on the page"
        return matches[0]

    def send(self, action: str, **values):
        """Post the form with this action as the page has it, with some fields filled in."""
        fields = {**self.form(action).fields, **values}
        headers = HTMX if self.htmx else {}
        self.response = self.client.post(action, data=fields, headers=headers)
        self.html = self.response.get_data(as_text=True)
        return self.response

    def look_up(self, code: str, total: str | None = None):
        values = {"code": code}
        if total is not None:
            values["total"] = total
        return self.send("/till/lookup", **values)

    def apply(self, amount: str | None = None):
        return self.send("/till/apply", **({"amount": amount} if amount is not None else {}))


def pay(till: Till, code: str, total: str) -> int:
    """Take a card payment at the till and return its transaction number."""
    till.open()
    till.look_up(code, total=total)
    till.apply()
    return int(re.search(r"/till/transactions/(\d+)/undo", till.html).group(1))


def start_sale(till: Till, total: str):
    """Open the checkout and enter the total (no card yet): the coupon field appears."""
    till.open()
    return till.send("/till/lookup", total=total, code="")


def name_customer(till: Till, who: str):
    return till.send("/till/customer", who=who)

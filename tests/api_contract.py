"""A client of the API as a test drives it: each answer checked against the served (generated) document."""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from portal.extensions import db

DOC_URI = "urn:giftloop:openapi"
DESIGN_CODES = {
    "validation_error", "unauthorized", "forbidden", "not_found", "expired", "frozen", "insufficient_funds",
    "currency_mismatch", "not_valid_here", "usage_limit_reached", "already_redeemed", "rate_limited",
    "idempotency_conflict", "idempotency_in_progress",
}
METHODS = ("get", "put", "post", "delete", "patch")


def pointer(*parts: str) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


# A value for every path parameter of the API: enough to reach each operation's own checks.
ANY_PATH_VALUES = {"code": "X", "transaction_id": 1, "coupon_id": 1, "card_id": 1, "gift_id": 1, "order_id": 1, "hold_id": 1}


class Contract:
    """Calls the API as a program would and checks each answer against the served document."""

    def __init__(self, app, client, tokens, document, people):
        self.app, self.client, self.tokens, self.doc, self.people = app, client, tokens, document, people
        self.registry = Registry().with_resource(DOC_URI, DRAFT202012.create_resource(document))
        self.seen: set[tuple[str, str, str]] = set()
        self.codes: set[str] = set()
        self.answered: set[tuple[str, str, str, str]] = set()  # (path, method, status, problem code)

    def operation(self, method: str, template: str) -> dict:
        return self.doc["paths"][template][method.lower()]

    def validator(self, where: str) -> Draft202012Validator:
        return Draft202012Validator(
            {"$ref": f"{DOC_URI}#{quote(where, safe='/~+')}"}, registry=self.registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )

    def call(self, method, template, body=None, *, role="merchant", key=None, query=None, **params):
        """``role=None`` sends no token; ``key=False`` no Idempotency-Key (writes get a fresh one)."""
        op = self.operation(method, template)
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        is_write = any(p.get("$ref", "").endswith("/IdempotencyKey") for p in op.get("parameters", []))
        if is_write and key is not False:
            headers["Idempotency-Key"] = key or str(uuid.uuid4())
        kwargs = {"json": body if body is not None else {}} if method != "GET" else {}
        response = self.client.open(
            "/api/v1" + template.format(**params), method=method, headers=headers, query_string=query, **kwargs
        )
        self.check(response, method, template, body)
        return response

    def check(self, response, method, template, body=None):
        op = self.operation(method, template)
        status = str(response.status_code)
        assert status in op["responses"], (method, template, status, response.get_data(as_text=True))
        where = pointer("paths", template, method.lower(), "responses", status)
        documented = op["responses"][status]
        if "$ref" in documented:
            where = documented["$ref"][1:]
            documented = self.doc["components"]["responses"][where.rsplit("/", 1)[-1]]
        content = documented.get("content")
        if not content:
            assert response.get_data() == b"", (method, template, status)
        else:
            (media, _), = content.items()
            assert response.mimetype == media, (method, template, status, response.mimetype)
            if "json" in media:
                errors = list(self.validator(where + pointer("content", media, "schema")).iter_errors(response.json))
                assert not errors, (method, template, status, response.json, [e.message for e in errors])
            if media == "application/problem+json":
                self.codes.add(response.json["code"])
                self.answered.add((template, method.lower(), status, response.json["code"]))
        headers = documented.get("headers", {})
        for name, header in headers.items():
            if header.get("required"):
                assert name in response.headers, (method, template, status, name)
        for name in ("Retry-After", "Idempotent-Replayed", "WWW-Authenticate"):
            if name in response.headers:
                assert name in headers, (method, template, status, f"{name} is not documented")
        if response.status_code < 300 and "requestBody" in op and body is not None:
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            request_where = schema["$ref"][1:]
            errors = list(self.validator(request_where).iter_errors(body))
            assert not errors, (method, template, "request", body, [e.message for e in errors])
        self.seen.add((template, method.lower(), status))

    def past_the_rate_limit(self, *templates: str) -> None:
        """Call every operation of ``templates`` with a token of its role that has spent its limit: 429."""
        from portal.models import User
        from portal.tokens import create_token

        for template in templates:
            for method, op in self.doc["paths"][template].items():
                role = op["x-roles"][0]
                if f"{role}-spent" not in self.tokens:
                    with self.app.app_context():
                        user = db.session.scalar(db.select(User).where(User.email == self.people[role]))
                        self.tokens[f"{role}-spent"] = create_token(db.session, user, "spent", rate_limit=1)[1]
                        db.session.commit()
                    self.call("GET", "/me", role=f"{role}-spent")
                answer = self.call(method.upper(), template, {}, role=f"{role}-spent", **ANY_PATH_VALUES)
                assert answer.json["code"] == "rate_limited" and int(answer.headers["Retry-After"]) > 0

    def with_a_nul_character(self, *templates: str) -> None:
        """Call every operation of ``templates`` with a NUL in its query: 400 bad_request, before anything runs."""
        for answer in self._each_with_query(templates, {"note": "a\x00b"}):
            assert (answer.status_code, answer.json["code"]) == (400, "bad_request")

    def with_an_unknown_query_parameter(self, *templates: str) -> None:
        """Call every operation of ``templates`` with a query parameter it does not declare: 422 naming it."""
        for answer in self._each_with_query(templates, {"colour": "red"}):
            assert (answer.status_code, answer.json["code"], answer.json["field"]) == (422, "validation_error", "colour")

    def _each_with_query(self, templates: tuple[str, ...], query: dict[str, str]):
        """Call every operation of ``templates``, as its first role, with ``query``: each answer."""
        for template in templates:
            for method, op in self.doc["paths"][template].items():
                role = op.get("x-roles", [None])[0]
                yield self.call(method.upper(), template, {}, role=role, query=query, **ANY_PATH_VALUES)

    def documented_codes(self, *templates: str) -> set[tuple[str, str, str, str]]:
        """Every (path, method, status, code) the document says these operations can answer."""
        found = set()
        for template in templates:
            for method, op in self.doc["paths"][template].items():
                for status, response in op["responses"].items():
                    if "$ref" in response:
                        response = self.doc["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
                    schema = response.get("content", {}).get("application/problem+json", {}).get("schema")
                    if schema:
                        found |= {(template, method, status, code) for code in schema["allOf"][1]["properties"]["code"]["enum"]}
        return found

    def documented(self, *templates: str) -> set[tuple[str, str, str]]:
        return {
            (t, m, s) for t in templates for m, op in self.doc["paths"][t].items() if m in METHODS for s in op["responses"]
        }

    def writes_refuse_without_a_key_on_conflict_and_in_progress(self, method, template, first, other, role, monkeypatch,
                                                               other_params=None, **params):
        """400 without a key; the first answer again, then 422 for another body (or, for a write that takes
        none, ``other_params``: another path); 409 while it runs."""
        self.call(method, template, first, role=role, key=False, **params)
        key = str(uuid.uuid4())
        answer = self.call(method, template, first, role=role, key=key, **params)
        again = self.call(method, template, first, role=role, key=key, **params)
        assert (again.status_code, again.get_data()) == (answer.status_code, answer.get_data())
        assert again.headers["Idempotent-Replayed"] == "true"
        conflict = self.call(method, template, other, role=role, key=key, **{**params, **(other_params or {})})
        assert conflict.json["code"] == "idempotency_conflict"
        with monkeypatch.context() as patch:
            patch.setattr("portal.api.idempotency._lock_and_find", lambda scope, key: (False, None))
            running = self.call(method, template, first, role=role, **params)
        assert running.json["code"] == "idempotency_in_progress"
        return answer


def api_rules(app):
    """The API's routes but the retired ones (410 only: the document's description names them)."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and not getattr(app.view_functions[rule.endpoint], "retired", False):
            yield rule


def template_of(rule) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))

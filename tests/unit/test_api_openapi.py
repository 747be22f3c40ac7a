"""The OpenAPI document (DESIGN §5, issue 8): valid OpenAPI 3.1, the same routes as the URL map,
and a contract: every endpoint and every error code, driven through the app, answers with a
status, content type, headers and body the served document describes."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from urllib.parse import quote

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from portal.cards import operations
from portal.extensions import db
from portal.models import GiftCard, Transfer, utcnow
from portal.models.campaigns import Campaign
from tests.unit.test_api_cards import ADMIN, api, card_row, issue  # noqa: F401 - api is a fixture

DOC_URI = "urn:giftloop:openapi"
DESIGN_CODES = {
    "validation_error", "unauthorized", "forbidden", "not_found", "expired", "frozen", "insufficient_funds",
    "currency_mismatch", "not_valid_here", "usage_limit_reached", "already_redeemed", "rate_limited",
    "idempotency_conflict", "idempotency_in_progress",
}
METHODS = ("get", "put", "post", "delete", "patch")


def pointer(*parts: str) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


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
        from portal.tokens import create_token
        from portal.models import User

        for template in templates:
            for method, op in self.doc["paths"][template].items():
                role = op["x-roles"][0]
                if f"{role}-spent" not in self.tokens:
                    with self.app.app_context():
                        user = db.session.scalar(db.select(User).where(User.email == self.people[role]))
                        self.tokens[f"{role}-spent"] = create_token(db.session, user, "spent", rate_limit=1)[1]
                        db.session.commit()
                    self.call("GET", "/me", role=f"{role}-spent")
                answer = self.call(method.upper(), template, {}, role=f"{role}-spent", code="X", transaction_id=1, coupon_id=1, card_id=1, gift_id=1)
                assert answer.json["code"] == "rate_limited" and int(answer.headers["Retry-After"]) > 0

    def with_a_nul_character(self, *templates: str) -> None:
        """Call every operation of ``templates`` with a NUL in its query: 400 bad_request, before anything runs."""
        for template in templates:
            for method, op in self.doc["paths"][template].items():
                role = op.get("x-roles", [None])[0]
                answer = self.call(method.upper(), template, {}, role=role, query={"note": "a\x00b"},
                                   code="X", transaction_id=1, coupon_id=1, card_id=1, gift_id=1)
                assert (answer.status_code, answer.json["code"]) == (400, "bad_request")

    def with_an_unknown_query_parameter(self, *templates: str) -> None:
        """Call every operation of ``templates`` with a query parameter it does not declare: 422 naming it."""
        for template in templates:
            for method, op in self.doc["paths"][template].items():
                role = op.get("x-roles", [None])[0]
                answer = self.call(method.upper(), template, {}, role=role, query={"colour": "red"},
                                   code="X", transaction_id=1, coupon_id=1, card_id=1, gift_id=1)
                assert (answer.status_code, answer.json["code"], answer.json["field"]) == (422, "validation_error", "colour")

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


@pytest.fixture
def contract(app, api, people):  # noqa: F811 - the fixture imported above
    document = api.client.get("/api/v1/openapi.json").json
    return Contract(app, api.client, api.tokens, document, people)


def api_rules(app):
    """The API's routes but the retired ones (410 only: the document's description names them)."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and not getattr(app.view_functions[rule.endpoint], "retired", False):
            yield rule


def template_of(rule) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))


# --- The document ---------------------------------------------------------------------------


def test_the_served_document_is_valid_openapi_3_1(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = response.json
    assert document["openapi"].startswith("3.1")
    validate_openapi(document)
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_every_api_route_is_documented_and_every_documented_operation_is_served(app):
    """Would a new endpoint without documentation, or a documented one that is gone, fail here?"""
    DOCUMENT = app.test_client().get("/api/v1/openapi.json").json
    served = {}
    for rule in api_rules(app):
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served[(template_of(rule), method.lower())] = rule.endpoint.removeprefix("api.")
    documented = {
        (path, method): op["operationId"]
        for path, item in DOCUMENT["paths"].items() for method, op in item.items() if method in METHODS
    }
    assert set(served) - set(documented) == set(), "served but not documented"
    assert set(documented) - set(served) == set(), "documented but not served"
    assert served == documented, "operationId names the view"


def test_roles_and_public_operations_match_the_guards(app):
    """Is the documented who (x-roles, security) what the role guard really admits?"""
    from portal.web.guards import allowed_roles

    DOCUMENT = app.test_client().get("/api/v1/openapi.json").json
    with app.test_request_context():
        for rule in api_rules(app):
            wanted = allowed_roles(rule.endpoint)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                op = DOCUMENT["paths"][template_of(rule)][method.lower()]
                if wanted is None:
                    assert op["security"] == [] and "401" not in op["responses"], rule.rule
                else:
                    assert set(op["x-roles"]) == wanted and "security" not in op, rule.rule
                    assert "401" in op["responses"], rule.rule
                    if wanted != {"customer", "merchant", "admin"}:
                        assert "403" in op["responses"], rule.rule


def test_the_problem_code_enum_lists_every_code_of_design_section_5(client):
    from portal.web.problems import STATUS

    problem = client.get("/api/v1/openapi.json").json["components"]["schemas"]["Problem"]
    codes = set(problem["properties"]["code"]["enum"])
    assert DESIGN_CODES | {"cancelled"} <= codes
    assert codes == set(STATUS)


def test_the_reference_page_lists_every_path_without_inline_script(client):
    DOCUMENT = client.get("/api/v1/openapi.json").json
    response = client.get("/api/v1/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    for path, item in DOCUMENT["paths"].items():
        for method in item:
            assert f"{method.upper()} /api/v1{path}" in html, (method, path)
    for code in DESIGN_CODES | {"cancelled"}:
        assert f"<code>{code}</code>" in html
    for name in DOCUMENT["components"]["schemas"]:
        assert f'id="schema-{name}"' in html
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None, "inline script"
    assert " on" + "click=" not in html and "style=" not in html
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_the_reference_page_shows_markdown_code_spans_as_code_not_backticks(client):
    """The document's descriptions mark names with backticks: does the page show them as <code>?"""
    assert "`" in json.dumps(client.get("/api/v1/openapi.json").json)
    html = client.get("/api/v1/docs").get_data(as_text=True)
    page = re.sub(r"<pre>.*?</pre>", "", html, flags=re.S)  # shell examples may quote with backticks
    assert "`" not in page


def test_code_spans_escape_everything_else():
    """A description can never inject markup: only the backtick pairs become tags."""
    from portal.api.docs import code_spans

    assert code_spans("use `<b>` & `x`") == "use <code>&lt;b&gt;</code> &amp; <code>x</code>"
    assert code_spans("a lone ` stays") == "a lone ` stays"


def test_the_document_and_the_reference_page_state_the_rate_limit_this_server_enforces(app, client):
    app.config.update(API_RATE_LIMIT=50, API_RATE_WINDOW_SECONDS=30)
    described = client.get("/api/v1/openapi.json").get_json()["info"]["description"]
    assert "A token may make 50 requests every 30 seconds by default" in described
    assert "50 requests every 30 seconds" in client.get("/api/v1/docs").get_data(as_text=True)


# --- Contract: cards -----------------------------------------------------------------------

CARD_PATHS = ("/cards", "/cards/lookup", "/cards/redeem", "/cards/{card_id}/redeem", "/cards/{card_id}/load",
              "/cards/{card_id}/transactions", "/transactions/{transaction_id}/reverse")


def _set_card(app, code, setup):
    card = card_row(app, code)
    with app.app_context():
        row = db.session.get(GiftCard, card.id)
        if setup == "frozen":
            operations.freeze(db.session, row, actor=ADMIN, reason="test")
        elif setup == "cancelled":
            operations.cancel(db.session, row, actor=ADMIN, reason="test", idempotency_key=str(uuid.uuid4()))
        elif setup == "expired":
            row.expires_at = utcnow() - timedelta(days=1)
        db.session.commit()


def test_every_card_endpoint_and_error_answers_as_documented(app, contract, monkeypatch):
    from portal.cards.codes import generate_card_code

    c = contract

    def looked_up(code, role="merchant") -> int:
        return c.call("POST", "/cards/lookup", {"code": code}, role=role).json["id"]

    for template in CARD_PATHS:
        for method in c.doc["paths"][template]:
            c.call(method.upper(), template, {}, role=None, card_id=1, transaction_id=1)  # 401
    # Issue: staff, admin with every field; refusals.
    issued = c.call("POST", "/cards", {"amount": "40.00", "currency": "USD", "owner_email": "customer@example.com"})
    assert issued.status_code == 201
    code, card_id = issued.json["code"], issued.json["id"]
    scoped = c.call("POST", "/cards", {"amount": 25, "currency": "USD", "merchant": "book-nook", "expires_in_days": 2000},
                    role="admin")
    assert scoped.status_code == 201, scoped.json
    assert c.call("POST", "/cards", {"amount": "1e3", "currency": "USD"}).status_code == 422
    assert c.call("POST", "/cards", {"amount": "10", "currency": "USD"}, role="customer").status_code == 403
    c.writes_refuse_without_a_key_on_conflict_and_in_progress(
        "POST", "/cards", {"amount": "5.00", "currency": "USD"}, {"amount": "6.00", "currency": "USD"}, "merchant", monkeypatch,
    )
    # Look-up: here, elsewhere, by QR token; unknown, typo, customer.
    assert c.call("POST", "/cards/lookup", {"code": code}).json["valid_here"] is True
    assert c.call("POST", "/cards/lookup", {"code": scoped.json["code"]}).json["not_valid_reason"]["code"] == "not_valid_here"
    typo = code[:-1] + ("X" if code[-1] != "X" else "Y")
    assert c.call("POST", "/cards/lookup", {"code": typo}).json["code"] == "validation_error"
    assert c.call("POST", "/cards/lookup", {"code": code}, role="customer").status_code == 403
    # Redeem by code and by id: exact, partial, every refusal.
    assert c.call("POST", "/cards/redeem", {"code": code, "amount": "10.00", "reference": "order-1"}).status_code == 200
    partial = c.call("POST", "/cards/{card_id}/redeem", {"amount": "50.00", "allow_partial": True}, card_id=card_id, role="admin")
    assert (partial.json["applied"], partial.json["remaining_due"]) == ("30.00", "20.00")
    assert c.call("POST", "/cards/{card_id}/redeem", {"amount": "1.00"}, card_id=card_id).json["code"] == "insufficient_funds"
    assert c.call("POST", "/cards/redeem", {"code": code, "amount": "1.00"}).json["code"] == "insufficient_funds"
    assert c.call("POST", "/cards/redeem", {"code": typo, "amount": "1.00"}).json["code"] == "validation_error"
    for setup, body, expected in (
        ("frozen", {"amount": "1.00"}, "frozen"),
        ("cancelled", {"amount": "1.00"}, "cancelled"),
        ("expired", {"amount": "1.00"}, "expired"),
        (None, {"amount": "1.00", "currency": "EUR"}, "currency_mismatch"),
        (None, {"amount": "NaN"}, "validation_error"),
        (None, ["not", "an", "object"], "validation_error"),
    ):
        target = issue(app, "25.00")
        if setup:
            _set_card(app, target, setup)
        target_id = looked_up(target)
        if isinstance(body, dict):
            assert c.call("POST", "/cards/redeem", {"code": target, **body}).json["code"] == expected
        assert c.call("POST", "/cards/{card_id}/redeem", body, card_id=target_id).json["code"] == expected
        assert c.call("POST", "/cards/{card_id}/load", body, card_id=target_id).json["code"] == expected
    elsewhere = issue(app, "25.00", merchant="book-nook")
    elsewhere_id = looked_up(elsewhere)
    assert c.call("POST", "/cards/redeem", {"code": elsewhere, "amount": "1.00"}).json["code"] == "not_valid_here"
    assert c.call("POST", "/cards/{card_id}/redeem", {"amount": "1.00"}, card_id=elsewhere_id).json["code"] == "not_valid_here"
    assert c.call("POST", "/cards/{card_id}/load", {"amount": "1.00"}, card_id=elsewhere_id).json["code"] == "not_valid_here"
    assert c.call("POST", "/cards/redeem", {"code": code, "amount": "1.00"}, role="customer").status_code == 403
    assert c.call("POST", "/cards/{card_id}/redeem", {"amount": "1.00"}, role="customer", card_id=card_id).status_code == 403
    fresh = issue(app, "50.00")
    fresh_id = looked_up(fresh)
    c.writes_refuse_without_a_key_on_conflict_and_in_progress(
        "POST", "/cards/redeem", {"code": fresh, "amount": "1.00"}, {"code": fresh, "amount": "2.00"}, "merchant", monkeypatch,
    )
    c.writes_refuse_without_a_key_on_conflict_and_in_progress(
        "POST", "/cards/{card_id}/redeem", {"amount": "1.00"}, {"amount": "2.00"}, "merchant", monkeypatch, card_id=fresh_id,
    )
    # Load and history.
    loaded = c.call("POST", "/cards/{card_id}/load", {"amount": "20.00"}, card_id=card_id)
    assert loaded.status_code == 200 and loaded.json["card"]["balance"] == "20.00"
    assert c.call("POST", "/cards/{card_id}/load", {}, card_id=card_id).json["code"] == "validation_error"
    assert c.call("POST", "/cards/{card_id}/load", {"amount": "1"}, role="customer", card_id=card_id).status_code == 403
    c.writes_refuse_without_a_key_on_conflict_and_in_progress(
        "POST", "/cards/{card_id}/load", {"amount": "1.00"}, {"amount": "2.00"}, "merchant", monkeypatch, card_id=fresh_id,
    )
    history = c.call("GET", "/cards/{card_id}/transactions", card_id=card_id).json["transactions"]
    assert [t["kind"] for t in history] == ["load", "redeem", "redeem", "issue"]
    scoped_id = looked_up(scoped.json["code"])
    assert c.call("GET", "/cards/{card_id}/transactions", card_id=scoped_id).status_code == 404  # not ours
    assert c.call("GET", "/cards/{card_id}/transactions", role="customer", card_id=card_id).status_code == 403
    # Reverse: ours of today, twice, another's, unknown, no reason.
    tx = history[0]["id"]
    assert c.call("POST", "/transactions/{transaction_id}/reverse", {}, transaction_id=tx).json["field"] == "reason"
    undone = c.call("POST", "/transactions/{transaction_id}/reverse", {"reason": "wrong card"}, transaction_id=tx)
    assert undone.status_code == 201 and undone.json["transaction"]["reverses"] == tx
    assert c.call("POST", "/transactions/{transaction_id}/reverse", {"reason": "again"}, transaction_id=tx).status_code == 422
    admins = c.call("POST", "/cards/{card_id}/redeem", {"amount": "1.00"}, card_id=fresh_id, role="admin").json["transaction"]["id"]
    assert c.call("POST", "/transactions/{transaction_id}/reverse", {"reason": "x"}, transaction_id=admins).status_code == 404  # not ours: as if it never was
    assert c.call("POST", "/transactions/{transaction_id}/reverse", {"reason": "x"}, role="customer", transaction_id=tx).status_code == 403
    assert c.call("POST", "/transactions/{transaction_id}/reverse", {"reason": "x"}, transaction_id=999999).status_code == 404
    spent_id = looked_up(issue(app, "5.00"))
    topped_up = c.call("POST", "/cards/{card_id}/load", {"amount": "5.00"}, card_id=spent_id).json["transaction"]["id"]
    c.call("POST", "/cards/{card_id}/redeem", {"amount": "10.00"}, card_id=spent_id)
    since_spent = c.call("POST", "/transactions/{transaction_id}/reverse", {"reason": "x"}, transaction_id=topped_up)
    assert since_spent.json["code"] == "insufficient_funds"
    c.writes_refuse_without_a_key_on_conflict_and_in_progress(
        "POST", "/transactions/{transaction_id}/reverse", {"reason": "x"}, {"reason": "y"}, "admin", monkeypatch,
        transaction_id=admins,
    )
    # Unknown codes and ids never looked up, until the caller is locked out: 404 on each endpoint, then 429 on each.
    unknown = generate_card_code()
    assert c.call("POST", "/cards/lookup", {"code": unknown}).status_code == 404
    assert c.call("POST", "/cards/redeem", {"code": unknown, "amount": "1"}).status_code == 404
    never_looked_up = card_row(app, issue(app, "5.00")).id
    assert c.call("GET", "/cards/{card_id}/transactions", card_id=never_looked_up).status_code == 404
    assert c.call("POST", "/cards/{card_id}/redeem", {"amount": "1"}, card_id=never_looked_up).status_code == 404
    assert c.call("POST", "/cards/{card_id}/load", {"amount": "1"}, card_id=never_looked_up).status_code == 404
    while c.call("POST", "/cards/lookup", {"code": generate_card_code()}).status_code == 404:
        pass
    for method, template, body in (
        ("POST", "/cards/lookup", {"code": code}), ("POST", "/cards/redeem", {"code": code, "amount": "1"}),
        ("GET", "/cards/{card_id}/transactions", None), ("POST", "/cards/{card_id}/redeem", {"amount": "1"}),
        ("POST", "/cards/{card_id}/load", {"amount": "1"}),
    ):
        assert c.call(method, template, body, card_id=card_id).status_code == 429
    # A code where an id goes: the retired route with a code in the path, 410 with the route to use.
    for method, template in (("POST", "/cards/{card_id}/redeem"), ("POST", "/cards/{card_id}/load"),
                             ("GET", "/cards/{card_id}/transactions")):
        gone = c.call(method, template, {"amount": "1"}, card_id=code)
        assert gone.json["code"] == "gone" and code not in gone.get_data(as_text=True)
    c.past_the_rate_limit(*CARD_PATHS)
    c.with_a_nul_character(*CARD_PATHS)
    c.with_an_unknown_query_parameter(*CARD_PATHS)
    assert c.documented(*CARD_PATHS) - c.seen == set()
    unprovoked = c.documented_codes(*CARD_PATHS) - c.answered
    assert not unprovoked, f"documented codes no test provoked: {sorted(unprovoked)}"
    assert (DESIGN_CODES | {"cancelled"}) - {"usage_limit_reached", "already_redeemed"} <= c.codes


# --- Contract: me -------------------------------------------------------------------------


def test_the_customers_own_endpoints_answer_as_documented(app, contract):
    c = contract
    for template in ("/me", "/me/cards", "/me/transactions"):
        assert c.call("GET", template, role=None).status_code == 401
    card = c.call("POST", "/cards", {"amount": "40.00", "currency": "USD", "owner_email": "customer@example.com"}, role="admin")
    c.call("POST", "/cards/redeem", {"code": card.json["code"], "amount": "12.50"})
    me = c.call("GET", "/me", role="customer").json
    assert me["role"] == "customer" and "wallet" in me and "loops" in me
    assert c.call("GET", "/me", role="merchant").json["merchant"] == "corner-cafe"
    assert c.call("GET", "/me", role="admin").json["role"] == "admin"
    assert [x["balance"] for x in c.call("GET", "/me/cards", role="customer").json["cards"]] == ["27.50"]
    history = c.call("GET", "/me/transactions", role="customer").json["transactions"]
    assert [(t["kind"], t["amount"]) for t in history][:2] == [("redeem", "-12.50"), ("issue", "40.00")]
    for template in ("/me/cards", "/me/transactions"):
        assert c.call("GET", template, role="merchant").status_code == 403
    c.past_the_rate_limit("/me", "/me/cards", "/me/transactions")
    c.with_a_nul_character("/me", "/me/cards", "/me/transactions")
    c.with_an_unknown_query_parameter("/me", "/me/cards", "/me/transactions")
    assert c.documented("/me", "/me/cards", "/me/transactions") - c.seen == set()
    unprovoked = c.documented_codes("/me", "/me/cards", "/me/transactions") - c.answered
    assert not unprovoked, f"documented codes no test provoked: {sorted(unprovoked)}"


# --- Contract: coupons --------------------------------------------------------------------

COUPON_PATHS = ("/coupons", "/coupons/{coupon_id}", "/coupons/validate", "/coupons/redeem")
SAVE15 = {"code": "SAVE15", "discount_type": "percent", "discount_value": "15", "max_uses": 5}


def test_every_coupon_endpoint_and_error_answers_as_documented(app, contract, monkeypatch):
    c = contract
    for template in COUPON_PATHS:
        for method in c.doc["paths"][template]:
            assert c.call(method.upper(), template, {}, role=None, coupon_id=1).status_code == 401
    # Admin: create, read, replace, delete, with refusals.
    created = c.call("POST", "/coupons", SAVE15, role="admin")
    assert created.status_code == 201, created.json
    full = {
        "code": "TAKE5", "name": "Take five", "discount_type": "fixed", "discount_value": "5.00", "currency": "USD",
        "max_uses": 100, "uses_per_user": 1, "expires_at": "2099-12-31", "min_order": "20.00",
        "merchants": ["corner-cafe"], "allowed_domains": ["example.com"], "channels": ["api"],
    }
    assert c.call("POST", "/coupons", full, role="admin").status_code == 201
    assert c.call("POST", "/coupons", {**SAVE15, "colour": "red"}, role="admin").status_code == 422
    assert c.call("POST", "/coupons", SAVE15, role="merchant").status_code == 403
    coupon_id = created.json["id"]
    assert c.call("GET", "/coupons/{coupon_id}", role="admin", coupon_id=coupon_id).json == created.json
    assert c.call("GET", "/coupons/{coupon_id}", role="merchant", coupon_id=coupon_id).status_code == 403
    assert c.call("GET", "/coupons/{coupon_id}", role="admin", coupon_id=999).status_code == 404
    replaced = c.call("PUT", "/coupons/{coupon_id}", {**SAVE15, "discount_value": 20}, role="admin", coupon_id=coupon_id)
    assert replaced.status_code == 200 and replaced.json["discount_value"] == "20"
    assert c.call("PUT", "/coupons/{coupon_id}", {**SAVE15, "max_uses": 0}, role="admin", coupon_id=coupon_id).status_code == 422
    assert c.call("PUT", "/coupons/{coupon_id}", SAVE15, role="admin", coupon_id=999).status_code == 404
    assert c.call("PUT", "/coupons/{coupon_id}", SAVE15, role="merchant", coupon_id=coupon_id).status_code == 403
    c.writes_refuse_without_a_key_on_conflict_and_in_progress(
        "POST", "/coupons", {**SAVE15, "code": "ONCE"}, {**SAVE15, "code": "TWICE"}, "admin", monkeypatch,
    )
    c.writes_refuse_without_a_key_on_conflict_and_in_progress(
        "PUT", "/coupons/{coupon_id}", SAVE15, {**SAVE15, "max_uses": 6}, "admin", monkeypatch, coupon_id=coupon_id,
    )
    # Tills: validate and redeem, then every refusal.
    quote = c.call("POST", "/coupons/validate", {"code": "save15", "order_total": "40.00"})
    assert (quote.json["discount"], quote.json["total_after"]) == ("6.00", "34.00")
    used = c.call("POST", "/coupons/redeem", {"code": "SAVE15", "order_total": 40, "reference": "sale-1",
                                              "customer_email": "cara@example.com"})
    assert used.status_code == 200 and used.json["use"]["reference"] == "sale-1"
    c.writes_refuse_without_a_key_on_conflict_and_in_progress(
        "POST", "/coupons/redeem", {"code": "SAVE15", "order_total": "10.00"}, {"code": "SAVE15", "order_total": "11.00"},
        "merchant", monkeypatch,
    )
    for path in ("/coupons/validate", "/coupons/redeem"):
        assert c.call("POST", path, {"code": "SAVE15", "order_total": "1"}, role="customer").status_code == 403
        assert c.call("POST", path, {"code": "SAVE15", "order_total": "10.001"}).json["field"] == "order_total"
    rules = (
        ("ONEEACH", {"uses_per_user": 1}, {"customer_email": "cara@example.com"}, "already_redeemed"),
        ("BOOKS", {"merchants": ["book-nook"]}, {}, "not_valid_here"),
        ("EUROS", {"discount_type": "fixed", "discount_value": "5.00", "currency": "EUR"}, {}, "currency_mismatch"),
        ("SINGLE", {"max_uses": 1}, {}, "usage_limit_reached"),
        ("OLD", {}, {}, "expired"),
    )
    for name, extra, order, expected in rules:
        made = c.call("POST", "/coupons", {**SAVE15, "code": name, **extra}, role="admin")
        assert made.status_code == 201, made.json
        body = {"code": name, "order_total": "40.00", **order}
        if expected in ("already_redeemed", "usage_limit_reached"):
            assert c.call("POST", "/coupons/redeem", body).status_code == 200
        if expected == "expired":
            with app.app_context():
                db.session.get(Campaign, made.json["id"]).expires_at = utcnow() - timedelta(days=1)
                db.session.commit()
        for path in ("/coupons/validate", "/coupons/redeem"):
            assert c.call("POST", path, body).json["code"] == expected, (name, path)
    # Delete, then the code is unknown; unknown codes until the caller is locked out.
    c.writes_refuse_without_a_key_on_conflict_and_in_progress(
        "DELETE", "/coupons/{coupon_id}", None, None, "admin", monkeypatch, other_params={"coupon_id": made.json["id"]},
        coupon_id=coupon_id,
    )
    assert c.call("DELETE", "/coupons/{coupon_id}", role="admin", coupon_id=coupon_id).status_code == 404
    assert c.call("DELETE", "/coupons/{coupon_id}", role="merchant", coupon_id=coupon_id).status_code == 403
    for path in ("/coupons/validate", "/coupons/redeem"):
        assert c.call("POST", path, {"code": "SAVE15", "order_total": "10.00"}).status_code == 404
    while c.call("POST", "/coupons/validate", {"code": f"WRONG{uuid.uuid4().hex[:6]}", "order_total": "1"}).status_code == 404:
        pass
    for path in ("/coupons/validate", "/coupons/redeem"):
        assert c.call("POST", path, {"code": "TAKE5", "order_total": "30.00"}).status_code == 429
    c.past_the_rate_limit(*COUPON_PATHS)
    c.with_a_nul_character(*COUPON_PATHS)
    c.with_an_unknown_query_parameter(*COUPON_PATHS)
    assert c.documented(*COUPON_PATHS) - c.seen == set()
    unprovoked = c.documented_codes(*COUPON_PATHS) - c.answered
    assert not unprovoked, f"documented codes no test provoked: {sorted(unprovoked)}"
    assert {"usage_limit_reached", "already_redeemed", "not_valid_here", "currency_mismatch", "expired",
            "idempotency_conflict", "idempotency_in_progress", "rate_limited"} <= c.codes


def test_the_reference_endpoints_answer_as_documented(contract):
    c = contract
    assert c.call("GET", "/openapi.json", role=None).status_code == 200
    assert c.call("GET", "/docs", role=None).status_code == 200
    c.with_a_nul_character("/openapi.json", "/docs")
    c.with_an_unknown_query_parameter("/openapi.json", "/docs")
    assert c.documented("/openapi.json", "/docs") - c.seen == set()


# --- Contract: the customer's writes ------------------------------------------------------

CUSTOMER_PATHS = ("/me/redeem", "/me/points/convert", "/me/cards/{card_id}/transfer", "/transfers/claim")


def test_the_customers_writes_answer_as_documented(app, contract, monkeypatch):
    from portal.tokens import create_token
    from portal.cards.codes import generate_card_code
    from portal.models import User
    from tests.unit.test_api_customer import credit, plus
    from tests.unit.test_customer_helpers import add_customer, add_loops
    from tests.unit.test_customer_helpers import issue as issue_owned

    c = contract
    for template in CUSTOMER_PATHS:
        assert c.call("POST", template, {}, role=None, card_id=1).status_code == 401
        assert c.call("POST", template, {}, role="merchant", card_id=1).status_code == 403
    add_customer(app, "friend@example.com")
    with app.app_context():
        friend = db.session.scalar(db.select(User).where(User.email == "friend@example.com"))
        c.tokens["friend"] = create_token(db.session, friend, "tests")[1]
        db.session.commit()
    # Redeem: a bearer card, credit, a feature, then refusals.
    bearer = issue(app, "15.00")
    assert c.call("POST", "/me/redeem", {"code": bearer}, role="customer").json["kind"] == "card"
    credit(app, uses_per_user="1")
    plus(app, max_uses="1")
    assert c.call("POST", "/me/redeem", {"code": "FREE5"}, role="customer").json["kind"] == "credit"
    assert c.call("POST", "/me/redeem", {"code": "PLUS30"}, role="customer").json["kind"] == "feature"
    assert c.call("POST", "/me/redeem", {"code": "FREE5"}, role="customer").json["code"] == "already_redeemed"
    assert c.call("POST", "/me/redeem", {"code": "PLUS30"}, role="friend").json["code"] == "usage_limit_reached"
    assert c.call("POST", "/me/redeem", {"code": "NOSUCH"}, role="customer").status_code == 404
    assert c.call("POST", "/me/redeem", {}, role="customer").json["field"] == "code"
    credit(app, code="MANY5")
    c.writes_refuse_without_a_key_on_conflict_and_in_progress(
        "POST", "/me/redeem", {"code": "MANY5"}, {"code": "many-5"}, "customer", monkeypatch,
    )
    # Convert: a card, short of Loops, a bad body.
    add_loops(app, "customer@example.com", 3000)
    converted = c.call("POST", "/me/points/convert", {"amount": "10.00", "currency": "USD"}, role="customer")
    assert converted.status_code == 201 and converted.json["loops_spent"] == 1000
    scoped = c.call("POST", "/me/points/convert", {"amount": 5, "merchant": "book-nook"}, role="customer")
    assert scoped.status_code == 201, scoped.json
    short = c.call("POST", "/me/points/convert", {"amount": "100.00", "currency": "USD"}, role="customer")
    assert short.json["code"] == "insufficient_funds"
    assert c.call("POST", "/me/points/convert", {"amount": "1", "merchant": "tokyo-tea", "currency": "USD"},
                  role="customer").json["code"] == "currency_mismatch"
    c.writes_refuse_without_a_key_on_conflict_and_in_progress(
        "POST", "/me/points/convert", {"amount": "1.00", "currency": "USD"}, {"amount": "2.00", "currency": "USD"},
        "customer", monkeypatch,
    )
    # Give and claim.
    card_id = converted.json["id"]
    assert c.call("POST", "/me/cards/{card_id}/transfer", {}, role="friend", card_id=card_id).status_code == 404
    assert c.call("POST", "/me/cards/{card_id}/transfer", {"to_email": "x"}, role="customer",
                  card_id=card_id).json["field"] == "to_email"
    given = c.call("POST", "/me/cards/{card_id}/transfer", {"to_email": "friend@example.com"}, role="customer", card_id=card_id)
    assert given.status_code == 201
    assert c.call("POST", "/transfers/claim", {"claim_code": given.json["claim_code"]}, role="customer").status_code == 422
    assert c.call("POST", "/transfers/claim", {"claim_code": "GL-0000-0000-0000"}, role="friend").status_code == 404
    c.writes_refuse_without_a_key_on_conflict_and_in_progress(
        "POST", "/transfers/claim", {"claim_code": given.json["claim_code"]}, {"claim_code": "GL-0000-0000-0001"},
        "friend", monkeypatch,
    )
    other = scoped.json["id"]
    c.writes_refuse_without_a_key_on_conflict_and_in_progress(
        "POST", "/me/cards/{card_id}/transfer", {}, {"to_email": "friend@example.com"}, "customer", monkeypatch,
        card_id=other,
    )
    bad_claim = c.call("POST", "/transfers/claim", {"claim_code": "GL-0000-0000-0000"}, role="customer")
    assert bad_claim.status_code == 404
    # Another address's transfer: forbidden.
    third = c.call("POST", "/me/points/convert", {"amount": "1.00", "currency": "USD"}, role="customer").json["id"]
    to_friend = c.call("POST", "/me/cards/{card_id}/transfer", {"to_email": "friend@example.com"}, role="customer",
                       card_id=third).json["claim_code"]
    add_customer(app, "stranger@example.com")
    with app.app_context():
        stranger = db.session.scalar(db.select(User).where(User.email == "stranger@example.com"))
        c.tokens["stranger"] = create_token(db.session, stranger, "tests")[1]
        db.session.commit()
    assert c.call("POST", "/transfers/claim", {"claim_code": to_friend}, role="stranger").status_code == 403
    # Cards that cannot be used: a bearer card redeemed, one's own card given.
    for setup in ("frozen", "cancelled", "expired"):
        bearer_code = issue(app, "5.00")
        _set_card(app, bearer_code, setup)
        assert c.call("POST", "/me/redeem", {"code": bearer_code}, role="customer").json["code"] == setup
        own_id, own_code = issue_owned(app, owner="customer@example.com", amount="5.00")
        _set_card(app, own_code, setup)
        assert c.call("POST", "/me/cards/{card_id}/transfer", {}, role="customer", card_id=own_id).json["code"] == setup
    # A friend's card frozen while it waits, a transfer past its date, one claimed already.
    held_id, held_code = issue_owned(app, owner="customer@example.com", amount="5.00")
    held = c.call("POST", "/me/cards/{card_id}/transfer", {}, role="customer", card_id=held_id).json["claim_code"]
    _set_card(app, held_code, "frozen")
    assert c.call("POST", "/transfers/claim", {"claim_code": held}, role="friend").json["code"] == "frozen"
    late_id, _ = issue_owned(app, owner="customer@example.com", amount="5.00")
    late = c.call("POST", "/me/cards/{card_id}/transfer", {}, role="customer", card_id=late_id).json["claim_code"]
    with app.app_context():
        db.session.execute(db.update(Transfer).where(Transfer.card_id == late_id).values(expires_at=utcnow() - timedelta(days=1)))
        db.session.commit()
    assert c.call("POST", "/transfers/claim", {"claim_code": late}, role="friend").json["code"] == "expired"
    claimed = c.call("POST", "/transfers/claim", {"claim_code": given.json["claim_code"]}, role="friend")
    assert claimed.json["code"] == "already_redeemed"
    # A code for the web only; an amount that is no number.
    credit(app, code="WEB5", channels=["web"])
    assert c.call("POST", "/me/redeem", {"code": "WEB5"}, role="customer").json["code"] == "not_valid_here"
    nonsense = c.call("POST", "/me/points/convert", {"amount": "ten", "currency": "USD"}, role="customer")
    assert nonsense.json["code"] == "validation_error"
    # Unknown codes until the caller is locked out, then 429 on both look-ups.
    while c.call("POST", "/me/redeem", {"code": generate_card_code()}, role="customer").status_code == 404:
        pass
    assert c.call("POST", "/transfers/claim", {"claim_code": to_friend}, role="customer").status_code == 429
    c.past_the_rate_limit(*CUSTOMER_PATHS)
    c.with_a_nul_character(*CUSTOMER_PATHS)
    c.with_an_unknown_query_parameter(*CUSTOMER_PATHS)
    assert c.documented(*CUSTOMER_PATHS) - c.seen == set()
    unprovoked = c.documented_codes(*CUSTOMER_PATHS) - c.answered
    assert not unprovoked, f"documented codes no test provoked: {sorted(unprovoked)}"


def test_the_reference_page_says_who_may_call_each_operation_and_shows_a_curl_for_it(client):
    """Can a reader see, per operation, who may call it and a command that calls it?"""
    DOCUMENT = client.get("/api/v1/openapi.json").json
    html = client.get("/api/v1/docs").get_data(as_text=True)
    sections = re.findall(r'<section class="card" id="([a-z_]+)".*?</section>', html, flags=re.S)
    operations = {op["operationId"] for item in DOCUMENT["paths"].values() for op in item.values()}
    assert operations <= set(sections)
    redeem = re.search(r'<section class="card" id="card_redeem".*?</section>', html, flags=re.S).group(0)
    assert "Who may call it:</strong>\n      merchant, admin, with a token of their own" in redeem
    assert "curl -X POST &#39;http://localhost/api/v1/cards/12/redeem&#39;" in redeem  # an id: codes stay out of URLs
    assert "/cards/GC-" not in html
    assert "Idempotency-Key: $(uuidgen)" in redeem and "&#34;amount&#34;: &#34;12.50&#34;" in redeem
    docs = re.search(r'<section class="card" id="openapi_docs".*?</section>', html, flags=re.S).group(0)
    assert "anyone; no token needed" in docs and "Authorization" not in docs
    assert 'href="/settings/tokens"' in html


def test_every_example_in_the_document_is_valid_for_its_schema(client):
    """Would a reader who copies an example send a request the document itself refuses?"""
    document = client.get("/api/v1/openapi.json").json
    registry = Registry().with_resource(DOC_URI, DRAFT202012.create_resource(document))
    checked = 0
    for name, schema in document["components"]["schemas"].items():
        validator = Draft202012Validator({"$ref": f"{DOC_URI}#/components/schemas/{name}"}, registry=registry)
        for example in schema.get("examples", []):
            assert not list(validator.iter_errors(example)), (name, example)
            checked += 1
    assert checked >= 11

"""The OpenAPI document (DESIGN §5, issues 8 and 23), generated from the API's declared schemas: valid
OpenAPI 3.1, the same routes as the URL map, no code in any path, and the reference page rendered from it.
That each answer keeps to it is checked on every call (spectree, portal/api/contract.py) and by the tests
that drive each resource group through ``tests/unit/api_contract.Contract``."""

from __future__ import annotations

import json
import re

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from tests.api_contract import DESIGN_CODES, DOC_URI, METHODS, api_rules, template_of

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
    """Would a new endpoint without a declared contract, or a documented one that is gone, fail here?"""
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


def test_no_path_parameter_carries_a_code(client):
    """Codes travel only in bodies: is every path parameter of the document an id, a number?"""
    document = client.get("/api/v1/openapi.json").json
    for path, item in document["paths"].items():
        assert "code" not in path, path
        for method, op in item.items():
            for parameter in op.get("parameters", []):
                if parameter.get("in") == "path":
                    assert parameter["schema"]["type"] == "integer" and parameter["name"].endswith("_id"), (path, method)


@pytest.mark.parametrize("path", ["/cards/GC-BQ3C-3T05-JG78-GA2N-7", "/gifts/check/GIFT-7K2M-Q9PD-4X1T-C8VN"])
def test_a_retired_route_with_a_code_in_its_path_is_not_in_the_document_but_named_in_it(client, path):
    """Does an old client get 410 with the route to use, from a route the document leaves out but names?"""
    document = client.get("/api/v1/openapi.json").json
    retired = path.rsplit("/", 1)[0] + "/{code}"
    assert retired not in document["paths"] and retired in document["info"]["description"]
    assert client.get(f"/api/v1{path}").status_code == 401  # refused before anything is looked up


def test_every_operation_refuses_an_undeclared_body_field_or_query_parameter(client):
    """Are all bodies closed (additionalProperties false, down to a tender), so an unknown field is refused?"""
    document = client.get("/api/v1/openapi.json").json
    schemas = document["components"]["schemas"]
    bodies = {op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
              for item in document["paths"].values() for op in item.values() if "requestBody" in op}
    assert {"PurchaseGift", "Checkout", "CouponRules", "RedeemByCode"} <= bodies
    for name in bodies | {"Tender"}:
        assert schemas[name]["additionalProperties"] is False, name

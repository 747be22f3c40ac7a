"""The generated OpenAPI document, served as ``/api/v1/openapi.json``, and the reference page rendered
from it on the server (``/api/v1/docs``: no script, so the page keeps the site's strict CSP)."""

from __future__ import annotations

import json

from flask import jsonify, render_template, request
from markupsafe import Markup, escape

from portal.api import bp
from portal.api.contract import operation, served_document
from portal.web.guards import public
from portal.web.problems import STATUS


def resolve(doc: dict, node: dict) -> dict:
    """Follow a local ``$ref`` in the document."""
    while isinstance(node, dict) and "$ref" in node and node["$ref"].startswith("#/"):
        target = doc
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def type_of(schema: dict) -> str:
    """A short, readable type: Card, string, MoneyText or null, array of Transaction."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " or ".join(type_of(s) for s in schema["anyOf"])
    if "allOf" in schema:
        return " and ".join(type_of(s) for s in schema["allOf"] if "$ref" in s or "type" in s)
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array":
        return f"array of {type_of(schema.get('items', {}))}"
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"])
    if "const" in schema:
        return str(schema["const"])
    return kind


def fields(doc: dict, schema: dict) -> list[dict]:
    """The fields of an object schema, for a table."""
    schema = resolve(doc, schema)
    required = set(schema.get("required", ()))
    return [
        {"name": name, "type": type_of(prop), "required": name in required,
         "description": resolve(doc, prop).get("description", "")}
        for name, prop in schema.get("properties", {}).items()
    ]


def curl(doc: dict, method: str, path: str, op: dict, base_url: str) -> str:
    """A curl command that calls the operation with the document's example values."""
    parameters = [resolve(doc, p) for p in op.get("parameters", [])]
    for p in parameters:
        if p["in"] == "path":
            path = path.replace("{" + p["name"] + "}", str(p.get("example", f"<{p['name']}>")))
    lines = [f"curl -X {method.upper()} '{base_url}{path}'"]
    if op.get("security") != []:
        lines.append('-H "Authorization: Bearer $GIFTLOOP_TOKEN"')
    if any(p["name"] == "Idempotency-Key" for p in parameters):
        lines.append('-H "Idempotency-Key: $(uuidgen)"')
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if body:
        body = resolve(doc, body)
        example = body.get("examples", [{name: f"<{name}>" for name in body.get("required", [])}])[0]
        if example:
            lines += ["-H 'Content-Type: application/json'", f"-d '{json.dumps(example)}'"]
    return " \\\n  ".join(lines)


def operations(doc: dict, base_url: str) -> list[dict]:
    """Every operation, flattened for the template."""
    listed = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            responses = []
            for status, response in op["responses"].items():
                response = resolve(doc, response)
                media, content = next(iter(response.get("content", {}).items()), ("", {}))
                schema = content.get("schema", {})
                responses.append({
                    "status": status, "description": response["description"], "media": media,
                    "type": type_of(schema) if schema else "",
                    "codes": schema["allOf"][1]["properties"]["code"]["enum"] if media == "application/problem+json" else [],
                    "fields": fields(doc, schema) if media == "application/json" and "$ref" in schema else [],
                })
            listed.append({
                "id": op["operationId"], "method": method.upper(), "path": path, "summary": op["summary"],
                "description": _own_words(op.get("description", "")),
                "tag": op["tags"][0], "roles": op.get("x-roles"),
                "curl": curl(doc, method, path, op, base_url),
                "parameters": [resolve(doc, p) for p in op.get("parameters", [])],
                "body": type_of(body) if body else None, "body_fields": fields(doc, body) if body else [],
                "responses": responses,
            })
    return listed


def _own_words(description: str) -> str:
    """An operation's description without the sentence on who may call it (the page says that itself)."""
    for marker in ("Who: ", "Public: no token needed."):
        description = description.split(marker)[0]
    return description.strip()


@bp.app_template_filter("code_spans")
def code_spans(text: str | None) -> Markup:
    """The document's Markdown `code` spans as <code>, everything else escaped."""
    parts = str(escape(text or "")).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick stays as written
        return Markup(escape(text or ""))
    return Markup("".join(f"<code>{part}</code>" if i % 2 else part for i, part in enumerate(parts)))


@bp.get("/openapi.json")
@public
@operation("Reference")
def openapi_document():
    """This document"""
    return jsonify(served_document())


@bp.get("/docs")
@public
@operation("Reference")
def openapi_docs():
    """This document as a page"""
    doc = served_document()
    schemas = {
        name: {"type": type_of(s), "description": s.get("description", ""), "fields": fields(doc, s),
               "pattern": s.get("pattern")}
        for name, s in doc["components"]["schemas"].items()
    }
    return render_template(
        "api/docs.html", doc=doc, operations=operations(doc, request.url_root + "api/v1"), schemas=schemas,
        codes=[(code, STATUS[code]) for code in STATUS],
    )

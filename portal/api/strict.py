"""Strict input: a body field or query parameter the API document does not declare is refused.

An ignored field is a silent surprise (a misspelt ``recipient_email`` once made an open gift anyone
holding its code could redeem), so every request is checked against its operation in the OpenAPI
document before the view runs: the answer is 422 ``validation_error`` naming the field, with its JSON
pointer, and nothing changes. The document stays the one declaration of what each endpoint takes.
"""

from __future__ import annotations

from functools import cache

from flask import request

from portal.api.body import json_body
from portal.errors import ValidationError


class UnknownField(ValidationError):
    """A field no schema declares; ``pointer`` is where it is (RFC 6901), like ``/tenders/0/colour``."""

    def __init__(self, pointer: str, *, where: str = "body"):
        name = pointer.rsplit("/", 1)[-1] if where == "body" else pointer
        super().__init__(f"Unknown {'field' if where == 'body' else 'query parameter'} {name}", field=name)
        self.pointer = pointer if where == "body" else None


def refuse_unknown_input() -> None:
    """Before every API view (after the token and role checks): no undeclared query parameter or field."""
    op = _operation(request.endpoint)
    if op is None:  # not an /api/v1 route (a 404 or 405 on its way)
        return
    declared = {p["name"] for p in _parameters(op) if p["in"] == "query"}
    for name in request.args:
        if name not in declared:
            raise UnknownField(name, where="query")
    if request.get_data(cache=True):
        body = json_body()
        schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if schema is None and isinstance(body, dict) and body:
            raise UnknownField("/" + _escape(next(iter(body))))
        if schema is not None:
            _check(body, schema, "")


def _check(value, schema: dict, pointer: str) -> None:
    """Refuse the first key of ``value`` (walked with its schema) that a closed object does not declare."""
    properties, closed, items = _shape(schema)
    if isinstance(value, dict) and properties is not None:
        for key, item in value.items():
            here = f"{pointer}/{_escape(str(key))}"
            if key not in properties:
                if closed:
                    raise UnknownField(here)
                continue
            _check(item, properties[key], here)
    elif isinstance(value, list) and items is not None:
        for i, item in enumerate(value):
            _check(item, items, f"{pointer}/{i}")


def _shape(schema: dict) -> tuple[dict | None, bool, dict | None]:
    """An object schema's properties (merged over allOf/anyOf), whether it is closed, an array's items."""
    schema = _resolve(schema)
    properties = dict(schema.get("properties", {})) if "properties" in schema else None
    closed = schema.get("additionalProperties") is False or schema.get("unevaluatedProperties") is False
    items = schema.get("items")
    for part in (*schema.get("allOf", ()), *schema.get("anyOf", ()), *schema.get("oneOf", ())):
        more, _, more_items = _shape(part)
        if more is not None:
            properties = {**(properties or {}), **more}
        items = items or more_items
    return properties, closed, items


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _resolve(node: dict) -> dict:
    from portal.api.openapi import resolve  # the document imports the views' module; read it late

    return resolve(node)


def _parameters(op: dict) -> list[dict]:
    return [_resolve(p) for p in op.get("parameters", [])]


@cache
def _operation(endpoint: str | None) -> dict | None:
    from portal.api.openapi import DOCUMENT

    for path in DOCUMENT["paths"].values():
        for op in path.values():
            if isinstance(op, dict) and f"api.{op.get('operationId')}" == endpoint:
                return op
    return None

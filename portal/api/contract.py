"""The API's contract, declared once per view and checked on every call (issue 23).

``@operation`` puts a view under spectree: the view's ``query`` and ``json`` parameters are typed with
models of ``portal.api.models``, which spectree checks before the view runs, and the view's answer is
checked against the model named for its status. The OpenAPI 3.1 document (``document()``) is
generated from the same declarations, with what only the app knows added: who may call each
operation (the role guard), which writes take an Idempotency-Key, and the refusals each can give.
"""

from __future__ import annotations

import copy
import inspect
import logging
import typing
from dataclasses import dataclass

import pydantic
from flask import current_app, request
from spectree import Response, SpecTree
from spectree.plugins.base import Context
from spectree.plugins.flask_plugin import FlaskPlugin
from spectree.utils import get_multidict_items

from portal.api import MAX_ID
from portal.api.body import NOT_AN_OBJECT, json_body
from portal.api.idempotency import KEEP_FOR, MAX_KEY_LENGTH
from portal.api.models import NoBody, NoQuery
from portal.api.models.problems import Problem
from portal.errors import ValidationError
from portal.web.guards import EVERYONE, allowed_roles
from portal.web.problems import STATUS

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
ROLE_ORDER = ("customer", "merchant", "admin")


class Refused(ValidationError):
    """A body field or query parameter its schema refuses: 422 naming it, and where it is in the body as a
    JSON pointer (RFC 6901), like ``/tenders/0/colour``."""

    def __init__(self, message: str, field: str | None, pointer: str | None = None):
        super().__init__(message, field=field)
        self.pointer = pointer


def _escape(key: object) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _field_name(loc: tuple) -> str:
    """``tenders[0].amount`` for the location ("tenders", 0, "amount"), as the domain names fields."""
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def refusal(error: pydantic.ValidationError, where: str) -> ValidationError:
    """The problem for the first thing a schema refused, naming the field (and its JSON pointer in a body)."""
    first = error.errors()[0]
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    if not loc:
        return ValidationError(NOT_AN_OBJECT if where == "body" else first["msg"])
    pointer = "".join(f"/{_escape(p)}" for p in loc) if where == "body" else None
    if first["type"] == "extra_forbidden":  # an ignored field is a silent surprise: named, refused
        name = str(loc[-1])
        return Refused(f"Unknown {'field' if where == 'body' else 'query parameter'} {name}", name, pointer)
    name = _field_name(loc)
    return Refused(f"Give {name}" if first["type"] == "missing" else f"{name}: {first['msg']}", name, pointer)


def _body():
    """The request's JSON value, read once by ``portal.api.body``; {} for no body at all (JSON null is no object)."""
    return json_body() if request.get_data(cache=True) else {}


class GiftloopPlugin(FlaskPlugin):
    """spectree's Flask plugin reading bodies through our one body reader and refusing as the API does."""

    def request_validation(self, request, query, json, form, headers, cookies):
        query, json = query or NoQuery, json or NoBody
        try:
            checked_query = query.model_validate(get_multidict_items(request.args, query))
        except pydantic.ValidationError as error:
            raise refusal(error, "query") from None
        try:
            checked_body = json.model_validate(_body())
        except pydantic.ValidationError as error:
            raise refusal(error, "body") from None
        request.context = Context(checked_query, checked_body, None, None, None)

    def validate_response(self, resp, resp_model, skip_validation, force_resp_serialize):
        """An answer outside its schema fails loudly in tests; in production it is logged and sent as made
        (the money it reports has moved: a 500 would only hide that)."""
        response, error = super().validate_response(resp, resp_model, skip_validation, force_resp_serialize)
        if error is not None:
            if current_app.testing:
                raise AssertionError(f"{request.method} {request.path}: the answer is outside its schema: {error}")
            log.error("%s %s: the answer is outside its schema: %s", request.method, request.url_rule, error)
            response, _ = super().validate_response(resp, None, True, force_resp_serialize)
        return response, error

    def get_func_operation_id(self, func, path, method):
        return func.__name__


spec = SpecTree(
    backend=GiftloopPlugin,
    mode="strict",
    annotations=True,
    title="Giftloop API",
    version="1",
    validation_error_model=Problem,
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda parent, child: child,
)


@dataclass(frozen=True)
class Declared:
    """What an operation adds to its schemas: its tag, and the refusals it may answer beyond the usual."""

    tag: str
    status: int
    errors: tuple[int, ...] = ()  # statuses beyond those every operation of its kind can give
    refusals: tuple[str, ...] = ()  # problem codes it may answer beyond validation_error (422; conflict 409)


def operation(tag: str, answer: type | None = None, *, status: int = 200, errors: tuple[int, ...] = (),
              refusals: tuple[str, ...] = ()):
    """Declare a view an operation of the API: ``answer`` is the model of its ``status`` answer; its
    ``query`` and ``json`` parameters' annotations are the models of its query and body."""

    def declare(view):
        # Resolved here, where the view's module is known: a wrapper between (``idempotent``) has other globals.
        view.__annotations__ = typing.get_type_hints(inspect.unwrap(view))
        said = (answer.__doc__ or "").strip().split("\n")[0] if answer is not None else None
        checked = spec.validate(resp=Response(**{f"HTTP_{status}": (answer, said or None)}), tags=[tag])(view)
        checked.declared = Declared(tag, status, tuple(errors), tuple(refusals))
        return checked

    return declare


# --- The document ---------------------------------------------------------------------------------------------

TAGS = [
    {"name": "Cards", "description": "Tills and programs: look up, issue, redeem, load, history, undo"},
    {"name": "Me", "description": "The token's own user; customers redeem codes, convert Loops and give cards"},
    {"name": "Coupons", "description": "Tills validate and redeem; admins manage"},
    {"name": "Checkout", "description": "A sale at a till in one call, with one Idempotency-Key"},
    {"name": "Events", "description": (
        "What happened, in commit order, for programs that pull rather than receive webhooks. Events are kept for "
        "30 days (`EVENT_RETENTION_DAYS`): pull at least that often. Webhook bodies are the same Event (without "
        "`sequence`), signed in the `Giftloop-Signature` header: `t=<unix time>,v1=<hex HMAC-SHA256 of "
        "\"<t>.<body>\" under the endpoint's secret>`."
    )},
    {"name": "Holds", "description": (
        "Reserve an amount on a card for a sale not yet complete, then capture it (all or less) or release it; "
        "an open hold lapses after its time. A card's `available` is its `balance` less its open holds"
    )},
    {"name": "Gifts", "description": "Customers buy gift subscriptions for friends, send, cancel and redeem them"},
    {"name": "Orders", "description": (
        "Sell gift cards from a shop of your own: place an order, send the buyer to its hosted checkout, and follow "
        "it here or by the `order.paid` and `order.refunded` events"
    )},
    {"name": "Reference", "description": "This document"},
]
DESCRIPTION = (
    "Send a token as `Authorization: Bearer <token>`; it acts with its user's role. "
    "Amounts are strings in answers (\"12.50\"); requests take a string or a number with no more "
    "digits than the currency allows. Errors are `application/problem+json` with a stable `code`. "
    "Every write takes an `Idempotency-Key` header. A token may make {rate_limit} by default (some "
    "tokens have their own limit); past it the answer is 429 `rate_limited` with `Retry-After`, and every answer "
    "carries the `RateLimit-Policy` and `RateLimit` fields. Card codes travel only in request bodies, "
    "where no log keeps them: the retired routes with a code in the path (`/cards/{{code}}`, "
    "`…/redeem`, `…/load`, `…/transactions`, `/gifts/check/{{code}}`) answer 410 `gone` with the route to use "
    "instead. A field or query parameter an operation does not declare is refused: 422 `validation_error` "
    "naming it (`field`, and `pointer` in the body)."
)
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "required": True,
                               "schema": {"type": "integer", "minimum": 0}}}
RATE_LIMIT_FIELDS = {
    "RateLimit-Policy": {
        "description": 'The token\'s quota, as in the IETF httpapi draft: `"token";q=120;w=60` (120 requests in 60 seconds)',
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'What is left of it: `"token";r=0;t=41` (0 requests left, the window ends in 41 seconds)',
        "schema": {"type": "string"},
    },
}
REPLAYED = {"Idempotent-Replayed": {
    "description": "true when this is the stored answer to an earlier request with the same key",
    "schema": {"type": "string", "enum": ["true"]},
}}
PARAMETERS = {
    "IdempotencyKey": {
        "name": "Idempotency-Key", "in": "header", "required": True,
        "description": (
            f"Any unique string of up to {MAX_KEY_LENGTH} characters, per write. The same key and body answer the "
            f"first answer again; another body under the key is 422 idempotency_conflict; kept {KEEP_FOR.days} days."
        ),
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    },
}
PATH_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
EXAMPLE_IDS = {"card_id": 12, "transaction_id": 345, "coupon_id": 7, "gift_id": 21, "order_id": 31, "hold_id": 5}


def _problem(status: int, description: str, codes: list[str], headers: dict | None = None) -> dict:
    schema = {"allOf": [{"$ref": "#/components/schemas/Problem"},
                        {"properties": {"code": {"enum": codes}, "status": {"const": status}}}]}
    response = {"description": description, "content": {"application/problem+json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _codes(status: int) -> list[str]:
    return [code for code, answer in STATUS.items() if answer == status]


RESPONSES = {
    "MissingKey": _problem(
        400, f"No Idempotency-Key header, or one longer than {MAX_KEY_LENGTH} characters (validation_error); or text with a NUL "
        "character anywhere in the request, or a body nested too deep or not UTF-8 (bad_request)",
        ["validation_error", "bad_request"],
    ),
    "BadRequest": _problem(400, "Text with a NUL character anywhere in the request, or a body nested too deep or "
                           "not UTF-8", ["bad_request"]),
    "Unauthorized": _problem(401, "No valid bearer token", _codes(401), {"WWW-Authenticate": {
        "required": True, "schema": {"type": "string"}, "description": 'Bearer realm="giftloop"'}}),
    "Forbidden": _problem(403, "The token's role may not do this", _codes(403)),
    "NotFound": _problem(404, "Nothing has that code or id", _codes(404)),
    "InProgress": _problem(409, "A request with this Idempotency-Key is still running", ["idempotency_in_progress"],
                           RETRY_AFTER),
    "Gone": _problem(410, "Not an id but a code in the path: the retired route of that shape; `use` names the "
                     "route to call instead", _codes(410)),
    "RateLimited": _problem(
        429, "Too many requests with this token in a minute, or too many codes that didn't work from this caller",
        _codes(429), {**RETRY_AFTER, **RATE_LIMIT_FIELDS},
    ),
}
NAMES = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "InProgress", 410: "Gone", 429: "RateLimited"}
REFUSED = "The request is not valid or the operation was refused; nothing changed"

def _who(roles: frozenset[str] | None) -> str:
    return f"Who: {', '.join(_ordered(roles))}." if roles else "Public: no token needed."


def _ordered(roles) -> list[str]:
    return [role for role in ROLE_ORDER if role in roles]


def _query_parameter(parameter: dict) -> dict:
    """A query parameter as a client sends it: text for a value, never null."""
    schema = {k: v for k, v in parameter["schema"].items() if k != "title" and not (k == "default" and v is None)}
    if "anyOf" in schema:
        options = [part for part in schema.pop("anyOf") if part.get("type") != "null"]
        schema = {**options[0], **schema} if len(options) == 1 else {"anyOf": options, **schema}
    return {**parameter, "schema": schema}


def _complete(path: str, method: str, op: dict) -> dict:
    """One operation of spectree's document, with who may call it, its key header and every answer it gives."""
    endpoint = f"api.{op['operationId']}"
    view = current_app.view_functions[endpoint]
    declared: Declared = view.declared
    roles = allowed_roles(endpoint)
    write = getattr(view, "idempotent", False)
    status = str(declared.status)
    answer = op["responses"][status]
    if write and status != "204":
        answer = {**answer, "headers": REPLAYED}
    if status == "204":
        answer = {"description": "Done; no content", "headers": REPLAYED}
    elif op["operationId"] == "openapi_docs":
        answer = {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}
    elif op["operationId"] == "openapi_document":
        answer = {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}
    responses = {status: answer, "400": {"$ref": f"#/components/responses/{'MissingKey' if write else 'BadRequest'}"}}
    errors = set(declared.errors)
    if roles is not EVERYONE:
        errors |= {401, 429} | ({403} if set(roles) != set(ROLE_ORDER) else set())
    if write:
        errors.add(409)
    for code in sorted(errors):
        responses[str(code)] = {"$ref": f"#/components/responses/{NAMES[code]}"}
    if conflicts := [r for r in declared.refusals if STATUS[r] == 409]:
        # The operation's own conflicts share 409 with a key still in use (which alone sends Retry-After).
        responses["409"] = _problem(
            409, "A request with this Idempotency-Key is still running (with Retry-After), or the operation "
            "conflicts with the state of what it names", ["idempotency_in_progress", *conflicts],
            {"Retry-After": {**RETRY_AFTER["Retry-After"], "required": False}},
        )
    refusals = ["validation_error", *(r for r in declared.refusals if STATUS[r] == 422),
                *(["idempotency_conflict"] if write else [])]
    responses["422"] = _problem(422, REFUSED, list(dict.fromkeys(refusals)))
    parameters = []
    for parameter in op.get("parameters", []):
        if parameter["in"] == "path" and parameter["schema"].get("type") == "integer":
            parameter = {**parameter, "schema": PATH_ID, "example": EXAMPLE_IDS.get(parameter["name"], 1)}
            parameter.pop("description", None)
        elif parameter["in"] == "query":
            parameter = _query_parameter(parameter)
        parameters.append(parameter)
    if write:
        parameters.append({"$ref": "#/components/parameters/IdempotencyKey"})
    completed = {
        "operationId": op["operationId"],
        "summary": op["summary"].rstrip("."),
        "description": f"{op['description']} {_who(roles)}".strip(),
        "tags": [declared.tag],
        "responses": dict(sorted(responses.items())),
    }
    if parameters:
        completed["parameters"] = parameters
    if "requestBody" in op:
        completed["requestBody"] = op["requestBody"]
    if roles is EVERYONE:
        completed["security"] = []
    else:
        completed["x-roles"] = _ordered(roles)
    return completed


_generated: dict | None = None


def document() -> dict:
    """The OpenAPI 3.1 document of /api/v1, generated from the declarations (once per process)."""
    global _generated
    if _generated is None:
        generated = copy.deepcopy(spec.spec)
        paths = {}
        for path, item in generated["paths"].items():
            if path.startswith(PREFIX + "/"):
                paths[path.removeprefix(PREFIX)] = {m: _complete(path, m, op) for m, op in item.items()}
        _generated = {
            "openapi": "3.1.0",
            "info": {"title": "Giftloop API", "version": "1",
                     "summary": "Gift cards, coupons and the customer's wallet for tills and programs",
                     "description": DESCRIPTION},
            "servers": [{"url": PREFIX}],
            "security": [{"bearer": []}],
            "tags": TAGS,
            "paths": paths,
            "components": {
                "securitySchemes": {"bearer": {
                    "type": "http", "scheme": "bearer",
                    "description": "A token made in settings or with `portal tokens create` (glt_…)",
                }},
                "schemas": dict(sorted(generated["components"]["schemas"].items())),
                "parameters": PARAMETERS,
                "responses": RESPONSES,
            },
        }
    return _generated


def served_document() -> dict:
    """The document as this server runs: its description names the configured default rate limit."""
    config = current_app.config
    doc = document()
    rate_limit = f"{config['API_RATE_LIMIT']} requests every {config['API_RATE_WINDOW_SECONDS']} seconds"
    return {**doc, "info": {**doc["info"], "description": doc["info"]["description"].format(rate_limit=rate_limit)}}

"""The one reader of an API request's JSON body: once per request, by the endpoint that takes it.

Endpoints read the body (through their declared schema, ``portal.api.contract``) after the token was checked, so a caller
without a valid token is answered 401 with not a byte of JSON parsed. Before parsing, the text must
be UTF-8 and nest objects and lists at most MAX_DEPTH deep (found by a flat scan, so no depth of
brackets can exhaust the parser's recursion). After parsing, no text in it may hold NUL, which
PostgreSQL cannot store, or half of a UTF-16 surrogate pair, which no column can.
"""

from __future__ import annotations

import json
import re

from flask import g, request

from portal.errors import DomainError, ValidationError
from portal.web.nul_guard import NUL_MESSAGE

MAX_DEPTH = 32
# A JSON string (escapes and all; an unterminated one runs to the end, so the scan stays linear),
# or one bracket outside strings.
_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)
NOT_AN_OBJECT = "The body must be a JSON object, like {\"amount\": \"12.50\"}"


class MalformedBody(DomainError):
    """A body no endpoint could read: 400, whatever the endpoint."""

    code = "bad_request"


def json_body():
    """The request's JSON value (None for an empty body, as for JSON null); parsed at most once per request.

    Raise MalformedBody (400) for text that is not UTF-8, nested too deep or holding NUL, and
    ValidationError (422) for a body that is not JSON or holds a lone surrogate.
    """
    if "json_body" not in g:
        try:
            g.json_body = _parse(request.get_data(cache=True))
        except DomainError as error:
            g.json_body = error
    if isinstance(g.json_body, DomainError):
        raise g.json_body
    return g.json_body


def _parse(data: bytes):
    if not data:
        return None
    if not request.is_json:
        raise ValidationError(NOT_AN_OBJECT + ", sent as Content-Type: application/json")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedBody("The body must be UTF-8 text") from None
    if _too_deep(text):
        raise MalformedBody(f"The body may nest objects and lists at most {MAX_DEPTH} deep")
    try:
        value = json.loads(text)
    except ValueError:
        raise ValidationError(NOT_AN_OBJECT) from None
    _check_text(value)
    return value


def _too_deep(text: str) -> bool:
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        bracket = match.group()
        if bracket in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif bracket in ("]", "}"):
            depth -= 1
    return False


def _check_text(value) -> None:
    """Every key and string in ``value`` storable: no NUL, no lone surrogate (walked without recursion)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise MalformedBody(NUL_MESSAGE)
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValidationError(
                    "Text in the body must be valid Unicode (a \\ud800–\\udfff escape must come in pairs)"
                ) from None

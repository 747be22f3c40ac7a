"""The API's contract as typed schemas (DESIGN §5, issue 23): every body, query and answer of /api/v1,
declared once. spectree checks each call against them and the OpenAPI document is generated from them
(``portal.api.contract``).

Bodies and queries refuse a field they do not declare (``extra="forbid"``): an ignored field is a
silent surprise (a misspelt ``recipient_email`` once made an open gift anyone holding its code could
redeem). Bodies are strict (``"5"`` is no number); a query's values are text, read as their types.
Answers are closed too, so an answer that drifts from its schema fails the tests, not a client.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from portal.errors import ValidationError
from portal.money import MAX_MAJOR, Money


def examples(*bodies: dict) -> ConfigDict:
    """A model's example bodies: the reference page's curl lines show the first, and tools read them."""
    return ConfigDict(json_schema_extra={"examples": list(bodies)})


class Body(BaseModel):
    """A request body: strict JSON types, no undeclared field."""

    model_config = ConfigDict(extra="forbid", strict=True)

    def money(self, name: str, currency: str) -> Money:
        """The amount field ``name`` in ``currency``, read by the one money parser; a refusal names the field."""
        try:
            return Money.parse(getattr(self, name), currency)
        except ValidationError as error:
            raise ValidationError(error.message, field=name) from None


class Query(BaseModel):
    """A query string: values are text read as their declared types, no undeclared parameter."""

    model_config = ConfigDict(extra="forbid")


class Answer(BaseModel):
    """An answer: exactly the declared fields."""

    model_config = ConfigDict(extra="forbid")


class NoBody(Body):
    """What an operation without a body takes: nothing (an empty object, or no body at all)."""


class NoQuery(Query):
    """What an operation without query parameters takes: none."""


def _drop_default(schema: dict) -> None:
    schema.pop("default", None)


def absent(description: str | None = None) -> Any:
    """An answer field that is sometimes left out (never null): not required, no default shown."""
    return Field(default=None, description=description, json_schema_extra=_drop_default)


def _amount(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise PydanticCustomError("amount", 'Give an amount as a string or a number, like "12.50"')
    return value


# An amount as the client sends it. Its currency is known only to the operation (the card's, the
# till's), so the view reads it with ``Body.money``: Money.parse, the one money parser.
Amount = Annotated[
    str | int | float,
    PlainValidator(_amount),
    WithJsonSchema({
        "description": (
            f'More than zero and at most {MAX_MAJOR:,}, as a string or a number with no more digits than the '
            'currency allows, like "12.50" or 12.5'
        ),
        "anyOf": [
            {"type": "string", "pattern": r"^[0-9]{1,7}(\.[0-9]{1,3})?$", "examples": ["12.50"]},
            {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_MAJOR},
        ],
    }),
]


def text(max_length: int, description: str | None = None, *, min_length: int = 0) -> Any:
    """Text of at most ``max_length`` characters, stripped of surrounding spaces."""
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
        Field(description=description),
    ]


Email = text(254)
Reference = text(100, "Your own reference, like an order number")
MerchantSlug = text(40, "A merchant's slug")

# What answers are made of.
Id = Annotated[int, Field(ge=1)]
MoneyText = Annotated[str, WithJsonSchema({
    "type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,3})?$",
    "description": 'An amount as a decimal string with the currency\'s digits: "12.50", "1500" (JPY)',
    "examples": ["12.50"],
})]
SignedMoneyText = Annotated[str, WithJsonSchema({
    "type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,3})?$",
    "description": "An amount moved: negative when value left the account", "examples": ["-12.50"],
})]
Currency = Annotated[str, WithJsonSchema({
    "type": "string", "pattern": "^(?:[A-Z]{3}|LOOP)$", "description": "ISO 4217 code (LOOP for Loops)",
    "examples": ["USD"],
})]
Timestamp = Annotated[str, WithJsonSchema({
    "type": "string", "format": "date-time", "description": "ISO 8601 in UTC, like 2026-11-23T14:00:00Z",
})]

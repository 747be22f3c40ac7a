"""The problem document (RFC 9457) every refusal of the API answers with."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, WithJsonSchema

from portal.api.models import Answer, absent
from portal.web.problems import STATUS

ProblemCode = Literal[tuple(STATUS)]


class Problem(Answer):
    """A problem document (RFC 9457)"""

    type: Annotated[str, WithJsonSchema({"type": "string", "format": "uri"})]
    title: str
    status: int = Field(ge=400, le=599)
    code: ProblemCode = Field(description="Stable machine code of the refusal")
    detail: str = Field(description="What went wrong, in words for a person")
    field: str = absent("The request field at fault, when there is one")
    pointer: str = absent("Where the field at fault is in the body, as a JSON pointer: /tenders/0/colour")
    use: str = absent("gone: the route to call instead")


class Reason(Answer):
    """Why a card cannot be used here"""

    code: ProblemCode
    message: str

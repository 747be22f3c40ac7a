"""One way to page every list of the API: ``limit`` and an opaque ``cursor``; ``next_cursor`` in the answer.

A cursor names the last item of the page it came with (its sort key, base64url-coded so callers do not
build one), and the next page starts after that item: rows inserted meanwhile never shift a page, as an
offset would. ``offset`` and ``take`` are the older spelling on the gift lists, kept as aliases.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.errors import ValidationError

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_OFFSET = 10_000


@dataclass(frozen=True)
class Page:
    limit: int
    after: tuple | None = None  # the sort key of the last item already seen
    offset: int = 0


def requested_page(query) -> Page:
    """The page a list's query (``PageQuery``, or ``GiftPageQuery`` with the aliases) asks for; raise
    ValidationError naming the parameter at fault."""
    given = query.model_fields_set
    if "limit" in given and "take" in given:
        raise ValidationError("Give limit or its alias take, not both", field="take")
    if "cursor" in given and "offset" in given:
        raise ValidationError("Give cursor or offset, not both", field="offset")
    take = getattr(query, "take", None)
    return Page(limit=take or query.limit, after=decode_cursor(query.cursor), offset=getattr(query, "offset", 0))


def next_cursor(key: tuple) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode().rstrip("=")


def keyset(session: Session, query: sa.Select, page: Page, *columns) -> tuple[list, str | None]:
    """``query``'s rows for ``page``, newest first by ``columns`` (unique together), and the next cursor.

    ``query`` selects the ``columns`` first, then what the caller wants; rows come back without them.
    """
    query = query.order_by(*(c.desc() for c in columns))
    if page.after is not None:
        if len(page.after) != len(columns):
            raise ValidationError(BAD_CURSOR, field="cursor")
        query = query.where(sa.tuple_(*columns) < sa.tuple_(*page.after))
    rows = session.execute(query.offset(page.offset).limit(page.limit + 1)).all()
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    cursor = next_cursor(tuple(rows[-1][: len(columns)])) if more else None
    rest = [tuple(row[len(columns):]) for row in rows]
    return [r[0] if len(r) == 1 else r for r in rest], cursor


def in_order(items: list, page: Page, key) -> tuple[list, str | None]:
    """A page of a list ordered in Python (``key(item)`` its unique id): the page after the cursor's item."""
    start = page.offset
    if page.after is not None:
        ids = [key(item) for item in items]
        if len(page.after) != 1 or page.after[0] not in ids:
            raise ValidationError(BAD_CURSOR, field="cursor")
        start = ids.index(page.after[0]) + 1
    shown = items[start : start + page.limit]
    more = len(items) > start + page.limit
    return shown, next_cursor((key(shown[-1]),)) if more else None


BAD_CURSOR = "Give cursor exactly as the last answer's next_cursor"


def decode_cursor(text: str | None, *, length: int | None = None) -> tuple | None:
    """The sort key a cursor names (None for none); raise ValidationError for one we did not give out."""
    if text is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        raise ValidationError(BAD_CURSOR, field="cursor") from None
    if not isinstance(key, list) or not key or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**63 for v in key
    ):
        raise ValidationError(BAD_CURSOR, field="cursor")
    if length is not None and len(key) != length:
        raise ValidationError(BAD_CURSOR, field="cursor")
    return tuple(key)

"""The query of every list (``limit`` and ``cursor``) and the field that leads to the next page."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from portal.api.models import Query
from portal.api.paging import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET

Cursor = Annotated[str | None, Field(
    min_length=1, max_length=200,
    description="The `next_cursor` of the page before; none: the first page. Pages do not shift when items are added.",
)]
NextCursor = Annotated[str | None, Field(
    description="Give it as `cursor` for the next page; null on the last page",
)]


class PageQuery(Query):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT,
                       description=f"How many items at most (1 to {MAX_LIMIT}, {DEFAULT_LIMIT} if not given)")
    cursor: Cursor = None


class GiftPageQuery(PageQuery):
    """The seed's spelling of paging is kept: take is limit, offset skips (not stable under inserts; prefer cursor)."""

    take: int | None = Field(None, ge=1, le=MAX_LIMIT, description="Alias of `limit`")
    offset: int = Field(0, ge=0, le=MAX_OFFSET,
                        description="Skip this many first (not with `cursor`; an offset shifts when gifts are added)")

"""Writing many rows at once (bulk generation, the expiry sweep): COPY on PostgreSQL; and
naming many rows at once, by one array parameter.

A multi-row INSERT of thousands of rows spends most of its time building and parsing one huge
statement; COPY streams the rows instead. The ids are drawn first from the table's own sequence,
so the caller knows each row's id without RETURNING. Elsewhere (SQLite) it is a multi-row INSERT.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session


def _copy(session: Session, table: sa.Table, columns: list[str], rows) -> None:
    with session.connection().connection.dbapi_connection.cursor() as cursor:
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def add_rows(session: Session, model, columns: list[str], rows: Iterable[tuple]) -> None:
    """Insert ``rows`` as ``insert_rows`` does, when nobody needs their ids: each takes its id from
    the table's default as COPY stores it, with no round trip to draw them first."""
    if session.connection().dialect.name == "postgresql":
        _copy(session, model.__table__, columns, rows)
    elif params := [dict(zip(columns, row)) for row in rows]:
        session.execute(sa.insert(model), params)


def insert_rows(
    session: Session, model, columns: list[str], rows: Iterable[tuple], *, count: int | None = None
) -> list[int]:
    """Insert ``rows`` (tuples in the order of ``columns``) into the model's table; their ids in order.

    ``rows`` may be a generator of ``count`` rows: on PostgreSQL it is consumed as COPY streams,
    so the database stores the first rows while Python still makes the rest.
    A unique index that a row breaks raises an IntegrityError (psycopg's from COPY, SQLAlchemy's
    otherwise): callers that may collide catch both.
    """
    count = len(rows) if count is None else count
    if not count:
        return []
    table = model.__table__
    if session.connection().dialect.name != "postgresql":
        statement = sa.insert(model).returning(model.id, sort_by_parameter_order=True)
        return list(session.scalars(statement, [dict(zip(columns, row)) for row in rows]))
    ids = list(session.scalars(
        sa.select(sa.func.nextval(sa.func.pg_get_serial_sequence(table.name, "id")))
        .select_from(sa.func.generate_series(1, count))
    ))
    _copy(session, table, ["id", *columns], ((row_id, *row) for row_id, row in zip(ids, rows)))
    return ids


def among(session: Session, column, ids) -> sa.ColumnElement[bool]:
    """``column IN ids`` for thousands of ids: one array parameter on PostgreSQL, where a bound
    parameter per id costs more to build and parse than the statement's work. IN elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, list(ids), type_=postgresql.ARRAY(column.type)))
    return column.in_(ids)

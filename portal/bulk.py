"""Writing many rows at once (bulk generation, the expiry sweep): COPY on PostgreSQL.

A multi-row INSERT of thousands of rows spends most of its time building and parsing one huge
statement; COPY streams the rows instead. The ids are drawn first from the table's own sequence,
so the caller knows each row's id without RETURNING. Elsewhere (SQLite) it is a multi-row INSERT.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session


def _copy(session: Session, table: sa.Table, columns: list[str], rows) -> None:
    with session.connection().connection.dbapi_connection.cursor() as cursor:
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def insert_rows(session: Session, model, columns: list[str], rows: list[tuple]) -> list[int]:
    """Insert ``rows`` (tuples in the order of ``columns``) into the model's table; their ids in order.

    A unique index that a row breaks raises an IntegrityError (psycopg's from COPY, SQLAlchemy's
    otherwise): callers that may collide catch both.
    """
    if not rows:
        return []
    table = model.__table__
    if session.connection().dialect.name != "postgresql":
        statement = sa.insert(model).returning(model.id, sort_by_parameter_order=True)
        return list(session.scalars(statement, [dict(zip(columns, row)) for row in rows]))
    ids = list(session.scalars(
        sa.select(sa.func.nextval(sa.func.pg_get_serial_sequence(table.name, "id")))
        .select_from(sa.func.generate_series(1, len(rows)))
    ))
    _copy(session, table, ["id", *columns], ((row_id, *row) for row_id, row in zip(ids, rows)))
    return ids

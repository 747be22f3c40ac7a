"""A SAVEPOINT that is really nested inside a transaction, on SQLite too."""

from __future__ import annotations

from sqlalchemy.orm import Session, SessionTransaction


def savepoint(session: Session) -> SessionTransaction:
    """``session.begin_nested()``, first opening the real transaction if SQLite has none yet.

    Python's sqlite3 driver only emits BEGIN before a data change, so a SAVEPOINT that comes
    first opens the transaction itself and its RELEASE commits everything: a later rollback
    would no longer undo it. An explicit BEGIN keeps the savepoint nested.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        raw = connection.connection.dbapi_connection
        if raw is not None and not raw.in_transaction:
            connection.exec_driver_sql("BEGIN")
    return session.begin_nested()

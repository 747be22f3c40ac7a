"""The ceilings of our own stack, served by the same gunicorn as the portal under test.

``/bench/ping`` is the framework ceiling (Flask answering JSON, nothing else);
``/bench/update`` the database ceiling (one ``UPDATE … RETURNING`` on one row per request).
Registered only by ``bench.wsgi``, never by the production ``wsgi.py``.
"""

from __future__ import annotations

import random

import sqlalchemy as sa
from flask import Blueprint

from portal.extensions import csrf, db

bp = Blueprint("bench", __name__)
ROWS = 2_000

CREATE = "CREATE TABLE IF NOT EXISTS bench_rows (id integer PRIMARY KEY, n bigint NOT NULL DEFAULT 0)"
FILL = f"INSERT INTO bench_rows (id) SELECT generate_series(1, {ROWS}) ON CONFLICT DO NOTHING"


@bp.get("/bench/ping")
def ping():
    """The framework ceiling: a trivial JSON answer."""
    return {"ok": True}


@bp.post("/bench/update")
@csrf.exempt
def update():
    """The database ceiling: one UPDATE … RETURNING on one row, committed."""
    n = db.session.scalar(
        sa.text("UPDATE bench_rows SET n = n + 1 WHERE id = :id RETURNING n"), {"id": random.randint(1, ROWS)}
    )
    db.session.commit()
    return {"n": n}

"""The bare ceilings (issue 24): Flask and SQLAlchemy Core with none of the portal's request cycle
(no sessions, CSRF, guards, compression, security headers or hooks), served by the same gunicorn
settings against the same database. ``gunicorn bench.bare:app``; benchmarks only.

What the portal's own ``/bench/ping`` and ``/bench/update`` lose against these is the cost of our
request cycle; what a redemption or a balance poll reaches of them is how close to the stack's
limit the portal runs.
"""

from __future__ import annotations

import os
import random

import sqlalchemy as sa
from flask import Flask

from bench.ceilings import ROWS

engine = sa.create_engine(os.environ["DATABASE_URL"], pool_size=5, pool_pre_ping=True)
app = Flask(__name__)
SELECT = sa.text("SELECT n FROM bench_rows WHERE id = :id")
UPDATE = sa.text("UPDATE bench_rows SET n = n + 1 WHERE id = :id RETURNING n")


@app.get("/ping")
def ping():
    """Flask answering JSON, nothing else."""
    return {"ok": True}


@app.get("/select")
def select():
    """One indexed read by primary key."""
    with engine.connect() as conn:
        return {"n": conn.execute(SELECT, {"id": random.randint(1, ROWS)}).scalar_one()}


@app.post("/update")
def update():
    """One UPDATE … RETURNING on one row, committed."""
    with engine.begin() as conn:
        return {"n": conn.execute(UPDATE, {"id": random.randint(1, ROWS)}).scalar_one()}

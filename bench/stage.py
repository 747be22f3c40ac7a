"""The stage every bench run shares: its own database and Redis, the settings the portal reads,
and the people a run signs in as. ``bench.run`` builds on it, and so do the batch and e-mail
figures it calls (``bench.batch``, ``bench.mail``)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PG_ADMIN = os.environ.get("BENCH_DATABASE_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DB_NAME = os.environ.get("BENCH_DATABASE", "giftloop_bench")  # one per person sharing a server
DB_URL = PG_ADMIN.rsplit("/", 1)[0] + f"/{DB_NAME}"
REDIS_PORT = int(os.environ.get("BENCH_REDIS_PORT", "6399"))  # a redis-server of the bench's own
REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"
SECRET = "bench-secret-key-0123456789abcdef0123456789"


def fresh_database() -> None:
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{DB_NAME}"'))
    admin.dispose()


def start_redis() -> subprocess.Popen:
    """A Redis of the bench's own, empty, so no queue left by anyone else slows figure 7."""
    process = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(REDIS_PORT), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "ping"], capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"redis-server did not start on port {REDIS_PORT}")
        time.sleep(0.1)
    return process


def environment() -> dict:
    return {
        **os.environ,
        "DATABASE_URL": DB_URL,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": SECRET,
        "PORTAL_CODE_KEY": SECRET + "-codes",
    }


PASSWORD = "bench password 1"
PEOPLE = {"staff": "till@bench.test", "customer": "cara@bench.test", "admin": "ada@bench.test"}

"""`make bench`: build a database, start gunicorn, measure, and write bench/RESULTS.md.

Each figure is the median of repeated runs, measured in the same run as the ceilings of our
own stack (a trivial JSON endpoint and a single-row UPDATE), because absolute times on a
shared machine drift while ratios hold.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SCRIPTS = ROOT / "bench" / "scripts"
PG_ADMIN = os.environ.get("BENCH_DATABASE_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DB_NAME = "giftloop_bench"
DB_URL = PG_ADMIN.rsplit("/", 1)[0] + f"/{DB_NAME}"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
PORT = int(os.environ.get("BENCH_PORT", "5099"))
SECRET = "bench-secret-key-0123456789abcdef0123456789"


@dataclass
class Load:
    """One wrk run: requests per second, latency percentiles in ms, non-2xx answers."""

    rps: float
    p50: float
    p99: float
    errors: int
    requests: int


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(path: str, *, script: str | None = None, connections: int = 32, seconds: int = 10, env=None) -> Load:
    """Run wrk against the server and read its summary."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        command += ["-s", str(SCRIPTS / script)]
    command.append(f"http://127.0.0.1:{PORT}{path}")
    text = subprocess.run(command, capture_output=True, text=True, check=True, env={**os.environ, **(env or {})}).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", text, flags=re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return Load(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
        p50=_ms(latency["50"]),
        p99=_ms(latency["99"]),
        errors=int(errors.group(1)) if errors else 0,
        requests=int(re.search(r"(\d+) requests in", text).group(1)),
    )


def median_load(runs: list[Load]) -> Load:
    return Load(
        rps=statistics.median(r.rps for r in runs),
        p50=statistics.median(r.p50 for r in runs),
        p99=statistics.median(r.p99 for r in runs),
        errors=sum(r.errors for r in runs),
        requests=sum(r.requests for r in runs),
    )


def fresh_database() -> None:
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{DB_NAME}"'))
    admin.dispose()


def environment() -> dict:
    return {
        **os.environ,
        "DATABASE_URL": DB_URL,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": SECRET,
        "PORTAL_CODE_KEY": SECRET + "-codes",
    }


def seed(cards: int) -> tuple[str, list[str]]:
    """Migrate, then a merchant, its staff token, and ``cards`` cards of 10,000.00 each."""
    os.environ.update(environment())
    from flask_migrate import upgrade

    from bench.ceilings import CREATE, FILL
    from portal import create_app
    from portal.api.tokens import create_token
    from portal.auth.users import create_user
    from portal.cards.operations import issue_card
    from portal.extensions import db
    from portal.ledger import Actor
    from portal.merchants import create_merchant
    from portal.money import Money
    from portal.services import services

    app = create_app()
    with app.app_context():
        upgrade()
        db.session.execute(sa.text(CREATE))
        db.session.execute(sa.text(FILL))
        shop = create_merchant(db.session, "bench-shop", "Bench Shop", sells_network_cards=True)
        staff = create_user(db.session, "till@bench.test", "bench password 1", role="merchant", merchant=shop)
        _, token = create_token(db.session, staff, "bench")
        codes = []
        for n in range(cards):
            issued = issue_card(
                db.session, services().vault, amount=Money.parse("10000.00", "USD"), actor=Actor(),
                idempotency_key=f"bench-seed-{n}",
            )
            codes.append(issued.code)
        db.session.commit()
        db.engine.dispose()
    return token, codes


def start_gunicorn(workers: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{PORT}",
         "--log-level", "warning", "bench.wsgi:app"],
        cwd=ROOT, env=environment(),
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=1):
                return process
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit("gunicorn did not start")
            time.sleep(0.2)


def versions() -> dict:
    from importlib.metadata import version

    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return {
        "Python": platform.python_version(),
        "Flask": version("flask"),
        "SQLAlchemy": version("sqlalchemy"),
        "gunicorn": version("gunicorn"),
        "PostgreSQL": pg,
        "wrk": wrk_version,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median reported)")
    parser.add_argument("--seconds", type=int, default=10, help="length of each load run")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--cards", type=int, default=2_000)
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    print("Building the benchmark database…", flush=True)
    fresh_database()
    token, codes = seed(args.cards)
    (OUT / "codes.txt").write_text("\n".join(codes) + "\n")
    server = start_gunicorn(args.workers)
    results: dict[str, Load] = {}
    try:
        scenarios = {
            "framework ceiling (GET /bench/ping)": dict(path="/bench/ping"),
            "database ceiling (POST /bench/update)": dict(path="/bench/update", script="post.lua"),
            "redemption (POST /api/v1/cards/{code}/redeem)": dict(
                path="/", script="redeem.lua",
                env={"BENCH_TOKEN": token, "BENCH_CODES": str(OUT / "codes.txt")},
            ),
        }
        # Interleave the scenarios so drift on the machine touches each alike.
        runs: dict[str, list[Load]] = {name: [] for name in scenarios}
        for n in range(args.repeat):
            for name, spec in scenarios.items():
                env = dict(spec.get("env", {}), BENCH_RUN=f"{int(time.time())}-{n}")
                print(f"  run {n + 1}/{args.repeat}: {name}", flush=True)
                runs[name].append(wrk(spec["path"], script=spec.get("script"), seconds=args.seconds, env=env))
        results = {name: median_load(r) for name, r in runs.items()}
    finally:
        server.terminate()
        server.wait(timeout=10)
    write_results(results, args)


def write_results(results: dict[str, Load], args) -> None:
    names = list(results)
    framework, database, redemption = (results[n] for n in names)
    lines = [
        "# Benchmarks",
        "",
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `make bench` on {platform.node()}: "
        f"{os.cpu_count()} cores, {platform.machine()}, {platform.platform()}.",
        f"Server: gunicorn, {args.workers} sync workers, `bench.wsgi:app` (the portal plus its ceiling endpoints), "
        f"PostgreSQL and Redis on the same machine; load from wrk (2 threads, 32 connections, "
        f"{args.seconds} s a run) in its own process on the same cores. Every figure is the median of "
        f"{args.repeat} runs, the scenarios interleaved.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()) + ".",
        "",
        "## Redemption against the ceilings",
        "",
        "| scenario | requests/s | p50 ms | p99 ms | non-2xx |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, load in results.items():
        lines.append(f"| {name} | {load.rps:,.0f} | {load.p50:.1f} | {load.p99:.1f} | {load.errors} |")
    lines += [
        "",
        f"Redemption is **{redemption.rps / database.rps:.0%}** of the database ceiling and "
        f"**{redemption.rps / framework.rps:.0%}** of the framework ceiling "
        f"(target: at least 60% of the database ceiling, p99 under 100 ms).",
        "",
        "Each redemption is one API request with its own Idempotency-Key: token look-up, card look-up by",
        "HMAC, guessing-limit check in Redis, idempotency lock and record, the ledger transaction with",
        "its entries and the limit-checking balance updates, all in one database transaction.",
    ]
    (ROOT / "bench" / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Where a redemption's time goes: SQL statements per request and a cProfile of sequential ones.

Runs against the database ``make bench`` built (``python -m bench.profile`` after a bench run),
through Flask's test client so only the portal is measured, one request at a time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import time
from collections import Counter

import sqlalchemy as sa

from bench.stage import OUT, environment, start_redis
from portal import create_app
from portal.extensions import db


def _statement_kind(statement: str) -> str:
    words = statement.split()
    kind = words[0].upper()
    if kind in ("INSERT", "UPDATE", "DELETE") or kind == "SELECT" and "FROM" in (w.upper() for w in words):
        table = next((w for w, prev in zip(words[1:], words) if prev.upper() in ("INTO", "UPDATE", "FROM")), "")
        return f"{kind} {table.strip('(')}"
    return kind if kind != "SELECT" else f"SELECT {words[1][:40]}"


def redeem_requests(client, token: str, codes: list[str], count: int, run: str):
    for n in range(count):
        response = client.post(
            "/api/v1/cards/redeem", data=json.dumps({"code": codes[n % len(codes)], "amount": "0.01"}),
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"profile-{run}-{n}",
                     "Content-Type": "application/json"},
        )
        if response.status_code != 200:
            raise SystemExit(f"redemption answered {response.status_code}: {response.get_data(as_text=True)}")


def profile(count: int) -> dict:
    """Statements per redemption (by kind), wall time per redemption, and the top of the profile."""

    os.environ.update(environment())

    token = (OUT / "token.txt").read_text().strip()
    codes = (OUT / "codes.txt").read_text().split()
    app = create_app()
    client = app.test_client()
    run = str(int(time.time()))
    statements: Counter[str] = Counter()
    with app.app_context():
        engine = db.engine

    def count_statement(conn, cursor, statement, parameters, context, executemany):
        statements[_statement_kind(statement)] += 1

    redeem_requests(client, token, codes, 20, run + "-warm")
    sa.event.listen(engine, "before_cursor_execute", count_statement)
    redeem_requests(client, token, codes, count, run + "-count")
    sa.event.remove(engine, "before_cursor_execute", count_statement)

    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    redeem_requests(client, token, codes, count, run + "-profile")
    profiler.disable()
    elapsed = time.perf_counter() - started
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
    with app.app_context():
        db.engine.dispose()
    return {
        "statements": {kind: n / count for kind, n in statements.most_common()},
        "per_request": sum(statements.values()) / count,
        "ms_per_redemption": elapsed / count * 1000,
        "profile": text.getvalue(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    redis_server = start_redis()
    try:
        result = profile(args.count)
    finally:
        redis_server.terminate()
    print(result["profile"])
    for kind, n in result["statements"].items():
        print(f"{n:5.2f}  {kind}")
    print(f"{result['per_request']:.1f} statements and {result['ms_per_redemption']:.1f} ms per redemption")


if __name__ == "__main__":
    main()

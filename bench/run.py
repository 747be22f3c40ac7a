"""`make bench`: build a database, start gunicorn, measure, and write bench/RESULTS.md.

Each figure is the median of repeated runs, measured in the same run as the ceilings of our
own stack (a trivial JSON endpoint and a single-row UPDATE), because absolute times on a
shared machine drift while ratios hold.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import version

import sqlalchemy as sa
from flask_migrate import upgrade

from bench import batch, mail, weight
from bench.ceilings import CREATE, FILL
from bench.stage import (
    OUT,
    PASSWORD,
    PEOPLE,
    ROOT,
    environment,
    fresh_database,
    start_redis,
)
from portal import create_app
from portal.auth.users import create_user
from portal.cards.operations import issue_card
from portal.extensions import db
from portal.ledger import Actor
from portal.merchants import create_merchant
from portal.money import Money
from portal.services import services
from portal.tokens import create_token

SCRIPTS = ROOT / "bench" / "scripts"
PORT = int(os.environ.get("BENCH_PORT", "5099"))
BARE_PORT = int(os.environ.get("BENCH_BARE_PORT", "5098"))  # bench.bare: the ceilings without the portal
CUSTOMER_CARDS = 50
TILL_PER_SECOND = 5.0
BARE_PING = "bare Flask ceiling (GET /ping)"
BARE_SELECT = "bare one-SELECT ceiling (GET /select)"
BARE_UPDATE = "bare one-UPDATE ceiling (POST /update)"
FRAMEWORK = "portal's own ping (GET /bench/ping)"
DATABASE = "portal's own one-UPDATE (POST /bench/update)"
REDEMPTION = "redemption (POST /api/v1/cards/redeem)"
CARD_PAGE = "card page (GET /wallet/cards/{id})"
FRAGMENT = "balance fragment poll (GET /wallet/cards/{id}/balance)"


@dataclass
class Load:
    """One wrk run: requests per second, latency percentiles in ms, non-2xx answers."""

    rps: float
    p50: float
    p99: float
    errors: int
    requests: int
    answered: int = 0  # polls counted by balance_poll.lua, and how many of them were 304
    not_modified: int = 0


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(
    path: str, *, script: str | None = None, connections: int = 32, seconds: int = 10, env=None, port: int = PORT
) -> Load:
    """Run wrk against a server (the portal's unless ``port`` says otherwise) and read its summary."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        command += ["-s", str(SCRIPTS / script)]
    command.append(f"http://127.0.0.1:{port}{path}")
    text = subprocess.run(command, capture_output=True, text=True, check=True, env={**os.environ, **(env or {})}).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", text, flags=re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    polls = re.search(r"Polls answered 304: (\d+) of (\d+)", text)
    return Load(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
        p50=_ms(latency["50"]),
        p99=_ms(latency["99"]),
        errors=int(errors.group(1)) if errors else 0,
        requests=int(re.search(r"(\d+) requests in", text).group(1)),
        **({"not_modified": int(polls.group(1)), "answered": int(polls.group(2))} if polls else {}),
    )


def median_load(runs: list[Load]) -> Load:
    return Load(
        rps=statistics.median(r.rps for r in runs),
        p50=statistics.median(r.p50 for r in runs),
        p99=statistics.median(r.p99 for r in runs),
        errors=sum(r.errors for r in runs),
        requests=sum(r.requests for r in runs),
        answered=sum(r.answered for r in runs),
        not_modified=sum(r.not_modified for r in runs),
    )


@dataclass
class Seeded:
    """What the load scripts need: the till's token, card codes, and the signed-in customer."""

    token: str
    codes: list[str]
    customer_cookie: str
    customer_card_ids: list[int]


def _session_cookie(app, email: str) -> str:
    """Sign in through the real form once; the signed session cookie works on every worker."""
    client = app.test_client()
    page = client.get("/signin").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    answer = client.post("/signin", data={"email": email, "password": PASSWORD, "csrf_token": token})
    if answer.status_code != 302:
        raise SystemExit(f"signing in {email} answered {answer.status_code}")
    return f"session={client.get_cookie('session').value}"


def seed(cards: int, customer_cards: int) -> Seeded:
    """Migrate; a merchant with its staff token, ``cards`` bearer cards of 10,000.00, a customer
    owning ``customer_cards`` cards, and an admin."""
    os.environ.update(environment())


    app = create_app()
    with app.app_context():
        upgrade()
        db.session.execute(sa.text(CREATE))
        db.session.execute(sa.text(FILL))
        shop = create_merchant(db.session, "bench-shop", "Bench Shop", sells_network_cards=True)
        staff = create_user(db.session, PEOPLE["staff"], PASSWORD, role="merchant", merchant=shop)
        customer = create_user(db.session, PEOPLE["customer"], PASSWORD, role="customer", name="Cara")
        customer.receipts_by_email = False  # thousands of receipts would queue ahead of figure 7's mail
        create_user(db.session, PEOPLE["admin"], PASSWORD, role="admin", name="Ada")
        # The till under test must not be stopped by its own per-token rate limit.
        _, token = create_token(db.session, staff, "bench", rate_limit=100_000_000)
        codes, card_ids = [], []
        for n in range(cards + customer_cards):
            owner = customer if n >= cards else None
            issued = issue_card(
                db.session, services().vault, amount=Money.parse("10000.00", "USD"), actor=Actor(),
                idempotency_key=f"bench-seed-{n}", owner=owner,
            )
            codes.append(issued.code)
            if owner is not None:
                card_ids.append(issued.card.id)
        db.session.commit()
        cookie = _session_cookie(app, PEOPLE["customer"])
        db.engine.dispose()
    return Seeded(token, codes, cookie, card_ids)


def start_gunicorn(workers: int, app: str = "bench.wsgi:app", port: int = PORT, ready: str = "/healthz") -> subprocess.Popen:
    """gunicorn with the same settings for the portal and for the bare ceilings."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", app],
        cwd=ROOT, env=environment(),
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{ready}", timeout=1):
                return process
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit("gunicorn did not start")
            time.sleep(0.2)


def versions() -> dict:

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


class TillTraffic:
    """A till redeeming 0.01 from the customer's cards a few times a second, so some polls see a change."""

    def __init__(self, token: str, codes: list[str], per_second: float) -> None:
        self._token, self._codes, self._pause = token, codes, 1 / per_second
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(self._pause):
            n += 1
            request = urllib.request.Request(
                f"http://127.0.0.1:{PORT}/api/v1/cards/redeem",
                data=json.dumps({"code": self._codes[n % len(self._codes)], "amount": "0.01"}).encode(), method="POST",
                headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json",
                         "Idempotency-Key": f"till-traffic-{time.time_ns()}"},
            )
            with urllib.request.urlopen(request, timeout=10):
                pass

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def load_figures(seeded: Seeded, args) -> dict[str, Load]:
    """Figures 1-3: every load scenario, interleaved so drift on the machine touches each alike."""
    ids = " ".join(map(str, seeded.customer_card_ids))
    browser = {"BENCH_COOKIE": seeded.customer_cookie, "BENCH_CARD_IDS": ids}
    scenarios = {
        BARE_PING: dict(path="/ping", port=BARE_PORT),
        BARE_SELECT: dict(path="/select", port=BARE_PORT),
        BARE_UPDATE: dict(path="/update", script="post.lua", port=BARE_PORT),
        FRAMEWORK: dict(path="/bench/ping"),
        DATABASE: dict(path="/bench/update", script="post.lua"),
        REDEMPTION: dict(
            path="/", script="redeem.lua", env={"BENCH_TOKEN": seeded.token, "BENCH_CODES": str(OUT / "codes.txt")}
        ),
        CARD_PAGE: dict(path="/", script="card_page.lua", env=browser),
        FRAGMENT: dict(path="/", script="balance_poll.lua", env=browser, till=True),
    }
    customer_codes = seeded.codes[-len(seeded.customer_card_ids):]
    runs: dict[str, list[Load]] = {name: [] for name in scenarios}
    for n in range(args.repeat):
        for name, spec in scenarios.items():
            env = dict(spec.get("env", {}), BENCH_RUN=f"{int(time.time())}-{n}")
            print(f"  run {n + 1}/{args.repeat}: {name}", flush=True)
            load = dict(script=spec.get("script"), seconds=args.seconds, env=env, port=spec.get("port", PORT))
            if spec.get("till"):
                with TillTraffic(seeded.token, customer_codes, TILL_PER_SECOND):
                    runs[name].append(wrk(spec["path"], **load))
            else:
                runs[name].append(wrk(spec["path"], **load))
    return {name: median_load(r) for name, r in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median reported)")
    parser.add_argument("--seconds", type=int, default=10, help="length of each load run")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--cards", type=int, default=2_000)
    parser.add_argument("--codes", type=int, default=1_000_000, help="codes generated for one campaign")
    parser.add_argument("--sweep-cards", type=int, default=1_000_000)
    parser.add_argument("--sweep-due", type=int, default=100_000)
    parser.add_argument("--mails", type=int, help="e-mails in the campaign one worker sends (100,000; 5,000 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="the inner loop (make bench-quick): the load figures once, 5 s each; prints, writes nothing")
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.seconds = 1, 5
    args.mails = args.mails or (5_000 if args.quick else 100_000)

    OUT.mkdir(parents=True, exist_ok=True)
    print("Building the benchmark database…", flush=True)
    fresh_database()
    redis_server = start_redis()
    try:
        if args.quick:
            print("\n".join(load_lines(measure_loads(args))))
            print(f"- E-mail: **{mail_rate(args):.0f} messages/s** through one worker ({args.mails:,} in a campaign).")
            return
        figures = measure(args)
    finally:
        redis_server.terminate()
        redis_server.wait(timeout=10)
    write_results(figures, args)


@contextmanager
def servers(args, seeded: Seeded | None = None) -> Iterator[Seeded]:
    """The seeded database with the portal and the bare ceilings served beside it, same settings."""
    seeded = seeded or seed(args.cards, CUSTOMER_CARDS)
    (OUT / "codes.txt").write_text("\n".join(seeded.codes) + "\n")
    (OUT / "token.txt").write_text(seeded.token + "\n")
    running = [start_gunicorn(args.workers), start_gunicorn(args.workers, "bench.bare:app", BARE_PORT, "/ping")]
    try:
        yield seeded
    finally:
        stop(running)


def stop(processes: list[subprocess.Popen]) -> None:
    """Ask every server to stop, then wait; one that hangs is killed, so none outlives the run."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def measure_loads(args) -> dict[str, Load]:
    """Figures 1-3 alone (make bench-quick)."""
    with servers(args) as seeded:
        return load_figures(seeded, args)


def measure(args) -> Figures:
    """Every figure, in one run: the load scenarios and page weights, then e-mail and the bulk jobs."""

    with servers(args) as seeded:
        loads = load_figures(seeded, args)
        print("  page weight", flush=True)
        who = {role: (email, PASSWORD) for role, email in PEOPLE.items()}
        weights = weight.page_weights(f"http://127.0.0.1:{PORT}", [
            ("customer dashboard", "/wallet/", who["customer"]),
            ("customer card page", f"/wallet/cards/{seeded.customer_card_ids[0]}", who["customer"]),
            ("till (checkout)", "/till/", who["staff"]),
            ("admin overview", "/admin/", who["admin"]),
            ("public balance check", "/balance", None),
            ("sign-in", "/signin", None),
        ])

    app = create_app()
    mails, codes, sweeps = [mail_rate(args)], [], []  # once: 100,000 e-mails take minutes
    for n in range(args.repeat):
        print(f"  run {n + 1}/{args.repeat}: {args.codes:,} codes", flush=True)
        codes.append(batch.generate_codes(app, args.codes, PEOPLE["admin"]))
    print(f"  laying {args.sweep_cards:,} cards for the sweep", flush=True)
    moments = batch.lay_sweep_cards(app, args.sweep_cards, args.sweep_due, args.repeat, PEOPLE["customer"])
    for n, at in enumerate(moments):
        print(f"  run {n + 1}/{args.repeat}: expiry sweep", flush=True)
        seconds, expired = batch.sweep(app, at)
        if expired != args.sweep_due:
            raise SystemExit(f"the sweep expired {expired} cards, not {args.sweep_due}")
        sweeps.append(seconds)
    return Figures(loads, weights, mails, codes, sweeps)


def mail_rate(args) -> float:
    """Figure 7: a campaign of ``args.mails`` e-mails through one worker, messages per second."""

    print(f"  e-mail: a campaign of {args.mails:,}", flush=True)
    return mail.messages_per_second(create_app(), environment(), ROOT, args.mails, str(int(time.time())), PEOPLE["admin"])


@dataclass
class Figures:
    loads: dict[str, Load]
    weights: list
    mails: list[float]
    codes: list[float]
    sweeps: list[float]


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def load_lines(loads: dict[str, Load]) -> list[str]:
    """The load table and each figure against its bare ceiling (issue 24's targets)."""
    bare_ping, bare_select, bare_update = loads[BARE_PING], loads[BARE_SELECT], loads[BARE_UPDATE]
    ping, redemption, fragment = loads[FRAMEWORK], loads[REDEMPTION], loads[FRAGMENT]
    lines = ["| scenario | requests/s | p50 ms | p99 ms | non-2xx/3xx |", "|---|---:|---:|---:|---:|"]
    for name, load in loads.items():
        lines.append(f"| {name} | {load.rps:,.0f} | {load.p50:.1f} | {load.p99:.1f} | {load.errors} |")
    return lines + [
        "",
        f"- Our request cycle: the portal's own ping is **{ping.rps / bare_ping.rps:.0%}** of bare Flask's "
        f"(target 80%: {_met(ping.rps >= 0.8 * bare_ping.rps)}); its one-UPDATE endpoint "
        f"{loads[DATABASE].rps / bare_update.rps:.0%} of the bare one.",
        f"- Redemption is **{redemption.rps / bare_update.rps:.0%}** of the bare one-UPDATE ceiling; p99 "
        f"{redemption.p99:.0f} ms (target: at least 60% and p99 under 100 ms: "
        f"{_met(redemption.rps >= 0.6 * bare_update.rps and redemption.p99 < 100)}).",
        f"- The balance fragment is **{fragment.rps / bare_select.rps:.0%}** of the bare one-SELECT ceiling "
        f"(target 80%: {_met(fragment.rps >= 0.8 * bare_select.rps)}); "
        f"**{fragment.not_modified / max(fragment.answered, 1):.1%}** of its polls were answered 304 "
        f"({fragment.not_modified:,} of {fragment.answered:,}, all runs) while a till redeemed from the "
        f"same {CUSTOMER_CARDS} cards {TILL_PER_SECOND:g} times a second.",
    ]


def write_results(figures: Figures, args) -> None:
    loads = figures.loads
    median = statistics.median
    lines = [
        "# Benchmarks",
        "",
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `make bench` on {platform.node()}: "
        f"{os.cpu_count()} cores, {platform.machine()}, {platform.platform()}. "
        f"Load on the machine when it started: {os.getloadavg()[0]:.1f} (1-minute average).",
        f"Server: gunicorn, {args.workers} sync workers, `bench.wsgi:app` (the portal plus its own ping and "
        "one-UPDATE) beside `bench.bare:app` (bare Flask and SQLAlchemy Core: the ceilings) with the same settings, "
        f"PostgreSQL and Redis on the same machine; load from wrk (2 threads, 32 connections, "
        f"{args.seconds} s a run) in its own process on the same cores. Every figure is the median of "
        f"{args.repeat} runs, the scenarios interleaved.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()) + ".",
        "",
        "## 1-3. Redemption and balance against the ceilings",
        "",
    ]
    lines += load_lines(loads)
    lines += [
        "- Redemption: one API request with its own Idempotency-Key over "
        f"{args.cards:,} cards: token look-up, card look-up by HMAC, guessing-limit check in Redis, idempotency "
        "lock and record, the ledger transaction with its entries and the limit-checking balance updates, all "
        "in one database transaction.",
        "- Card page: the whole page (QR code, history, forms) for a signed-in customer; fragment: the "
        "live-balance poll with the ETag last seen for the card.",
        "",
        "## 4-5. Bulk work",
        "",
        "| job | median s | runs s | target |",
        "|---|---:|---|---|",
        f"| generate {args.codes:,} random codes for one campaign (draw, HMAC, AES-GCM, insert; the real job) | "
        f"{median(figures.codes):.1f} | {', '.join(f'{x:.1f}' for x in figures.codes)} | "
        f"< 30 s: {_met(median(figures.codes) < 30)} |",
        f"| expiry sweep over {args.sweep_cards:,} cards, {args.sweep_due:,} due (reminders, expiry, breakage, "
        f"notices) | {median(figures.sweeps):.1f} | {', '.join(f'{x:.1f}' for x in figures.sweeps)} | "
        f"< 10 s: {_met(median(figures.sweeps) < 10)} |",
        "",
        "## 6. Page weight (first load, empty cache, compressed as sent)",
        "",
        "| page | path | KB over the wire | requests | HTML KB | target (< 60 KB, ≤ 6 requests) |",
        "|---|---|---:|---:|---:|---|",
    ]
    for w in figures.weights:
        ok = w.bytes < 60 * 1024 and w.requests <= 6
        lines.append(
            f"| {w.page} | `{w.path}` | {w.bytes / 1024:.1f} | {w.requests} | {w.html_bytes / 1024:.1f} | {_met(ok)} |"
        )
    lines += [
        "",
        "Bytes are headers plus bodies of every request the load made, as Chromium received them.",
        "",
        "## 7. E-mail",
        "",
        f"One `portal worker --burst` sent a campaign of {args.mails:,} e-mails, queued before it started, to a "
        f"local SMTP server (aiosmtpd) at **{median(figures.mails):.0f} messages/s** (target 500: "
        f"{_met(median(figures.mails) >= 500)}), timed from the first arrival to the last.",
        "",
    ]
    notes = ROOT / "bench" / "NOTES.md"
    text = "\n".join(lines) + "\n" + (notes.read_text() if notes.exists() else "")
    (ROOT / "bench" / "RESULTS.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

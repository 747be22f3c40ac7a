"""The ``portal`` command line (DESIGN §6): command groups at module level, added to the app by
``init_app``; each runs in an app context, and a refused action exits with its message."""

from __future__ import annotations

import functools
import uuid

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext

from portal import create_app
from portal.auth.users import by_email, create_user
from portal.cards.operations import issue_card
from portal.cards.ownership import rekey, still_on_old_code
from portal.demo import load_demo
from portal.errors import DomainError
from portal.extensions import db
from portal.gifts import plans_on_sale
from portal.gifts.plans import save_plan
from portal.jobs import sweeps
from portal.jobs.worker import RedisRequired, run_cron, run_worker
from portal.ledger import SYSTEM, verify
from portal.merchants import by_slug, create_merchant
from portal.models import Account, GiftCard, Merchant, Transaction, User
from portal.money import Money
from portal.services import services
from portal.tokens import create_token
from portal.wallet import credit_wallet, wallet_account


def main() -> None:
    """Entry point of the ``portal`` console script."""
    FlaskGroup(create_app=create_app, help="Giftloop portal commands.")()


def refusals_exit(command):
    """Turn a refused action (DomainError) into the command's error message and exit status 1."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except DomainError as error:
            raise click.ClickException(error.message) from None

    return run


def _merchant(slug: str | None) -> Merchant | None:
    if slug is None:
        return None
    merchant = by_slug(db.session, slug)
    if merchant is None:
        raise click.ClickException(f"No merchant with slug {slug!r}")
    return merchant


def _user(email: str) -> User:
    user = by_email(db.session, email.strip().lower())
    if user is None:
        raise click.ClickException(f"No user with e-mail {email}")
    return user


users = AppGroup("users", help="Manage users.")
merchants = AppGroup("merchants", help="Manage merchants.")
tokens = AppGroup("tokens", help="Manage API tokens.")
cards = AppGroup("cards", help="Issue gift cards; re-key the ones that changed hands before claims re-keyed them.")
wallet = AppGroup("wallet", help="Manage wallet credit.")
plans = AppGroup("plans", help="Manage the subscription plans sold as gifts.")
ledger = AppGroup("ledger", help="Check the money.")


def init_app(app: Flask) -> None:
    for group in (users, merchants, tokens, cards, wallet, plans, ledger):
        app.cli.add_command(group)
    for command in (demo, worker, cron, sweep):
        app.cli.add_command(command)


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["customer", "merchant", "admin"]), default="customer")
@click.option("--merchant", "merchant_slug", help="Slug of the merchant (staff only).")
@click.option("--name", default="")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@refusals_exit
def users_create(email, role, merchant_slug, name, password):
    """Create a user with a role."""
    user = create_user(db.session, email, password, role=role, name=name, merchant=_merchant(merchant_slug))
    db.session.commit()
    click.echo(f"Created {user.role} {user.email} (id {user.id})")


@merchants.command("create")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--currency", default="USD")
@click.option("--timezone", default="UTC", help="IANA time zone, like Europe/Dublin: coupons' weekdays and hours follow it.")
@refusals_exit
def merchants_create(slug, name, currency, timezone):
    """Create a merchant."""
    merchant = create_merchant(db.session, slug, name, currency, timezone=timezone)
    db.session.commit()
    click.echo(f"Created merchant {merchant.slug} ({merchant.name}, {merchant.currency})")


@tokens.command("create")
@click.argument("email")
@click.option("--name", default="command line")
@click.option("--rate-limit", type=int, default=None, help="Requests a minute for this token (default: the app's).")
@click.option("--expires-in-days", type=int, default=None, help="Days until the token stops working (default: until revoked).")
@refusals_exit
def tokens_create(email, name, rate_limit, expires_in_days):
    """Create an API token for a user and print it once."""
    _, token = create_token(db.session, _user(email), name, rate_limit=rate_limit, expires_in_days=expires_in_days)
    db.session.commit()
    click.echo(token)


@click.command("demo")
@with_appcontext
def demo():
    """Load demo merchants, users and cards (safe to run again)."""
    for line in load_demo(db.session, services().vault):
        click.echo(line)
    db.session.commit()


@cards.command("issue")
@click.option("--amount", required=True, help="Value of the card, like 50.00.")
@click.option("--currency", default="USD", show_default=True)
@click.option("--owner", "owner_email", help="E-mail of the customer who owns it (none: a bearer card).")
@click.option("--merchant", "merchant_slug", help="Slug of the merchant that sells it.")
@click.option("--expires-in-days", type=int, help="Days until it expires (purchased cards: at least 1826).")
@click.option("--kind", type=click.Choice(["purchased", "promotional"]), default="purchased", show_default=True)
@refusals_exit
def cards_issue(amount, currency, owner_email, merchant_slug, expires_in_days, kind):
    """Issue a card and print its full code once."""
    value = Money.parse(amount, currency)
    issued = issue_card(
        db.session, services().vault, amount=value, actor=SYSTEM, idempotency_key=f"cli:{uuid.uuid4()}",
        owner=_user(owner_email) if owner_email else None, merchant=_merchant(merchant_slug),
        kind=kind, expires_in_days=expires_in_days, memo="Issued from the command line",
    )
    db.session.commit()
    card = issued.card
    click.echo(f"Issued a {value.display()} {kind} card (id {card.id}), valid until {card.expires_at:%Y-%m-%d}.")
    click.echo(f"Code (shown once, keep it safe): {issued.code}")
    click.echo(f"Masked: {card.code.masked}")


@cards.command("rekey-handed-over")
def cards_rekey_handed_over():
    """Give a new code to each card that changed hands before claims re-keyed cards, and mail
    it to the holder: whoever held the card before may still know the old code. Run once."""
    card_ids = still_on_old_code(db.session)
    for card_id in card_ids:
        rekey(db.session, services().vault, db.session.get(GiftCard, card_id))
        db.session.commit()  # one card at a time: each is locked only for its own re-key
    click.echo(f"Gave {len(card_ids)} card(s) a new code.")


@wallet.command("credit")
@click.argument("email")
@click.option("--amount", required=True, help="Credit to add, like 10.00.")
@click.option("--currency", default="USD", show_default=True)
@click.option("--reason", required=True, help="Why (kept in the audit log).")
@refusals_exit
def wallet_credit(email, amount, currency, reason):
    """Add goodwill credit to a customer's wallet (audited)."""
    user = _user(email)
    value = Money.parse(amount, currency)
    credit_wallet(db.session, user, value, actor=SYSTEM, idempotency_key=f"cli:{uuid.uuid4()}", reason=reason)
    balance = Money(wallet_account(db.session, user, value.currency).balance, value.currency)
    db.session.commit()
    click.echo(f"Credited {value.display()} to {user.email}; their wallet now holds {balance.display()}.")


@plans.command("set")
@click.argument("identifier")
@click.option("--name", required=True, help="What customers see, like 'Giftloop Plus'.")
@click.option("--days", "duration_days", type=int, required=True, help="One period of the plan.")
@click.option("--price", required=True, help="Price of one period, like 4.99.")
@click.option("--currency", default="USD", show_default=True)
@click.option("--loops", "price_loops", type=int, required=True, help="Price of one period in Loops.")
@click.option("--description", help="What a subscriber gets, shown on the gift pages (kept if not given).")
@refusals_exit
def plans_set(identifier, name, duration_days, price, currency, price_loops, description):
    """Put a plan on sale, or change one (gifts already bought keep their price)."""
    plan = save_plan(
        db.session, identifier, name=name, duration_days=duration_days,
        price=Money.parse(price, currency), price_loops=price_loops, description=description,
    )
    db.session.commit()
    click.echo(f"Plan {plan.identifier} ({plan.name}): {plan.duration_days} days for "
               f"{Money(plan.price, plan.currency).display()} or {plan.price_loops} Loops")


@plans.command("list")
def plans_list():
    """Show the plans on sale."""
    for plan in plans_on_sale(db.session):
        click.echo(f"{plan.identifier}\t{plan.name}\t{plan.duration_days} days\t"
                   f"{Money(plan.price, plan.currency).display()}\t{plan.price_loops} Loops")


@ledger.command("verify")
def ledger_verify():
    """Re-derive every balance and check every invariant; exit 1 naming each problem."""
    problems = verify(db.session)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s) found in the ledger")
    accounts = db.session.scalar(sa.select(sa.func.count(Account.id)))
    transactions = db.session.scalar(sa.select(sa.func.count(Transaction.id)))
    click.echo(f"Ledger OK: {accounts} accounts and {transactions} transactions check out.")


@click.command("worker")
@with_appcontext
@click.option("--burst", is_flag=True, help="Stop once the queues are empty.")
def worker(burst):
    """Run an RQ worker on every queue, with the scheduler; re-enqueue what waits in the outbox."""
    try:
        run_worker(current_app._get_current_object(), burst=burst)
    except RedisRequired as error:
        raise click.ClickException(str(error)) from None


@click.command("cron")
@with_appcontext
def cron():
    """Run RQ's cron scheduler with the sweeps and the outbox relay registered."""
    try:
        run_cron(current_app._get_current_object())
    except RedisRequired as error:
        raise click.ClickException(str(error)) from None


@click.command("sweep")
@with_appcontext
@click.argument("what", type=click.Choice(["expiry", "gifts", "transfers", "events", "entitlements", "holds"]))
def sweep(what):
    """Run one sweep now: expiry (with reminders), gifts (unpaid), transfers (lapsed), events (old),
    entitlements (ended) or holds (lapsed)."""
    if what == "expiry":
        done = sweeps.run_expiry()
        click.echo(f"Expiry: {done['reminders']} reminder(s) queued, {done['expired']} card(s) expired")
    elif what == "transfers":
        click.echo(f"Transfers: {sweeps.run_transfers()['lapsed']} lapsed")
    elif what == "events":
        click.echo(f"Events: {sweeps.run_events()['pruned']} older than the retention pruned")
    elif what == "entitlements":
        click.echo(f"Entitlements: {sweeps.run_entitlements()['expired']} expired")
    elif what == "holds":
        click.echo(f"Holds: {sweeps.run_holds()['lapsed']} lapsed, their amounts back on their cards")
    else:
        done = sweeps.run_gifts()
        click.echo(f"Gifts: {done['removed']} unpaid removed, {done['expired']} expired")

"""The ``portal`` command line (DESIGN §6): a Flask command group over ``create_app``."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import FlaskGroup

from portal.errors import DomainError
from portal.extensions import db
from portal.models import Merchant, User


def main() -> None:
    """Entry point of the ``portal`` console script."""
    from portal import create_app

    FlaskGroup(create_app=create_app, help="Giftloop portal commands.")()


def _fail(error: DomainError) -> None:
    raise click.ClickException(error.message)


def _merchant(slug: str | None) -> Merchant | None:
    if slug is None:
        return None
    merchant = db.session.scalar(sa.select(Merchant).where(Merchant.slug == slug))
    if merchant is None:
        raise click.ClickException(f"No merchant with slug {slug!r}")
    return merchant


def init_app(app: Flask) -> None:
    @app.cli.group()
    def users():
        """Manage users."""

    @users.command("create")
    @click.argument("email")
    @click.option("--role", type=click.Choice(["customer", "merchant", "admin"]), default="customer")
    @click.option("--merchant", "merchant_slug", help="Slug of the merchant (staff only).")
    @click.option("--name", default="")
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
    def users_create(email, role, merchant_slug, name, password):
        """Create a user with a role."""
        from portal.auth.users import create_user

        try:
            user = create_user(db.session, email, password, role=role, name=name, merchant=_merchant(merchant_slug))
        except DomainError as error:
            _fail(error)
        db.session.commit()
        click.echo(f"Created {user.role} {user.email} (id {user.id})")

    @app.cli.group()
    def merchants():
        """Manage merchants."""

    @merchants.command("create")
    @click.argument("slug")
    @click.option("--name", required=True)
    @click.option("--currency", default="USD")
    def merchants_create(slug, name, currency):
        """Create a merchant."""
        from portal.merchants import create_merchant

        try:
            merchant = create_merchant(db.session, slug, name, currency)
        except DomainError as error:
            _fail(error)
        db.session.commit()
        click.echo(f"Created merchant {merchant.slug} ({merchant.name}, {merchant.currency})")

    @app.cli.group()
    def tokens():
        """Manage API tokens."""

    @tokens.command("create")
    @click.argument("email")
    @click.option("--name", default="command line")
    def tokens_create(email, name):
        """Create an API token for a user and print it once."""
        from portal.api.tokens import create_token

        user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise click.ClickException(f"No user with e-mail {email}")
        try:
            _, token = create_token(db.session, user, name)
        except DomainError as error:
            _fail(error)
        db.session.commit()
        click.echo(token)

    @app.cli.command("demo")
    def demo():
        """Load demo merchants, users and cards (safe to run again)."""
        from portal.demo import load_demo

        for line in load_demo(db.session):
            click.echo(line)
        db.session.commit()

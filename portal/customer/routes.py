"""The wallet: credit, Loops and tier, and every card at a glance."""

from flask import render_template
from flask_login import current_user

from portal.customer import bp
from portal.customer.queries import credit_and_loops_history, dashboard_for
from portal.extensions import db
from portal.gifts.queries import subscriptions
from portal.services import services


@bp.get("/")
def dashboard():
    """Show wallet credit, Loops and tier, the customer code for a till, subscriptions, and the cards, most urgent first."""
    return render_template(
        "customer/dashboard.html", view=dashboard_for(db.session, current_user),
        subscriptions=subscriptions(db.session, current_user),
        customer_code=services().customer_codes.issue(current_user.id),
    )


@bp.get("/history")
def history():
    """Show what happened to wallet credit and Loops: earned, spent, converted, expired."""
    return render_template("customer/history.html", balances=credit_and_loops_history(db.session, current_user))

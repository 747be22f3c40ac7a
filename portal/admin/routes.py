import sqlalchemy as sa
from flask import render_template

from portal.admin import bp
from portal.extensions import db
from portal.models import Merchant, SecurityEvent, User


@bp.get("/")
def overview():
    """Show the programme at a glance: people, merchants, recent security events."""
    counts = {
        role: db.session.scalar(sa.select(sa.func.count()).where(User.role == role))
        for role in ("customer", "merchant", "admin")
    }
    merchants = db.session.scalar(sa.select(sa.func.count(Merchant.id)))
    events = db.session.scalars(sa.select(SecurityEvent).order_by(SecurityEvent.at.desc()).limit(20)).all()
    return render_template("admin/overview.html", counts=counts, merchants=merchants, events=events)

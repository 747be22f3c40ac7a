"""The overview: the numbers that matter, and what needs an admin's eye."""

from flask import render_template

from portal.admin import bp, queries
from portal.admin.charts import redemptions_chart
from portal.admin.lockouts import still_locked
from portal.campaigns import reports
from portal.extensions import db
from portal.notifications import failed_messages


@bp.get("/")
def overview():
    """Show liability, issued / redeemed / breakage, redemptions per day, security events (with the
    lock-outs still in force, to lift) and failed jobs."""
    session = db.session
    events = queries.security_events(session)
    days = reports.redemptions_per_day(session, days=30)
    flows = reports.card_flows(session)
    return render_template(
        "admin/overview.html",
        counts=queries.headcounts(session),
        liabilities=reports.liability(session),
        overall=[flows[key] for key in sorted(flows, key=lambda k: k[1])],
        campaigns=queries.campaigns(session)[:20],
        campaign_flows=reports.card_flows(session, by_campaign=True),
        code_stats=reports.code_stats(session),
        days=days,
        chart=redemptions_chart(days),
        events=events,
        locked=still_locked(events),
        failed_jobs=queries.failed_jobs(session),
        failed_messages=failed_messages(session, limit=20),
    )

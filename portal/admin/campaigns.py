"""Campaign pages: list, create, change, generate codes with a live progress bar, export, e-mail a list,
every use of a campaign's codes and the coupon report."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Response, render_template, request, stream_with_context, url_for
from wtforms import SelectChoice

from portal.admin import bp, last_day, queries
from portal.admin.forms import CampaignForm, DeleteCampaignForm, FullExportForm, GenerateForm, RecipientsForm
from portal.admin.responses import actor, require_tick
from portal.campaigns import (
    CampaignInvalid, create_campaign, delete_campaign, read_spec, request_generation, update_campaign,
)
from portal.campaigns import reports
from portal.campaigns.codes import vanity_code
from portal.campaigns.conditions import clock
from portal.campaigns.distribution import MAX_UPLOAD, add_recipients, codes_left, read_addresses
from portal.campaigns.exports import export_rows, file_name, impact_rows, record_full_export, use_rows
from portal.campaigns.jobs import start_job
from portal.campaigns.rules import KIND_NAMES, format_percent
from portal.errors import DomainError
from portal.extensions import db
from portal.ledger import required_reason
from portal.models import Merchant
from portal.models.campaigns import Campaign
from portal.money import format_minor
from portal.networks import networks
from portal.programme import campaign_defaults
from portal.services import services
from portal.spreadsheets import csv_chunks
from portal.web.bounds import accepts_upload
from portal.web.render import done, page_or_fragment
from portal.web.responses import on_submit, refuse

# The largest file the list takes, plus room for the form around it; a file just over MAX_UPLOAD
# still reaches read_addresses, which says how large a file may be.
RECIPIENTS_BODY_LIMIT = MAX_UPLOAD + 64 * 1024


def _merchant_choices(form: CampaignForm) -> CampaignForm:
    merchants = db.session.scalars(db.select(Merchant).order_by(Merchant.name))
    form.merchants.choices = [SelectChoice(m.slug, m.name) for m in merchants]
    form.network.choices = [SelectChoice("", "No network")] + [
        SelectChoice(str(n.id), n.name) for n in networks(db.session)
    ]
    return form


def _refuse(form: CampaignForm, error: DomainError) -> int:
    """A refused campaign: each rule's message by its field (or above the form), else the one reason."""
    if not isinstance(error, CampaignInvalid):
        return refuse(form, error)
    db.session.rollback()
    for name, message in error.errors.items():
        field = getattr(form, name, None)
        if field is not None and name != "csrf_token":
            field.errors = [*field.errors, message]
        else:
            form.form_errors.append(message)
    return 422


def _code(campaign: Campaign) -> str | None:
    shared = vanity_code(db.session, campaign)
    return services().vault.decrypt(shared.code.ciphertext) if shared else None


@bp.get("/campaigns")
def campaigns():
    """List the campaigns, newest first, with what each gives and how far it got."""
    return render_template(
        "admin/campaigns/index.html", campaigns=queries.campaigns(db.session),
        flows=reports.card_flows(db.session, by_campaign=True), stats=reports.code_stats(db.session),
    )


@bp.route("/campaigns/new", methods=["GET", "POST"])
def campaign_new():
    """Create a campaign of any kind and, for random codes or cards, start generating them."""
    form = _merchant_choices(CampaignForm())
    if request.method == "GET":
        # The kind comes first (its rules are drawn only once it is chosen); the name may come along.
        form.kind.data = request.args["kind"] if request.args.get("kind") in KIND_NAMES else None
        form.name.data = request.args.get("name", "")[:200]
        if form.kind.data:  # the programme's defaults for the kind, for the admin to keep or change
            for name, value in campaign_defaults(db.session, form.kind.data).items():
                getattr(form, name).data = value

    def create():
        campaign = create_campaign(db.session, services().vault, read_spec(db.session, form.raw()), actor=actor())
        wanted = (form.quantity.data or "").strip()
        return campaign, request_generation(db.session, campaign, form.quantity.data, actor=actor()) if wanted else None

    def answer(created):
        campaign, job = created
        if job is not None:
            start_job(job.id)
        return done(url_for(".campaign", campaign_id=campaign.id), f"Campaign “{campaign.name}” created.")

    return on_submit(
        form, create, answer, lambda status: (render_template("admin/campaigns/new.html", form=form), status),
        refusal=_refuse,
    )


def _prefill(form: CampaignForm, campaign: Campaign) -> None:
    def amount(minor):
        return format_minor(minor, campaign.currency) if minor is not None and campaign.currency else ""

    form.name.data, form.kind.data, form.currency.data = campaign.name, campaign.kind, campaign.currency or ""
    form.value.data = amount(campaign.value) if campaign.discount_type != "percent" else ""
    form.discount_type.data = campaign.discount_type or "percent"
    percent = campaign.discount_type == "percent"
    form.discount_value.data = format_percent(campaign.percent_bp) if percent else amount(campaign.value)
    form.feature.data, form.feature_days.data = campaign.feature or "", str(campaign.feature_days or "")
    form.feature_gives.data = campaign.feature_gives
    form.code_mode.data, form.code.data = campaign.code_mode, _code(campaign) or ""
    form.code_prefix.data, form.code_length.data = campaign.code_prefix, str(campaign.code_length)
    # A date means "through that day": the stored moment is the midnight after it.
    form.expires_at.data = last_day(campaign.expires_at).date().isoformat() if campaign.expires_at else ""
    form.valid_days.data = str(campaign.valid_days or "")
    form.max_uses.data, form.uses_per_user.data = str(campaign.max_uses or ""), str(campaign.uses_per_user or "")
    form.min_order.data = amount(campaign.min_order)
    form.merchants.data = [m.slug for m in campaign.merchants]
    form.network.data = str(campaign.network_id or "")
    form.allowed_domains.data = ", ".join(campaign.allowed_domains)
    form.channels.data = list(campaign.channels)
    form.weekdays.data = [str(day) for day in campaign.weekdays]
    hours = campaign.hours_from is not None
    form.hours_from.data = clock(campaign.hours_from) if hours else ""
    form.hours_until.data = clock(campaign.hours_until) if hours else ""
    form.first_order_only.data = campaign.first_order_only
    form.max_discount.data = amount(campaign.max_discount)
    form.max_discount_per_customer.data = amount(campaign.max_discount_per_customer)


@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
def campaign_edit(campaign_id: int):
    """Change a campaign's rules; its kind and its kind of codes stay."""
    campaign = queries.campaign(db.session, campaign_id)
    form = _merchant_choices(CampaignForm())
    if request.method == "GET":
        _prefill(form, campaign)

    def save():
        raw = {**form.raw(), "kind": campaign.kind, "code_mode": campaign.code_mode}
        spec = read_spec(db.session, raw, used=campaign.uses)
        update_campaign(db.session, services().vault, campaign, spec, actor=actor())

    def page(status: int):
        form.kind.data, form.code_mode.data = campaign.kind, campaign.code_mode
        return render_template("admin/campaigns/edit.html", form=form, campaign=campaign), status

    return on_submit(
        form, save, lambda _: done(url_for(".campaign", campaign_id=campaign.id), "Campaign saved."), page,
        refusal=_refuse,
    )


def _detail(campaign: Campaign, status: int = 200, **forms):
    forms.setdefault("generate_form", GenerateForm())
    forms.setdefault("export_form", FullExportForm())
    forms.setdefault("recipients_form", RecipientsForm())
    forms.setdefault("delete_form", DeleteCampaignForm(formdata=None, prefix="delete"))
    flows = reports.card_flows(db.session, by_campaign=True) if campaign.kind == "gift_card" else {}
    page = queries.recipients(db.session, campaign.id, queries.page_number(request.args.get("page")))
    return render_template(
        "admin/campaigns/detail.html", campaign=campaign, code=_code(campaign),
        flow=flows.get((campaign.id, campaign.currency)), stats=reports.code_stats(db.session).get(campaign.id),
        jobs=queries.jobs(db.session, campaign.id), recipients=page,
        recipient_counts=queries.recipient_counts(db.session, campaign.id), codes_left=codes_left(db.session, campaign),
        **forms,
    ), status


@bp.get("/campaigns/<int:campaign_id>")
def campaign(campaign_id: int):
    """Show a campaign: its rules, numbers, jobs, exports and e-mail list."""
    return _detail(queries.campaign(db.session, campaign_id))


@bp.post("/campaigns/<int:campaign_id>/generate")
def campaign_generate(campaign_id: int):
    """Start generating more codes (or cards) for the campaign."""
    campaign = queries.campaign(db.session, campaign_id)
    form = GenerateForm()
    return on_submit(
        form, lambda: request_generation(db.session, campaign, form.quantity.data, actor=actor()),
        lambda job: _started(campaign, job, f"Generating {job.requested:,} codes."),
        lambda status: _detail(campaign, status, generate_form=form),
    )


def _started(campaign: Campaign, job, message: str):
    """Start the committed job and go back to the campaign's page, saying what it does."""
    start_job(job.id)
    return done(url_for(".campaign", campaign_id=campaign.id), message)


@bp.get("/campaigns/<int:campaign_id>/jobs/<int:job_id>")
def campaign_job(campaign_id: int, job_id: int):
    """A job's progress: the fragment polls itself while the job runs."""
    job = queries.job(db.session, campaign_id, job_id)
    return page_or_fragment("admin/campaigns/job.html", "admin/campaigns/_job.html", job=job, campaign=job.campaign)


@bp.post("/campaigns/<int:campaign_id>/jobs/<int:job_id>/resume")
def campaign_job_resume(campaign_id: int, job_id: int):
    """Start a job that failed (from where it stopped) or that no worker has taken yet."""
    job = queries.job(db.session, campaign_id, job_id)
    if job.status in ("failed", "queued"):
        start_job(job.id)
    return done(url_for(".campaign", campaign_id=campaign_id), "The job was started again.")


def _download(rows: Iterable[list[str]], name: str) -> Response:
    response = Response(stream_with_context(csv_chunks(rows)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _csv(campaign: Campaign, *, full: bool) -> Response:
    return _download(export_rows(db.session, services().vault, campaign, full=full), file_name(campaign, full=full))


@bp.get("/campaigns/<int:campaign_id>/codes.csv")
def campaign_export(campaign_id: int):
    """Download the campaign's codes as CSV, masked."""
    return _csv(queries.campaign(db.session, campaign_id), full=False)


@bp.post("/campaigns/<int:campaign_id>/codes-full.csv")
def campaign_export_full(campaign_id: int):
    """Download the campaign's full codes as CSV: recorded in the audit log with the reason given."""
    campaign = queries.campaign(db.session, campaign_id)
    form = FullExportForm()
    return on_submit(
        form, lambda: record_full_export(db.session, campaign, actor=actor(), reason=form.reason.data),
        lambda _: _csv(campaign, full=True), lambda status: _detail(campaign, status, export_form=form),
    )


@bp.post("/campaigns/<int:campaign_id>/recipients")
@accepts_upload(RECIPIENTS_BODY_LIMIT)
def campaign_recipients(campaign_id: int):
    """E-mail the campaign to a list of addresses (a CSV upload): one code each, sent by the job queue."""
    campaign = queries.campaign(db.session, campaign_id)
    form = RecipientsForm()

    def add():
        upload = form.addresses.data
        addresses, bad = read_addresses(upload.read() if upload else b"")
        return add_recipients(db.session, campaign, addresses, actor=actor()), bad

    def answer(added):
        job, bad = added
        if job is None:
            message = "Every address in the file was already on the list."
            return done(url_for(".campaign", campaign_id=campaign.id), message)
        skipped = f" {len(bad)} cells that were not e-mail addresses were left out." if bad else ""
        return _started(campaign, job, f"Sending to {job.requested:,} addresses.{skipped}")

    return on_submit(form, add, answer, lambda status: _detail(campaign, status, recipients_form=form))


@bp.post("/campaigns/<int:campaign_id>/delete")
def campaign_delete(campaign_id: int):
    """Delete a campaign: its codes stop working; cards it issued stay as they are."""
    campaign = queries.campaign(db.session, campaign_id)
    form = DeleteCampaignForm(prefix="delete")
    try:
        reason = required_reason(form.reason.data)
        require_tick(form, "the campaign's codes stop working at once")
        delete_campaign(db.session, campaign, actor=actor(), reason=reason)
    except DomainError as error:
        return _detail(campaign, refuse(form, error), delete_form=form)
    db.session.commit()
    return done(url_for(".campaigns"), f"Campaign “{campaign.name}” deleted.")


@bp.get("/campaigns/<int:campaign_id>/uses")
def campaign_uses(campaign_id: int):
    """Every use of the campaign's codes (who, when, which channel, the order total), newest first; for a
    coupon, the order value it touched and the discount it gave."""
    campaign = queries.campaign(db.session, campaign_id)
    page = queries.paginate(
        db.session, reports.uses_of(campaign.id), queries.page_number(request.args.get("page")), rows=True
    )
    impact = reports.coupon_impact(db.session, campaign.id) if campaign.kind == "coupon" else []
    return render_template("admin/campaigns/uses.html", campaign=campaign, uses=page, impact=impact)


@bp.get("/campaigns/<int:campaign_id>/uses.csv")
def campaign_uses_export(campaign_id: int):
    """Download every use of the campaign's codes as CSV."""
    campaign = queries.campaign(db.session, campaign_id)
    return _download(use_rows(db.session, campaign), f"campaign-{campaign.id}-uses.csv")


@bp.get("/campaigns/coupons")
def coupon_report():
    """The coupon report: per coupon campaign, its uses, the order value they touched and the discount given."""
    return render_template("admin/campaigns/coupons.html", impacts=reports.coupon_impact(db.session))


@bp.get("/campaigns/coupons.csv")
def coupon_report_export():
    """Download the coupon report as CSV."""
    return _download(impact_rows(reports.coupon_impact(db.session)), "coupon-report.csv")

"""Admin campaign pages through the test client: create, generate with progress, export, e-mail a list."""

from __future__ import annotations

import csv
import io
import re

from portal.extensions import db
from portal.ledger import verify
from portal.models import AuditEvent, GiftCard
from portal.models.campaigns import Campaign, CampaignCode, CampaignJob, CampaignRecipient
from tests.conftest import csrf_token, submit


def create(admin, **fields):
    data = {"name": "Test", "kind": "coupon", "currency": "USD", "discount_type": "percent", "code_mode": "vanity"}
    data.update(fields)
    return submit(admin, "/admin/campaigns/new", data)


def only(app, model=Campaign):
    with app.app_context():
        rows = db.session.scalars(db.select(model)).all()
        assert len(rows) == 1
        db.session.expunge(rows[0])
        return rows[0]


def test_the_new_campaign_form_asks_only_for_the_rules_of_the_chosen_kind(admin):
    """The kind comes first; then a gift card campaign is not asked for a discount, a coupon not for a value."""
    chooser = admin.get("/admin/campaigns/new").get_data(as_text=True)
    assert "Name" in chooser and "Kind" in chooser and "Next" in chooser
    assert "Currency" not in chooser and "Create campaign" not in chooser
    cards = admin.get("/admin/campaigns/new?kind=gift_card&name=Spring").get_data(as_text=True)
    for label in ("Name", "Currency", "Value of each card", "Expires after", "Customer e-mail domains", "Channels",
                  "How many codes or cards to generate now"):
        assert label in cards, label
    for label in ("Discount", "Vanity code", "Prefix of random codes", "Minimum order", "Days unlocked"):
        assert label not in cards, label
    assert 'value="Spring"' in cards and 'name="kind" value="gift_card"' in cards
    coupon = admin.get("/admin/campaigns/new?kind=coupon").get_data(as_text=True)
    assert "Discount" in coupon and "Minimum order" in coupon and "Value of each card" not in coupon


def test_an_admin_creates_a_coupon_with_a_five_use_limit(app, admin):
    response = create(admin, name="Five", discount_value="10", code="FIVE10", max_uses="5", uses_per_user="1",
                      merchants="corner-cafe", channels=["web"])
    assert response.status_code == 303
    campaign = only(app)
    assert (campaign.kind, campaign.max_uses, campaign.percent_bp, campaign.channels) == ("coupon", 5, 1000, ["web"])
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "Campaign “Five” created." in page and "FIVE10" in page and "0 of 5" in page
    assert "Corner Café" in page


def test_every_mistake_is_shown_by_its_field_and_nothing_is_created(app, admin):
    response = create(admin, name="", discount_value="150", code="x", max_uses="0")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Give the campaign a name of 1 to 120 characters" in html
    assert "A percentage discount is more than 0 and at most 100" in html
    assert "A code is 3 to 32 letters and digits, like SAVE20" in html
    assert 'aria-invalid="true"' in html
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Campaign.id))) == 0


def test_a_gift_card_campaign_generates_its_cards_and_shows_the_finished_bar(app, admin):
    app.config["CAMPAIGN_BATCH_SIZE"] = 40
    response = create(admin, name="Cards", kind="gift_card", value="10.00", quantity="100")
    assert response.status_code == 303
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "100 of 100" in page and "finished" in page
    assert '<progress max="100" value="100"' in page
    assert "hx-trigger" not in page.split('id="jobs-heading"')[1].split("</section>")[0]  # a finished bar stops polling
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(GiftCard.id))) == 100
        assert verify(db.session) == []


def test_a_running_job_polls_itself_and_answers_htmx_with_the_fragment(app, admin):
    create(admin, name="Codes", kind="credit", value="1.00", code_mode="random")
    campaign = only(app)
    with app.app_context():
        job = CampaignJob(campaign_id=campaign.id, requested=500, done=120, status="running")
        db.session.add(job)
        db.session.commit()
        job_id = job.id
    url = f"/admin/campaigns/{campaign.id}/jobs/{job_id}"
    fragment = admin.get(url, headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert html.lstrip().startswith('<div class="job job-running"') and "<html" not in html
    assert f'hx-get="{url}"' in html and 'hx-trigger="load delay:500ms"' in html and 'hx-swap="outerHTML"' in html
    assert "120 of 500" in html and "HX-Request" in fragment.headers["Vary"]
    page = admin.get(url).get_data(as_text=True)
    assert "<html" in page and "120 of 500" in page


def test_generate_more_codes_and_refuse_bad_quantities(app, admin):
    create(admin, name="Codes", kind="credit", value="1.00", code_mode="random", code_prefix="MORE")
    campaign = only(app)
    bad = submit(admin, f"/admin/campaigns/{campaign.id}/generate", {"quantity": "0"}, page=f"/admin/campaigns/{campaign.id}")
    assert bad.status_code == 422 and "Generate from 1 to 1,000,000 codes at a time" in bad.get_data(as_text=True)
    good = submit(admin, f"/admin/campaigns/{campaign.id}/generate", {"quantity": "25"}, page=f"/admin/campaigns/{campaign.id}")
    assert good.status_code == 303
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(CampaignCode.id))) == 25


def test_the_export_is_masked_and_full_codes_need_a_reason_that_is_audited(app, admin):
    create(admin, name="Cards", kind="gift_card", value="5.00", quantity="3")
    campaign = only(app)
    masked = admin.get(f"/admin/campaigns/{campaign.id}/codes.csv")
    assert masked.mimetype == "text/csv" and "attachment" in masked.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(masked.get_data(as_text=True))))
    assert rows[0][0] == "code" and len(rows) == 4 and all(r[0].startswith("GC-****-****-****-") for r in rows[1:])
    assert "•" not in masked.get_data(as_text=True)

    page = f"/admin/campaigns/{campaign.id}"
    refused = submit(admin, f"/admin/campaigns/{campaign.id}/codes-full.csv", {"reason": ""}, page=page)
    assert refused.status_code == 422 and "Please give a reason" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "campaign.codes_exported")) is None
    full = submit(admin, f"/admin/campaigns/{campaign.id}/codes-full.csv", {"reason": "Printing"}, page=page)
    rows = list(csv.reader(io.StringIO(full.get_data(as_text=True))))
    assert all(re.fullmatch(r"GC-[0-9A-Z]{4}(-[0-9A-Z]{4}){3}-[0-9A-Z]", r[0]) for r in rows[1:])
    assert full.headers["Cache-Control"] == "no-store"
    assert len(masked.get_data()) <= len(full.get_data()), "plain masks: never larger than the full codes"
    with app.app_context():
        event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "campaign.codes_exported"))
        assert event.reason == "Printing" and event.actor_id is not None


def test_changing_a_campaign_keeps_its_kind(app, admin):
    create(admin, name="Edit me", discount_value="10", code="EDITME", max_uses="5")
    campaign = only(app)
    form = admin.get(f"/admin/campaigns/{campaign.id}/edit").get_data(as_text=True)
    assert 'value="EDITME"' in form and 'value="5"' in form
    response = submit(admin, f"/admin/campaigns/{campaign.id}/edit",
                      {"name": "Edited", "kind": "credit", "discount_type": "percent", "discount_value": "20",
                       "code": "EDITME", "max_uses": "9", "channels": ["web", "api"]})
    assert response.status_code == 303
    edited = only(app)
    assert (edited.name, edited.kind, edited.percent_bp, edited.max_uses) == ("Edited", "coupon", 2000, 9)


def test_deleting_a_campaign_hides_it(app, admin):
    create(admin, name="Gone", discount_value="10", code="GONE10")
    campaign = only(app)
    page, action = f"/admin/campaigns/{campaign.id}", f"/admin/campaigns/{campaign.id}/delete"
    one_click = submit(admin, action, {}, page=page)
    assert one_click.status_code == 422 and "Please give a reason" in one_click.get_data(as_text=True)
    unticked = submit(admin, action, {"delete-reason": "Season over"}, page=page)
    assert unticked.status_code == 422 and "Tick the box to confirm" in unticked.get_data(as_text=True)
    assert admin.get(page).status_code == 200, "not deleted without a reason and a tick"
    response = submit(admin, action, {"delete-reason": "Season over", "delete-confirm": "y"}, page=page)
    assert response.status_code == 303
    with app.app_context():
        event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "campaign.deleted"))
        assert event.reason == "Season over"
    assert admin.get(f"/admin/campaigns/{campaign.id}").status_code == 404
    assert "Gone" not in admin.get("/admin/campaigns").get_data(as_text=True)


def test_emailing_a_list_gives_each_address_a_code_through_the_outbox(app, admin, tmp_path):
    from portal.models.outbox import OutboxMessage

    app.config["OUTBOX_DIR"] = str(tmp_path)  # no SMTP: e-mails are written as .eml files
    create(admin, name="Welcome", kind="credit", value="3.00", code_mode="random", code_prefix="HI", quantity="3")
    campaign = only(app)
    upload = io.BytesIO(b"email,name\nann@example.com,Ann\nBOB@example.com,Bob\nnot-an-address@,X\nann@example.com,Ann again\n")
    token = csrf_token(admin, f"/admin/campaigns/{campaign.id}")
    response = admin.post(
        f"/admin/campaigns/{campaign.id}/recipients",
        data={"csrf_token": token, "addresses": (upload, "list.csv")}, content_type="multipart/form-data",
    )
    assert response.status_code == 303
    with app.app_context():
        recipients = db.session.scalars(db.select(CampaignRecipient).order_by(CampaignRecipient.id)).all()
        assert [r.email for r in recipients] == ["ann@example.com", "bob@example.com"]
        assert len({r.campaign_code_id for r in recipients}) == 2
        messages = db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.kind == "campaign_code")).all()
        assert len(messages) == 2 and all(m.code_ciphertext for m in messages)
    page = admin.get(f"/admin/campaigns/{campaign.id}").get_data(as_text=True)
    assert "ann@example.com" in page and "bob@example.com" in page
    assert "Queued 0 · Sent 2 · Failed 0" in page
    mails = [path.read_text() for path in tmp_path.glob("*campaign_code.eml")]
    assert len(mails) == 2 and all("Your Giftloop code: 3.00 USD" in mail and "HI-" in mail for mail in mails)
    # Only one code is left: a list of two new addresses is refused, and nothing is recorded.
    upload = io.BytesIO(b"cy@example.com\ndee@example.com\n")
    refused = admin.post(
        f"/admin/campaigns/{campaign.id}/recipients",
        data={"csrf_token": token, "addresses": (upload, "more.csv")}, content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    assert "Only 1 unused codes are left for 2 new addresses; generate more first" in refused.get_data(as_text=True)


def test_only_admins_reach_the_campaign_pages(client, auth, people):
    auth.login(people["merchant"])
    assert client.get("/admin/campaigns").status_code == 403
    assert client.get("/admin/campaigns/new").status_code == 403


def test_emailing_a_gift_card_campaign_sends_each_address_a_card_with_its_qr_code(app, admin, tmp_path):
    app.config["OUTBOX_DIR"] = str(tmp_path)
    create(admin, name="Cards by mail", kind="gift_card", value="15.00", quantity="1")
    campaign = only(app)
    token = csrf_token(admin, f"/admin/campaigns/{campaign.id}")
    admin.post(f"/admin/campaigns/{campaign.id}/recipients", content_type="multipart/form-data",
               data={"csrf_token": token, "addresses": (io.BytesIO(b"gift@example.com\n"), "one.csv")})
    [mail] = [path.read_text() for path in tmp_path.glob("*campaign_code.eml")]
    assert "You have been sent a Giftloop gift card" in mail and "15.00 USD" in mail
    assert re.search(r"GC-[0-9A-Z]{4}(-[0-9A-Z]{4}){3}-[0-9A-Z]", mail) and "image/png" in mail
    with app.app_context():
        recipient = db.session.scalar(db.select(CampaignRecipient))
        assert recipient.campaign_code_id is not None and recipient.outbox_id is not None

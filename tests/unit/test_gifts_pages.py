"""The gift pages without a browser (DESIGN §3): buy (form → review → pay and send), the lists, send,
cancel, reveal an open gift's code, redeem a gift sent to me; every refusal shown by its field and
changing nothing; other people's gifts as missing as gifts that never were."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from portal.extensions import db
from portal.models.gifts import GiftSubscription
from tests.conftest import PASSWORD, csrf_token, submit
from tests.gifts import BUYER, FRIEND, STRANGER, coupon, everything, gift_row, mail, make_gift, subscription_end
from tests.pages import HTMX, text
from tests.reads import wallet_of


def sign_in(client, email):
    response = submit(client, "/signin", {"email": email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)


def form_key(html: str) -> str:
    return re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', html).group(1)


def newest_gift(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.max(GiftSubscription.id)))


def test_a_gift_is_bought_reviewed_paid_and_sent_by_the_pages(gifting, client):
    app = gifting
    coupon(app)
    sign_in(client, BUYER)
    form = client.get("/wallet/gifts/new")
    assert form.status_code == 200
    page = text(form)
    assert "Giftloop Plus, 30 days: 4.99 USD or 499 Loops" in page and "Wallet credit (you have 20.00 USD)" in page
    choices = {
        "plan": "plus", "recipient_email": FRIEND, "message": "Enjoy!", "payment_method": "wallet", "coupon": "gift10",
        "idempotency_key": form_key(form.get_data(as_text=True)),
    }
    review = submit(client, "/wallet/gifts/new", choices, page="/wallet/gifts/new")
    assert review.status_code == 303
    gift_id = newest_gift(app)
    assert review.headers["Location"].endswith(f"/wallet/gifts/{gift_id}")
    again = submit(client, "/wallet/gifts/new", choices, page="/wallet/gifts/new")  # a double submit: one gift
    assert again.status_code == 303 and again.headers["Location"] == review.headers["Location"]
    assert len(everything(app)["gifts"]) == 1
    shown = text(client.get(f"/wallet/gifts/{gift_id}"))
    assert "Check and pay" in shown and "Price 4.99 USD" in shown and "Coupon −0.50 USD" in shown
    assert "You pay 4.49 USD from your wallet credit" in shown
    assert wallet_of(app, BUYER) == 2000 and everything(app)["uses"] == 0
    key = form_key(client.get(f"/wallet/gifts/{gift_id}").get_data(as_text=True))
    token = csrf_token(client, f"/wallet/gifts/{gift_id}")
    for _ in range(2):  # a double click pays once
        paid = client.post(f"/wallet/gifts/{gift_id}/pay", data={"csrf_token": token, "idempotency_key": key})
        assert paid.status_code == 303
    assert wallet_of(app, BUYER) == 2000 - 449 and everything(app)["uses"] == 1
    after = text(client.get(f"/wallet/gifts/{gift_id}"))
    assert "Paid and sent. Your friend will get an e-mail with the code." in after
    assert f"Sent to {FRIEND}" in after and "You paid 4.49 USD" in after
    assert [m.recipient for m in mail(app, "gift_received")] == [FRIEND]
    listed = text(client.get("/wallet/gifts"))
    assert "Gifts you gave" in listed and f"Sent to {FRIEND}" in listed


def test_each_form_refusal_is_shown_by_its_field_and_changes_nothing(gifting, client):
    app = gifting
    sign_in(client, BUYER)
    before = everything(app)
    for data, words in (
        ({"recipient_email": BUYER}, "That is your own address"),
        ({"recipient_email": "nobody"}, "Enter an e-mail address like name@example.com"),
        ({"coupon": "NOSUCH"}, "We don't recognise that code"),
        ({"plan": "gold"}, "Choose a subscription plan: plus"),
        ({"payment_method": "cash"}, "Choose wallet credit or Loops"),
    ):
        body = {"plan": "plus", "recipient_email": FRIEND, "payment_method": "wallet", **data}
        refused = client.post("/wallet/gifts/new", data={
            **body, "csrf_token": csrf_token(client, "/wallet/gifts/new"),
            "idempotency_key": form_key(client.get("/wallet/gifts/new").get_data(as_text=True)),
        }, headers=HTMX)
        assert refused.status_code == 422, data
        html = refused.get_data(as_text=True)
        assert words in text(refused) and 'field-invalid' in html, data
    assert everything(app) == before


def test_not_enough_credit_is_shown_on_the_review_and_nothing_is_charged(gifting, client):
    app = gifting
    gift_id, _ = make_gift(app, pay=False, subscription_duration_days=150)
    sign_in(client, BUYER)
    before = everything(app)
    key = form_key(client.get(f"/wallet/gifts/{gift_id}").get_data(as_text=True))
    refused = client.post(f"/wallet/gifts/{gift_id}/pay", headers=HTMX,
                          data={"csrf_token": csrf_token(client, f"/wallet/gifts/{gift_id}"), "idempotency_key": key})
    assert refused.status_code == 422
    assert "Your wallet holds 20.00 USD; this gift needs 24.95 USD" in text(refused)
    assert everything(app) == before


def test_an_open_gifts_code_is_shown_to_its_buyer_only(gifting, client):
    app = gifting
    gift_id, code = make_gift(app, to=None)
    sign_in(client, BUYER)
    page = client.get(f"/wallet/gifts/{gift_id}").get_data(as_text=True)
    assert code not in page and "GIFT-••••-••••-••••-" + code[-4:] in page
    shown = client.post(f"/wallet/gifts/{gift_id}/reveal", headers=HTMX,
                        data={"csrf_token": csrf_token(client, f"/wallet/gifts/{gift_id}")})
    assert code in shown.get_data(as_text=True) and shown.headers["Cache-Control"] == "no-store"
    client.post("/signout", data={"csrf_token": csrf_token(client, "/wallet/")})
    sign_in(client, STRANGER)
    for response in (client.get(f"/wallet/gifts/{gift_id}"),
                     client.post(f"/wallet/gifts/{gift_id}/reveal",
                                 data={"csrf_token": csrf_token(client, "/wallet/gifts")})):
        assert response.status_code == 404


def test_the_friend_redeems_from_gifts_for_you_and_the_wallet_shows_the_subscription(gifting, client):
    app = gifting
    gift_id, code = make_gift(app, message="For you")
    sign_in(client, FRIEND)
    listed = text(client.get("/wallet/gifts"))
    assert "Gifts for you" in listed and "From Cara" in listed and "Waiting for you to redeem it" in listed
    page = client.get(f"/wallet/gifts/{gift_id}")
    assert code not in page.get_data(as_text=True) and "For you" in text(page) and "Price" not in text(page)
    redeemed = client.post(f"/wallet/gifts/{gift_id}/redeem", data={"csrf_token": csrf_token(client, "/wallet/gifts")})
    assert redeemed.status_code == 303 and redeemed.headers["Location"].endswith("/wallet/")
    wallet_page = text(client.get("/wallet/"))
    assert "Giftloop Plus is yours until" in wallet_page and "Subscriptions Giftloop Plus: active until" in wallet_page
    again = client.post(f"/wallet/gifts/{gift_id}/redeem", headers=HTMX,
                        data={"csrf_token": csrf_token(client, "/wallet/gifts")})
    assert again.status_code == 422 and "Redeemed on" in text(again)


def test_a_gift_code_typed_in_redeem_a_code_starts_the_subscription(gifting, client):
    app = gifting
    _, code = make_gift(app, to=None)
    sign_in(client, STRANGER)
    response = submit(client, "/wallet/redeem", {"code": code.lower()})
    assert response.status_code == 303
    assert "Giftloop Plus is yours until" in text(client.get("/wallet/"))
    assert subscription_end(app, STRANGER) is not None


def test_the_buyer_cancels_and_is_refunded_and_the_friend_cannot_cancel(gifting, client):
    app = gifting
    gift_id, _ = make_gift(app)
    sign_in(client, FRIEND)
    before = everything(app)
    refused = client.post(f"/wallet/gifts/{gift_id}/cancel", headers=HTMX,
                          data={"csrf_token": csrf_token(client, "/wallet/gifts")})
    assert refused.status_code == 422 and "You have no gift with that number" in text(refused)
    assert everything(app) == before
    client.post("/signout", data={"csrf_token": csrf_token(client, "/wallet/")})
    sign_in(client, BUYER)
    cancelled = client.post(f"/wallet/gifts/{gift_id}/cancel", data={"csrf_token": csrf_token(client, "/wallet/gifts")})
    assert cancelled.status_code == 303 and wallet_of(app, BUYER) == 2000
    assert "Cancelled, refunded" in text(client.get(f"/wallet/gifts/{gift_id}"))
    assert gift_row(app, gift_id).status == "cancelled"


def test_the_gift_pages_say_what_the_plan_gives(gifting, client):
    """Do the form and the gift page say how many days of which plan, and what a subscriber gets?"""
    gift_id, _ = make_gift(gifting, pay=False, send=False)
    sign_in(client, BUYER)
    gives = "The Plus perks merchants and apps offer on Giftloop"
    form = text(client.get("/wallet/gifts/new"))
    assert f"Giftloop Plus 30 days: {gives}" in form
    assert "A friend who has it already gets these days after theirs end." in form
    page = text(client.get(f"/wallet/gifts/{gift_id}"))
    assert "What it gives 30 days of Giftloop Plus, from the day it is redeemed" in page
    assert f"Giftloop Plus {gives}" in page


def test_the_buyer_is_told_before_paying_that_the_gift_stacks_on_the_friends_plan(gifting, client):
    """The friend holds Plus: does the review say the gift's days start when theirs end?"""
    app = gifting
    first, _ = make_gift(app)
    with app.app_context():
        from portal.gifts.redemption import redeem_gift
        from tests.factories import user

        redeem_gift(db.session, db.session.get(GiftSubscription, first), user(FRIEND))
        db.session.commit()
    ends = subscription_end(app, FRIEND)
    second, _ = make_gift(app, pay=False, send=False)
    sign_in(client, BUYER)
    review = text(client.get(f"/wallet/gifts/{second}"))
    assert (f"{FRIEND} already has Giftloop Plus until {ends.day} {ends:%B %Y}: gifts stack, so this gift's "
            "30 days start when theirs end.") in review
    open_gift, _ = make_gift(app, to=None, pay=False, send=False)
    assert "already has" not in text(client.get(f"/wallet/gifts/{open_gift}"))


def test_the_friend_who_has_the_plan_reads_that_redeeming_adds_the_days_after_theirs(gifting, client):
    """Fran holds Plus: does the next gift's page say its days come after hers, and do they?"""
    app = gifting
    first, _ = make_gift(app)
    second, _ = make_gift(app)
    sign_in(client, FRIEND)
    redeemed = client.post(f"/wallet/gifts/{first}/redeem", data={"csrf_token": csrf_token(client, "/wallet/gifts")})
    assert redeemed.status_code == 303
    ends = subscription_end(app, FRIEND)
    page = text(client.get(f"/wallet/gifts/{second}"))
    assert (f"You have Giftloop Plus until {ends.day} {ends:%B %Y}: redeeming this gift adds its 30 days after that."
            in page)
    again = client.post(f"/wallet/gifts/{second}/redeem", data={"csrf_token": csrf_token(client, "/wallet/gifts")})
    assert again.status_code == 303 and subscription_end(app, FRIEND) == ends + timedelta(days=30)
    assert "You have Giftloop Plus" not in text(client.get(f"/wallet/gifts/{first}"))

"""Acceptance networks: an admin makes a named set of merchants, a card or gift card campaign is
scoped to it, the till and the API refuse the card elsewhere (naming the rule, changing nothing),
and each merchant's reports show what it took from cards other issuers sold."""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.ledger import SYSTEM, verify
from portal.models import AuditEvent, GiftCard, Network, utcnow
from portal.networks import add_merchant, create_network, set_card_network
from tests.api import card_row, state
from tests.conftest import AuthActions, submit
from tests.factories import add_merchant as add_store
from tests.factories import issue, merchant_by_slug, pay_at_till
from tests.pages import Till, text

OUT_OF_NETWORK = "This card works only in the Riverside Mall network, and Corner Café is not part of it"


@pytest.fixture
def mall(app, people):
    """Riverside Mall, a network of The Book Nook and Deli Two (not Corner Café); its id."""
    with app.app_context():
        known = merchant_by_slug("book-nook") is not None  # the api fixture's
    if not known:
        add_store(app, "book-nook", "The Book Nook")
    add_store(app, "deli-two", "Deli Two")
    with app.app_context():
        network = create_network(db.session, "Riverside Mall", actor=SYSTEM)
        for slug in ("book-nook", "deli-two"):
            add_merchant(db.session, network, slug, actor=SYSTEM)
        db.session.commit()
        return network.id


def mall_card(app, network_id: int, amount: str = "10.00", **options) -> str:
    """A card scoped to the network; its full code."""
    card_id, code = issue(app, amount=amount, **options)
    with app.app_context():
        set_card_network(db.session, db.session.get(GiftCard, card_id), db.session.get(Network, network_id), actor=SYSTEM)
        db.session.commit()
    return code


def network_row(app, network_id: int) -> tuple[str, list[str]]:
    with app.app_context():
        network = db.session.get(Network, network_id)
        return network.name, sorted(m.slug for m in network.merchants)


# --- Admin pages -----------------------------------------------------------------------------


def test_an_admin_creates_a_network_and_adds_and_removes_merchants(app, admin, people):
    """Can an admin make a network, add two merchants, take one out and rename it, each audited?"""
    add_store(app, "book-nook", "The Book Nook")
    add_store(app, "deli-two", "Deli Two")
    response = submit(admin, "/admin/networks", {"name": "  Riverside   Mall "})
    assert response.status_code == 303
    path = response.headers["Location"]
    network_id = int(path.rsplit("/", 1)[1])
    for slug in ("book-nook", "deli-two"):
        assert submit(admin, f"{path}/merchants", {"merchant": slug}, page=path).status_code == 303
    assert network_row(app, network_id) == ("Riverside Mall", ["book-nook", "deli-two"])
    page = text(admin.get(path).get_data(as_text=True))
    assert "The Book Nook" in page and "Deli Two" in page
    assert submit(admin, f"{path}/merchants/deli-two/remove", {}, page=path).status_code == 303
    assert submit(admin, f"{path}/name", {"name": "Riverside Centre"}, page=path).status_code == 303
    assert network_row(app, network_id) == ("Riverside Centre", ["book-nook"])
    assert "Riverside Centre" in text(admin.get("/admin/networks").get_data(as_text=True))
    assert "Networks Riverside Centre" in text(admin.get("/admin/merchants/book-nook").get_data(as_text=True))
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.target == f"network:{network_id}"))
        assert sorted(actions) == sorted([
            "network.created", "network.merchant_added", "network.merchant_added", "network.merchant_removed",
            "network.renamed",
        ])


@pytest.mark.parametrize(
    "name, message",
    [("", "Give the network a name of 1 to 120 characters"), ("riverside mall", "A network called riverside mall already exists")],
)
def test_a_bad_network_name_is_explained_and_changes_nothing(app, admin, mall, name, message):
    """Does a blank or taken name get its message by the field, and no network is made?"""
    response = submit(admin, "/admin/networks", {"name": name})
    assert response.status_code == 422
    assert message in text(response.get_data(as_text=True))
    with app.app_context():
        other = create_network(db.session, "Harbour Walk", actor=SYSTEM).id
        db.session.commit()
    rename = submit(admin, f"/admin/networks/{other}/name", {"name": name}, page=f"/admin/networks/{other}")
    assert rename.status_code == 422 and message in text(rename.get_data(as_text=True))
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Network.id))) == 2
    assert network_row(app, mall)[0] == "Riverside Mall" and network_row(app, other)[0] == "Harbour Walk"


def test_adding_a_merchant_twice_or_none_is_explained(app, admin, mall):
    path = f"/admin/networks/{mall}"
    twice = submit(admin, f"{path}/merchants", {"merchant": "book-nook"}, page=path)
    assert twice.status_code == 422 and "The Book Nook is already in Riverside Mall" in text(twice.get_data(as_text=True))
    none = submit(admin, f"{path}/merchants", {"merchant": ""}, page=path)
    assert none.status_code == 422 and "Choose a merchant to add" in text(none.get_data(as_text=True))
    assert network_row(app, mall)[1] == ["book-nook", "deli-two"]


def test_an_admin_scopes_a_card_to_a_network_on_its_page(app, admin, mall):
    """Does the card page's Network form scope the card, show it, and audit it?"""
    card_id, _ = issue(app)
    page = f"/admin/cards/{card_id}"
    assert "Works in the network" in admin.get(page).get_data(as_text=True)
    response = submit(admin, f"{page}/network", {"network-network": str(mall)}, page=page)
    assert response.status_code == 303
    assert "merchants of the Riverside Mall network" in text(admin.get(page).get_data(as_text=True))
    with app.app_context():
        assert db.session.get(GiftCard, card_id).network_id == mall
        assert db.session.scalar(sa.select(AuditEvent.action).where(AuditEvent.target == f"card:{card_id}")) == "card.network"


def test_a_card_for_one_merchant_cannot_also_be_scoped_to_a_network(app, admin, mall):
    card_id, _ = issue(app, merchant="book-nook", scoped=True)
    page = f"/admin/cards/{card_id}"
    response = submit(admin, f"{page}/network", {"network-network": str(mall)}, page=page)
    assert response.status_code == 422
    assert "This card works only at The Book Nook; it cannot also be scoped to a network" in text(response.get_data(as_text=True))
    unknown = submit(admin, f"/admin/cards/{issue(app)[0]}/network", {"network-network": "999"}, page=page)
    assert unknown.status_code == 422 and "Choose one of the networks" in text(unknown.get_data(as_text=True))
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(GiftCard.id)).where(GiftCard.network_id.is_not(None))) == 0


# --- The till and the API ---------------------------------------------------------------------


def test_the_till_refuses_a_card_of_a_network_it_is_not_in_and_changes_nothing(app, till, mall):
    """At Corner Café (not in the mall), does the look-up name the network rule and offer no Apply?"""
    code = mall_card(app, mall)
    before = state(app)
    till.open()
    till.look_up(code, total="4.00")
    assert OUT_OF_NETWORK in text(till.html)
    assert 'action="/till/apply"' not in till.html
    assert state(app) == before


def test_a_member_of_the_network_takes_its_card(app, mall):
    """Does staff at The Book Nook (in the mall) take the card, and verify stay clean?"""
    add_store(app, "mall-shop", "Mall Shop", staff="shop@example.com")
    with app.app_context():
        add_merchant(db.session, db.session.get(Network, mall), "mall-shop", actor=SYSTEM)
        db.session.commit()
    code = mall_card(app, mall)
    till = Till(app.test_client())
    AuthActions(till.client).login("shop@example.com")
    till.open()
    till.look_up(code, total="4.00")
    till.apply()
    with app.app_context():
        card = db.session.scalar(sa.select(GiftCard).where(GiftCard.network_id == mall))
        assert card.account.balance == 600
        assert verify(db.session) == []


def test_the_api_says_a_network_card_is_not_valid_here_and_refuses_to_redeem_it(app, api, mall):
    """Do the look-up and the redemption both answer not_valid_here with the rule, moving nothing?"""
    code = mall_card(app, mall, "25.00")
    body = api.lookup(code).json
    assert body["valid_here"] is False
    assert body["not_valid_reason"] == {"code": "not_valid_here", "message": OUT_OF_NETWORK}
    before = state(app)
    response = api.redeem(code, {"amount": "1.00"})
    assert response.status_code == 422
    assert response.json["code"] == "not_valid_here" and response.json["detail"] == OUT_OF_NETWORK
    assert state(app) == before


def test_the_history_of_a_card_of_another_network_is_not_shown_to_staff(app, api, mall):
    card_id = api.card_id(mall_card(app, mall))
    assert api.get(f"/cards/{card_id}/transactions").status_code == 404


def test_the_customer_and_the_balance_page_see_where_a_network_card_works(app, client, auth, people, mall):
    """Do the wallet and the public balance check say the card works only in its network?"""
    code = mall_card(app, mall, owner=people["customer"])
    checked = submit(client, "/balance", {"code": code})
    assert "only at merchants of the Riverside Mall network" in text(checked.get_data(as_text=True))
    auth.login(people["customer"])
    assert "Only at merchants of the Riverside Mall network" in text(client.get("/wallet/").get_data(as_text=True))


def test_a_merchant_taken_out_of_a_network_no_longer_takes_its_cards(app, mall):
    from portal.cards.operations import redeem
    from portal.errors import NotValidHere
    from portal.ledger import Actor
    from portal.money import Money
    from portal.networks import remove_merchant

    code = mall_card(app, mall)
    with app.app_context():
        remove_merchant(db.session, db.session.get(Network, mall), "deli-two", actor=SYSTEM)
        db.session.commit()
        deli = merchant_by_slug("deli-two")
        card = db.session.scalar(sa.select(GiftCard).where(GiftCard.id == card_row(app, code).id))
        with pytest.raises(NotValidHere, match="Deli Two is not part of it"):
            redeem(db.session, card, Money.parse("1.00", "USD"), actor=Actor(merchant_id=deli.id),
                   idempotency_key="k", merchant=deli)


# --- Campaigns ---------------------------------------------------------------------------------


def test_a_gift_card_campaign_scoped_to_a_network_issues_cards_of_that_network(app, admin, mall):
    """Does a campaign made on the page with a network give its cards that network?"""
    page = "/admin/campaigns/new?kind=gift_card"
    assert "Network" in admin.get(page).get_data(as_text=True)
    response = submit(admin, "/admin/campaigns/new", {
        "name": "Mall opening", "kind": "gift_card", "currency": "USD", "value": "5.00", "network": str(mall),
        "quantity": "3",
    }, page=page)
    assert response.status_code == 303
    with app.app_context():
        networks = db.session.scalars(sa.select(GiftCard.network_id)).all()
        assert networks == [mall, mall, mall]


def test_a_campaign_names_one_merchant_or_one_network_not_both(app, admin, mall):
    page = "/admin/campaigns/new?kind=gift_card"
    response = submit(admin, "/admin/campaigns/new", {
        "name": "Both", "kind": "gift_card", "currency": "USD", "value": "5.00", "network": str(mall),
        "merchants": "book-nook",
    }, page=page)
    assert response.status_code == 422
    assert "A gift card works at one merchant or in one network: choose one of them" in text(response.get_data(as_text=True))
    with app.app_context():
        from portal.models import Campaign

        assert db.session.scalar(sa.select(sa.func.count(Campaign.id))) == 0


# --- Reports ---------------------------------------------------------------------------------


def test_the_settlement_shows_what_was_accepted_from_cards_other_issuers_sold(app, till, mall):
    """At Corner Café: a card sold network-wide by The Book Nook and a programme card are listed by
    issuer; a card Corner Café sold itself is not."""
    from portal.merchants import by_slug

    with app.app_context():
        by_slug(db.session, "book-nook").sells_network_cards = True
        by_slug(db.session, "corner-cafe").sells_network_cards = True
        db.session.commit()
    nook_card, _ = issue(app, merchant="book-nook")
    own_card, _ = issue(app, merchant="corner-cafe")
    programme_card, _ = issue(app)
    pay_at_till(app, nook_card, "4.00")
    pay_at_till(app, own_card, "3.00")
    pay_at_till(app, programme_card, "2.50")
    page = text(till.client.get("/till/reports").get_data(as_text=True))
    assert "Accepted from cards other issuers sold" in page
    assert "The Book Nook 1 4.00 USD 0.00 USD 4.00 USD" in page
    assert "Giftloop (campaigns, the shop, Loops) 1 2.50 USD 0.00 USD 2.50 USD" in page
    assert "Corner Café 1" not in page
    day = utcnow().date().isoformat()
    download = till.client.get(f"/till/reports/issuers.csv?from={day}&to={day}")
    assert download.headers["Content-Disposition"] == f'attachment; filename="corner-cafe-issuers-{day}-to-{day}.csv"'
    assert [(row["issuer"], row["net"]) for row in csv.DictReader(io.StringIO(download.get_data(as_text=True)))] == [
        ("The Book Nook", "4.00"), ("Giftloop (campaigns, the shop, Loops)", "2.50"),
    ]


def test_an_admin_issues_a_network_card_through_the_api_and_staff_may_not(app, api, mall):
    """Does POST /cards with a network make a card of it (shown by name), and refuse staff, an
    unknown network and a merchant with a network, each with its reason and nothing issued?"""
    made = api.post("/cards", {"amount": "10.00", "currency": "USD", "network": mall}, role="admin")
    assert made.status_code == 201 and made.json["network"] == "Riverside Mall" and made.json["merchant"] is None
    assert api.lookup(made.json["code"], role="admin").json["network"] == "Riverside Mall"
    before = state(app)
    for body, role, message in [
        ({"amount": "10.00", "network": mall}, "merchant", "Only admins scope a card to a network"),
        ({"amount": "10.00", "currency": "USD", "network": 999}, "admin", "Choose one of the networks"),
        ({"amount": "10.00", "currency": "USD", "network": mall, "merchant": "book-nook"}, "admin",
         "A card works at one merchant or in one network: choose one of them"),
    ]:
        refused = api.post("/cards", body, role=role)
        assert refused.status_code == 422 and refused.json["detail"] == message
    assert state(app) == before

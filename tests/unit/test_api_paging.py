"""Paging (issue 23): every list of the API takes ``limit`` and an opaque ``cursor`` and answers
``next_cursor``; pages do not shift when items are added; the gift lists keep ``take`` and ``offset``."""

from __future__ import annotations

import pytest

from portal.api.paging import DEFAULT_LIMIT, MAX_LIMIT
from portal.extensions import db
from portal.gifts import create_gift, pay_gift
from portal.ledger import Actor
from portal.services import services
from tests.factories import add_credit, user
from tests.gifts import BUYER, FRIEND


def new_gifts(app, count: int) -> list[int]:
    """``count`` gifts the buyer bought (newest last), made and paid in the domain as the pages do."""
    add_credit(app, BUYER, f"{5 * count}.00")
    with app.app_context():
        buyer = user(BUYER)
        made = [
            create_gift(db.session, services().vault, buyer, subscription_identifier="plus", payment_method="wallet",
                        recipient_email=FRIEND)[0]
            for _ in range(count)
        ]
        for gift in made:
            pay_gift(db.session, services().vault, gift, actor=Actor(user_id=buyer.id), idempotency_key=f"pay-{gift.id}")
        db.session.commit()
        return [gift.id for gift in made]


def test_250_gifts_walk_in_pages_of_100_and_a_new_gift_shifts_nothing(app, gift_contract):
    made = new_gifts(app, 250)
    pages, cursor = [], None
    while True:
        answer = gift_contract.call("GET", "/gifts/sent", role="customer",
                               query={"limit": "100", **({"cursor": cursor} if cursor else {})}).json
        pages.append([gift["id"] for gift in answer["gifts"]])
        cursor = answer["next_cursor"]
        if len(pages) == 1:
            new_gifts(app, 1)  # bought while the program reads: not on a later page, nothing repeated
        if cursor is None:
            break
    assert [len(p) for p in pages] == [100, 100, 50]
    assert [gift_id for p in pages for gift_id in p] == sorted(made, reverse=True)


def test_take_and_offset_still_page_the_gift_lists(app, gift_contract):
    """take=1 answered every gift: it is limit's alias now; offset skips."""
    made = sorted(new_gifts(app, 6), reverse=True)
    one = gift_contract.call("GET", "/gifts/sent", role="customer", query={"take": "1"}).json
    assert [g["id"] for g in one["gifts"]] == made[:1] and one["next_cursor"]
    skipped = gift_contract.call("GET", "/gifts/sent", role="customer", query={"take": "2", "offset": "3"}).json
    assert [g["id"] for g in skipped["gifts"]] == made[3:5]
    assert len(gift_contract.call("GET", "/gifts/sent", role="customer").json["gifts"]) == min(6, DEFAULT_LIMIT)


@pytest.mark.parametrize("query, field", [
    ({"limit": "0"}, "limit"), ({"limit": str(MAX_LIMIT + 1)}, "limit"), ({"take": "x"}, "take"),
    ({"cursor": "not-a-cursor"}, "cursor"), ({"limit": "5", "take": "5"}, "take"), ({"cursor": "WzFd", "offset": "1"}, "offset"),
])
def test_a_bad_page_request_is_refused_naming_the_parameter(gift_contract, query, field):
    answer = gift_contract.call("GET", "/gifts/received", role="customer", query=query)
    assert (answer.status_code, answer.json["code"], answer.json["field"]) == (422, "validation_error", field)


@pytest.mark.parametrize("template", ["/me/cards", "/me/transactions", "/me/entitlements"])
def test_the_customers_lists_answer_a_next_cursor(gift_contract, template):
    answer = gift_contract.call("GET", template, role="customer", query={"limit": "1"})
    assert answer.status_code == 200 and "next_cursor" in answer.json

"""An API redemption on PostgreSQL is one call of giftloop_redeem that also takes the request's
key, finds an answer kept under it, finds the card by its code and keeps the answer (issue 24);
the answer, its replays and its refusals are the Python path's."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.auth.users import create_user
from portal.cards import operations
from portal.extensions import db
from portal.ledger import Actor, in_database
from portal.merchants import create_merchant
from portal.models import IdempotencyRecord, Transaction
from portal.money import Money
from portal.services import services
from portal.tokens import create_token

pytestmark = pytest.mark.postgres
PATHS = {"one call": {"postgresql"}, "python": set()}


@pytest.fixture
def till(pg_app):
    """Corner Café's till token and a 50.00 card of the café's."""
    with pg_app.app_context():
        cafe = create_merchant(db.session, "corner-cafe", "Corner Café")
        staff = create_user(db.session, "till@corner-cafe.test", "till password 1", role="merchant", merchant=cafe)
        _, token = create_token(db.session, staff, "till")
        issued = operations.issue_card(
            db.session, services().vault, amount=Money.parse("50.00", "USD"), actor=Actor(), idempotency_key="seed",
            merchant=cafe, scope_to_merchant=True,
        )
        db.session.commit()
        return pg_app, token, issued.code, issued.card.id


def _post(app, token: str, path: str, body: dict, key: str):
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    return app.test_client().post(f"/api/v1{path}", json=body, headers=headers)


def _statements(app, during) -> list[str]:
    sent = []

    def note(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        during()
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
    return sent


def test_a_redemption_by_code_sends_one_statement_of_its_own(till):
    app, token, code, _ = till
    _post(app, token, "/cards/redeem", {"code": code, "amount": "1.00"}, "warm")  # the token's look-up is cached
    sent = _statements(app, lambda: _post(app, token, "/cards/redeem", {"code": code, "amount": "1.00"}, "timed"))
    assert [s for s in sent if "giftloop_redeem" in s] == sent[:1], sent
    assert not [s for s in sent if "idempotency_records" in s or "gift_cards" in s or "advisory" in s], sent


def _answer(response) -> dict:
    """An answer without the ids and times that differ from one payment to the next."""
    body = dict(response.json)
    body["transaction"] = dict(body["transaction"], id=None, created_at=None)
    body["card"] = dict(body["card"], id=None, code_masked=None)
    return body


def test_both_paths_answer_replay_and_refuse_an_api_redemption_alike(till):
    app, token, code, card_id = till
    answers = {}
    for path in PATHS:
        in_database.IN_ONE_CALL = PATHS[path]
        try:
            first = _post(app, token, "/cards/redeem", {"code": code, "amount": "2.50", "reference": "r1"}, path)
            again = _post(app, token, "/cards/redeem", {"code": code, "amount": "2.50", "reference": "r1"}, path)
            other = _post(app, token, "/cards/redeem", {"code": code, "amount": "3.00"}, path)
            # The same key at the card's other address names the same payment in the ledger.
            by_id = _post(app, token, f"/cards/{card_id}/redeem", {"amount": "2.50", "reference": "r1"}, path)
            short = _post(app, token, "/cards/redeem", {"code": code, "amount": "500.00"}, f"{path} short")
            short_again = _post(app, token, "/cards/redeem", {"code": code, "amount": "500.00"}, f"{path} short")
        finally:
            in_database.IN_ONE_CALL = {"postgresql"}
        assert first.status_code == 200, first.json
        assert (again.status_code, again.data, again.headers["Idempotent-Replayed"]) == (200, first.data, "true")
        assert other.status_code == 422 and other.json["code"] == "idempotency_conflict"
        assert by_id.status_code == 200 and by_id.json["transaction"]["id"] == first.json["transaction"]["id"]
        assert short.status_code == 422 and short.json["code"] == "insufficient_funds"
        assert short_again.data == short.data and short_again.headers["Idempotent-Replayed"] == "true"
        answers[path] = _answer(first)
    # The one call paid first: its card answer has 2.50 more left than the Python path's.
    assert answers["one call"] == dict(answers["python"], card=dict(answers["python"]["card"], balance="47.50", available="47.50"))
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Transaction).where(Transaction.kind == "redeem")) == 2
        kept = db.session.scalars(sa.select(IdempotencyRecord).where(IdempotencyRecord.key == "one call")).all()
        by_scope = {r.scope.split()[-1]: (r.response_status, r.response_body is None, r.answer is not None) for r in kept}
        # The call kept the answer's values; the ledger's replay at the other address was sealed here.
        assert by_scope == {"/api/v1/cards/redeem": (200, True, True), "/api/v1/cards/<int:card_id>/redeem": (200, False, False)}


def test_an_unknown_code_is_a_miss_and_a_card_of_another_currency_gets_the_rules_words(till):
    app, token, code, _ = till
    missing = _post(app, token, "/cards/redeem", {"code": "GL-AAAA-BBBB-CCCC-DDDD", "amount": "1.00"}, "missing")
    assert missing.status_code in (404, 422), missing.json
    euros = _post(app, token, "/cards/redeem", {"code": code, "amount": "1.00", "currency": "EUR"}, "euros")
    assert euros.status_code == 422 and euros.json["code"] == "currency_mismatch", euros.json
    assert euros.json == _post(app, token, "/cards/redeem", {"code": code, "amount": "1.00", "currency": "EUR"}, "e").json


def test_a_programme_that_keeps_gift_cards_off_the_api_refuses_the_one_call_with_its_words(till):
    """The one call by code meets the programme's rule for gift cards first: nothing is paid, and
    the refusal is the rule's, on both paths."""
    from portal.ledger import SYSTEM
    from portal.programme import set_kind_rules

    app, token, code, card_id = till
    with app.app_context():
        set_kind_rules(db.session, SYSTEM, "gift_card", {"channels": ["till"], "roles": ["customer", "merchant", "admin"]})
        db.session.commit()
    for path in PATHS:
        in_database.IN_ONE_CALL = PATHS[path]
        try:
            refused = _post(app, token, "/cards/redeem", {"code": code, "amount": "1.00"}, f"{path} off the api")
        finally:
            in_database.IN_ONE_CALL = {"postgresql"}
        assert refused.status_code == 422 and refused.json["code"] == "not_valid_here", refused.json
        assert "through the API" in refused.json["detail"]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Transaction).where(Transaction.kind == "redeem")) == 0


def test_the_one_calls_card_answer_is_the_card_as_read_with_its_holds(till):
    """The card in a one-call answer (held, available, network) is the card a look-up reads."""
    app, token, code, _ = till
    assert _post(app, token, "/holds", {"code": code, "amount": "5.00"}, "hold").status_code == 201
    paid = _post(app, token, "/cards/redeem", {"code": code, "amount": "1.00"}, "after the hold")
    assert paid.status_code == 200, paid.json
    read = app.test_client().post("/api/v1/cards/lookup", json={"code": code}, headers={"Authorization": f"Bearer {token}"})
    assert paid.json["card"] == {k: v for k, v in read.json.items() if k in paid.json["card"]}
    assert (paid.json["card"]["held"], paid.json["card"]["available"]) == ("5.00", "44.00")

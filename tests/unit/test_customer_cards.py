"""The wallet and a card's own page: what the owner sees, live balance, QR code, the code itself."""

from __future__ import annotations

import re
import time

from portal.cards.codes import QrTokens
from tests.conftest import PASSWORD, TEST_SECRET, submit
from tests.factories import add_customer, expire, freeze_card, issue, pay_at_till
from tests.pages import HTMX, text


def test_the_wallet_lists_cards_most_urgent_first_each_linking_to_its_page(app, client, cara):
    """Does the wallet show usable cards first, soonest expiry first, each a link to its card page?"""
    later, _ = issue(app, owner=cara, amount="40.00")
    soon, _ = issue(app, owner=cara, amount="5.00", kind="promotional", days=10)
    gone, _ = issue(app, owner=cara, amount="7.00", kind="promotional", days=20)
    expire(app, gone)
    page = client.get("/wallet/").get_data(as_text=True)
    links = re.findall(r'href="/wallet/cards/(\d+)"', page)
    assert links == [str(soon), str(later), str(gone)]
    words = text(client.get("/wallet/"))
    assert "Expires in 9 days" in words or "Expires in 10 days" in words
    assert "Expired on" in words
    assert "Bronze tier" in words and "5000 more Loops to Silver" in words


def test_the_card_page_shows_balance_qr_code_and_masked_code_to_its_owner(app, client, cara):
    """Does the owner see the balance, a scannable QR code and only the masked code?"""
    card_id, code = issue(app, owner=cara, amount="25.00")
    response = client.get(f"/wallet/cards/{card_id}")
    assert response.status_code == 200
    words = text(response)
    assert "25.00 USD" in words
    assert "Valid until" in words
    html = response.get_data(as_text=True)
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in html and 'role="img"' in html
    assert code not in html
    assert "GC-••••-••••-••••-" + code[-6:] in html
    assert "Reveal code" in words


def test_someone_elses_card_is_as_missing_as_no_card(app, client, cara):
    """Does a customer get 404 for another's card and its fragments, exactly as for a card that isn't there?"""
    add_customer(app, "other@example.com")
    theirs, _ = issue(app, owner="other@example.com")
    bearer, _ = issue(app)
    for card_id in (theirs, bearer, 9999):
        for path in ("", "/balance", "/qr", "/code", "/history", "/print", "/topup"):
            assert client.get(f"/wallet/cards/{card_id}{path}", headers=HTMX).status_code == 404, path
        assert submit(client, f"/wallet/cards/{card_id}/reveal", {}, page="/wallet/").status_code == 404


def test_the_balance_fragment_answers_304_until_the_card_is_used_at_a_till(app, client, cara):
    """Does the polled balance cost a 304 while unchanged, and show the new balance after a redemption?"""
    card_id, _ = issue(app, owner=cara, amount="25.00")
    first = client.get(f"/wallet/cards/{card_id}/balance", headers=HTMX)
    assert first.status_code == 200 and first.headers["ETag"]
    assert "HX-Request" in first.headers["Vary"]
    etag = first.headers["ETag"]
    assert f'"If-None-Match": "\\"{etag.strip(chr(34))}\\""' in first.get_data(as_text=True)

    unchanged = client.get(f"/wallet/cards/{card_id}/balance", headers={**HTMX, "If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.get_data() == b""

    pay_at_till(app, card_id, "7.50")
    changed = client.get(f"/wallet/cards/{card_id}/balance", headers={**HTMX, "If-None-Match": etag})
    assert changed.status_code == 200
    assert "17.50 USD" in text(changed)
    assert changed.headers["ETag"] != etag
    assert changed.headers["HX-Trigger"] == "card-changed"


def test_a_plain_request_for_a_fragment_goes_to_the_card_page(app, client, cara):
    """Does every fragment URL still work without htmx, by sending the browser to the card page?"""
    card_id, _ = issue(app, owner=cara)
    for path in ("/balance", "/qr", "/code", "/history"):
        response = client.get(f"/wallet/cards/{card_id}{path}")
        assert response.status_code == 302
        assert response.headers["Location"].endswith(f"/wallet/cards/{card_id}")


def test_the_qr_fragment_carries_this_minutes_token_for_the_card(app, client, cara):
    """Is the QR fragment refreshed just after the minute turns, and gone for a card that can't pay?"""
    card_id, _ = issue(app, owner=cara)
    fragment = client.get(f"/wallet/cards/{card_id}/qr", headers=HTMX)
    html = fragment.get_data(as_text=True)
    assert fragment.headers["Cache-Control"] == "no-store"
    delay = int(re.search(r"load delay:(\d+)s", html).group(1))
    assert 1 <= delay <= 61
    assert "<svg" in html
    # The token itself is checked end to end by the browser test, which decodes the QR image.
    assert QrTokens(TEST_SECRET).resolve(QrTokens(TEST_SECRET).issue(card_id)) == card_id

    freeze_card(app, card_id)
    frozen = client.get(f"/wallet/cards/{card_id}/qr", headers=HTMX)
    assert "<svg" not in frozen.get_data(as_text=True)
    assert "This card is frozen" in text(frozen)


def test_an_expired_card_says_when_it_expired_and_offers_no_qr_or_top_up(app, client, cara):
    """Does an expired card say "expired on …" and hide the QR code and the top-up?"""
    card_id, _ = issue(app, owner=cara, kind="promotional", days=30)
    expire(app, card_id)
    words = text(client.get(f"/wallet/cards/{card_id}"))
    assert re.search(r"This card expired on \d{1,2} \w+ \d{4}", words)
    assert "Top up this card" not in words
    assert "<svg" not in client.get(f"/wallet/cards/{card_id}").get_data(as_text=True)


def test_history_lists_what_happened_newest_first(app, client, cara):
    """Does the history show the issue and each payment with where it was made?"""
    card_id, _ = issue(app, owner=cara, amount="25.00")
    pay_at_till(app, card_id, "3.00")
    pay_at_till(app, card_id, "5.00")
    words = text(client.get(f"/wallet/cards/{card_id}"))
    history = words[words.index("History"):]
    assert history.index("Paid at Corner Café") < history.index("Card issued")
    assert "-5.00 USD" in history and "-3.00 USD" in history and "+25.00 USD" in history


def test_revealing_the_code_within_ten_minutes_of_sign_in_shows_it_uncached(app, client, cara):
    """Does a fresh session see the full code at once, with Cache-Control: no-store?"""
    card_id, code = issue(app, owner=cara)
    response = submit(client, f"/wallet/cards/{card_id}/reveal", {}, page=f"/wallet/cards/{card_id}", headers=HTMX)
    assert response.status_code == 200
    assert code in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    hidden = client.get(f"/wallet/cards/{card_id}/code", headers=HTMX)
    assert code not in hidden.get_data(as_text=True) and "Reveal code" in text(hidden)


def _age_session(client, seconds: int = 11 * 60) -> None:
    with client.session_transaction() as session:
        session["signed_in_at"] = time.time() - seconds


def test_an_old_session_must_type_the_password_again_to_reveal(app, client, cara):
    """After ten minutes, is the password asked again, a wrong one refused, the right one accepted?"""
    card_id, code = issue(app, owner=cara)
    _age_session(client)
    page = f"/wallet/cards/{card_id}"
    asked = submit(client, f"{page}/reveal", {}, page=page, headers=HTMX)
    assert asked.status_code == 200
    assert code not in asked.get_data(as_text=True)
    assert "enter your password again" in text(asked)

    wrong = submit(client, f"{page}/reveal", {"password": "not my password"}, page=page, headers=HTMX)
    assert wrong.status_code == 422
    assert "That password is not right" in text(wrong)
    assert code not in wrong.get_data(as_text=True)

    right = submit(client, f"{page}/reveal", {"password": PASSWORD}, page=page, headers=HTMX)
    assert right.status_code == 200 and code in right.get_data(as_text=True)
    assert right.headers["Cache-Control"] == "no-store"
    # The fresh ten minutes start again: no password for the next reveal.
    again = submit(client, f"{page}/reveal", {}, page=page, headers=HTMX)
    assert code in again.get_data(as_text=True)


def test_the_reveal_works_without_javascript_as_a_page(app, client, cara):
    """Does a plain form post to reveal give a whole page with the code?"""
    card_id, code = issue(app, owner=cara)
    response = submit(client, f"/wallet/cards/{card_id}/reveal", {}, page=f"/wallet/cards/{card_id}")
    html = response.get_data(as_text=True)
    assert "<html" in html and code in html and "Back to the card" in html


def test_the_printable_card_shows_the_plain_code_and_its_qr_code(app, client, cara):
    """Does the owner get a printable page with the full code and a QR code, not cached?"""
    card_id, code = issue(app, owner=cara, amount="30.00")
    response = client.get(f"/wallet/cards/{card_id}/print")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert code in html and "qr-print" in html and "30.00 USD" in html
    assert response.headers["Cache-Control"] == "no-store"


def test_the_printable_card_asks_for_the_password_in_an_old_session(app, client, cara):
    """With an old session, is the password asked first, and then the printable card shown?"""
    card_id, code = issue(app, owner=cara)
    _age_session(client)
    asked = client.get(f"/wallet/cards/{card_id}/print")
    assert code not in asked.get_data(as_text=True)
    assert 'name="then" value="print"' in asked.get_data(as_text=True)
    confirmed = submit(
        client, f"/wallet/cards/{card_id}/reveal", {"password": PASSWORD, "then": "print"}, page="/wallet/"
    )
    assert confirmed.status_code == 303
    assert confirmed.headers["Location"].endswith(f"/wallet/cards/{card_id}/print")
    assert code in client.get(f"/wallet/cards/{card_id}/print").get_data(as_text=True)


def test_wrong_passwords_at_reveal_count_towards_the_sign_in_lock(app, client, cara):
    """Can the reveal form be used to guess a password? (No: it locks like sign-in does.)"""
    card_id, code = issue(app, owner=cara)
    _age_session(client)
    page = f"/wallet/cards/{card_id}"
    statuses = [
        submit(client, f"{page}/reveal", {"password": f"guess {n}"}, page=page, headers=HTMX).status_code
        for n in range(12)
    ]
    assert statuses[-1] == 429
    locked = submit(client, f"{page}/reveal", {"password": PASSWORD}, page=page, headers=HTMX)
    assert locked.status_code == 429 and code not in locked.get_data(as_text=True)
    assert "Too many wrong passwords" in text(locked)

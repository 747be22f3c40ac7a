"""Reports at the till: totals per kind, settlement for network-wide cards, CSV of both."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from portal.models import utcnow
from tests.factories import make_card
from tests.pages import pay, text


def rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_totals_per_kind_count_what_happened_at_this_counter(app, till):
    """Two payments and a sale today: are they counted and summed by kind?"""
    pay(till, make_card(app, "10.00"), "4.00")
    pay(till, make_card(app, "10.00"), "2.50")
    till.open("/till/sell")
    till.send("/till/sell", **{"sell-amount": "20.00"})
    page = text(till.client.get("/till/reports").get_data(as_text=True))
    assert "Card payment 2 6.50 USD" in page
    assert "Card sold 1 20.00 USD" in page


def test_settlement_counts_network_cards_only_and_subtracts_undos(app, till):
    """Is the store owed for network-wide cards taken here, less undos, but not for its own cards?"""
    network = make_card(app, "10.00")
    own = make_card(app, "10.00", merchant="corner-cafe")
    pay(till, network, "4.00")
    number = pay(till, make_card(app, "10.00"), "1.50")
    pay(till, own, "3.00")
    till.open(f"/till/transactions/{number}/undo")
    till.htmx = False
    till.send(f"/till/transactions/{number}/undo", **{f"undo-{number}-reason": "Wrong card"})
    page = text(till.client.get("/till/reports").get_data(as_text=True))
    assert "Owed for this period: 4.00 USD" in page
    assert "Total 2 5.50 USD 1.50 USD 4.00 USD" in page


def test_reports_download_as_csv(app, till):
    """Do both CSVs carry the same numbers as the page, as attachments?"""
    pay(till, make_card(app, "10.00"), "4.00")
    day = utcnow().date().isoformat()
    totals = till.client.get(f"/till/reports/totals.csv?from={day}&to={day}")
    assert totals.mimetype == "text/csv"
    assert totals.headers["Content-Disposition"] == f'attachment; filename="corner-cafe-totals-{day}-to-{day}.csv"'
    assert {"kind": "redeem", "count": "1", "amount": "4.00", "currency": "USD"}.items() <= rows(totals)[0].items()
    settlement = till.client.get(f"/till/reports/settlement.csv?from={day}&to={day}")
    assert rows(settlement) == [
        {"merchant": "corner-cafe", "day": day, "payments": "1", "redeemed": "4.00", "undone": "0.00", "owed": "4.00", "currency": "USD"}
    ]


def test_a_period_outside_the_days_with_activity_is_empty(app, till):
    """Does a period before today show nothing?"""
    pay(till, make_card(app, "10.00"), "4.00")
    last_week = (utcnow().date() - timedelta(days=7)).isoformat()
    page = text(till.client.get(f"/till/reports?from={last_week}&to={last_week}").get_data(as_text=True))
    assert "No transactions in this period" in page and "Owed for this period: 0.00 USD" in page


def test_a_bad_period_is_explained(app, till):
    """Do a malformed date and a reversed period get a message and 422 (and the CSV a 400)?"""
    response = till.client.get("/till/reports?from=yesterday")
    assert response.status_code == 422
    assert "Give the first date as year-month-day" in text(response.get_data(as_text=True))
    response = till.client.get("/till/reports?from=2025-03-02&to=2025-03-01")
    assert response.status_code == 422 and "The first date must not be after the last" in text(response.get_data(as_text=True))
    assert till.client.get("/till/reports/totals.csv?from=2025-03-02&to=2025-03-01").status_code == 400


def test_a_spreadsheet_formula_cannot_hide_in_a_csv_cell():
    """Is text a spreadsheet would run as a formula quoted, while negative numbers stay numbers?"""
    from portal.spreadsheets import safe_cell

    assert safe_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell("-1.50") == "-1.50"
    assert safe_cell("-cmd") == "'-cmd"


def test_every_csv_download_is_written_safe_to_open():
    """Do streamed downloads (a campaign's codes) quote formulas as the reports do?"""
    from portal.spreadsheets import csv_chunks

    text = "".join(csv_chunks([["code", "note"], ["GC-1", "=cmd|' /C calc'!A0"], ["GC-2", "-2.00"]], lines=1))
    assert text.splitlines() == ["code,note", "GC-1,'=cmd|' /C calc'!A0", "GC-2,-2.00"]

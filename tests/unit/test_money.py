"""Money: exact minor units, strict and explained parsing, plain formatting."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.errors import ValidationError
from portal.money import EXPONENTS, MAX_MAJOR, Money, exponent, format_minor


def refusal(value, currency="USD") -> str:
    """The message a user sees when the amount is refused."""
    with pytest.raises(ValidationError) as info:
        Money.parse(value, currency)
    assert info.value.field == "amount"
    return info.value.message


def test_currencies_know_their_minor_unit_digits():
    assert exponent("USD") == 2
    assert exponent("jpy") == 0
    assert exponent(" krw ") == 0
    assert exponent("BHD") == 3
    assert exponent("KWD") == 3
    assert exponent("LOOP") == 0
    assert {"EUR", "GBP", "CAD", "AUD", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK"} <= EXPONENTS.keys()


def test_an_unknown_currency_is_refused_by_name():
    with pytest.raises(ValidationError) as info:
        exponent("xyz")
    assert info.value.message == "Unknown currency XYZ"
    assert info.value.field == "currency"
    with pytest.raises(ValidationError, match="Unknown currency XYZ"):
        Money.parse("1", "xyz")


def test_a_typed_amount_becomes_exact_minor_units():
    assert Money.parse("12.50", "USD") == Money(1250, "USD")
    assert Money.parse("12.5", "USD") == Money(1250, "USD")
    assert Money.parse("12", "usd") == Money(1200, "USD")
    assert Money.parse("  7.05\n", "EUR") == Money(705, "EUR")
    assert Money.parse("0.01", "USD") == Money(1, "USD")
    assert Money.parse("1500", "JPY") == Money(1500, "JPY")
    assert Money.parse("1.234", "BHD") == Money(1234, "BHD")
    assert Money.parse("420", "LOOP") == Money(420, "LOOP")


def test_ints_floats_and_decimals_are_read_by_their_written_digits():
    assert Money.parse(12, "USD") == Money(1200, "USD")
    assert Money.parse(0.1, "USD") == Money(10, "USD")  # not 10.000000000000000555
    assert Money.parse(19.99, "USD") == Money(1999, "USD")
    assert Money.parse(Decimal("12.5"), "USD") == Money(1250, "USD")
    assert Money.parse(Decimal("1E+3"), "JPY") == Money(1000, "JPY")


def test_a_jpy_amount_with_decimals_is_refused_with_a_reason():
    assert refusal("1500.5", "JPY") == "JPY amounts are whole numbers"
    assert refusal("1500.0", "JPY") == "JPY amounts are whole numbers"
    assert refusal(1.5, "JPY") == "JPY amounts are whole numbers"


def test_loops_with_decimals_are_refused_as_whole_numbers():
    assert refusal("10.5", "LOOP") == "Loops are whole numbers"


def test_more_decimal_places_than_the_currency_has_is_refused():
    assert refusal("12.505") == "USD amounts have at most 2 decimal places"
    assert refusal("12.500") == "USD amounts have at most 2 decimal places"
    assert refusal(0.001) == "USD amounts have at most 2 decimal places"
    assert refusal(Decimal("0.125"), "EUR") == "EUR amounts have at most 2 decimal places"
    assert refusal("1.2345", "KWD") == "KWD amounts have at most 3 decimal places"


def test_zero_and_negative_amounts_are_refused():
    for value in ("0", "0.00", "-0", "-5", "-0.01", 0, -3, -0.0, Decimal("-1")):
        assert refusal(value) == "The amount must be more than zero"


def test_an_absurd_amount_is_refused_with_the_limit():
    assert refusal("1000000.01") == "The amount is too large (at most 1,000,000.00 USD)"
    assert refusal(10**30) == "The amount is too large (at most 1,000,000.00 USD)"
    assert refusal("9" * 5000) == "The amount is too large (at most 1,000,000.00 USD)"
    assert refusal("1000001", "JPY") == "The amount is too large (at most 1,000,000 JPY)"
    assert refusal("1000001", "LOOP") == "The amount is too large (at most 1,000,000 Loops)"
    assert Money.parse("1000000", "USD") == Money(MAX_MAJOR * 100, "USD")


def test_an_empty_amount_asks_for_one():
    assert refusal("") == "Please enter an amount"
    assert refusal("   ") == "Please enter an amount"


def test_words_and_garbage_are_refused_as_not_a_number():
    for value in ("abc", "12.5.0", "12a", "$12", ".", "-", "١٢", None, [12], True, False):
        assert refusal(value) == "The amount must be a number, like 12.50"
    assert refusal("ten", "JPY") == "The amount must be a number, like 1500"


def test_nan_and_infinity_are_refused():
    for value in ("NaN", "nan", "Infinity", "-inf", "inf", float("nan"), float("inf"), Decimal("NaN")):
        assert refusal(value) == "The amount must be a number, like 12.50"


def test_exponent_notation_is_refused():
    for value in ("1e3", "1E3", "1.5e2", "2e-2"):
        assert refusal(value) == "Please write the amount out in full, like 12.50 (no exponent notation)"


def test_thousands_separators_and_decimal_commas_are_refused():
    for value in ("1,000", "1,000.00", "1 000", "12,50", "1_000", "1'000"):
        assert refusal(value) == "Please use a dot for decimals and no thousands separators, like 12.50"


def test_a_plus_sign_is_refused():
    assert refusal("+5") == "Please leave out the + sign"


def test_amounts_print_as_plain_decimals_and_display_with_their_unit():
    assert str(Money(1250, "USD")) == "12.50"
    assert str(Money(5, "USD")) == "0.05"
    assert str(Money(-5, "USD")) == "-0.05"
    assert str(Money(1500, "JPY")) == "1500"
    assert str(Money(420, "LOOP")) == "420"
    assert str(Money(1234, "BHD")) == "1.234"
    assert Money(1250, "USD").display() == "12.50 USD"
    assert Money(420, "LOOP").display() == "420 Loops"
    assert Money(1, "LOOP").display() == "1 Loop"
    assert Money(0, "LOOP").display() == "0 Loops"
    assert format_minor(123456789, "USD", grouping=True) == "1,234,567.89"


def test_money_adds_and_compares_only_within_one_currency():
    a, b = Money(1000, "USD"), Money(250, "usd")
    assert a + b == Money(1250, "USD")
    assert a - b == Money(750, "USD")
    assert b - a == Money(-750, "USD")
    assert -a == Money(-1000, "USD")
    assert b < a and a > b and a >= a and b <= a
    assert Money.zero("EUR") == Money(0, "EUR")
    assert sorted([a, b, Money.zero("USD")]) == [Money(0, "USD"), b, a]
    with pytest.raises(ValueError):
        a + Money(1, "EUR")
    with pytest.raises(ValueError):
        a - Money(1, "EUR")
    with pytest.raises(ValueError):
        a < Money(1, "EUR")
    assert Money(1, "USD") != Money(1, "EUR")


def test_money_cannot_be_built_from_a_float():
    with pytest.raises(TypeError):
        Money(12.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(True, "USD")  # type: ignore[arg-type]


@st.composite
def amounts(draw):
    currency = draw(st.sampled_from(sorted(EXPONENTS)))
    minor = draw(st.integers(min_value=1, max_value=MAX_MAJOR * 10 ** EXPONENTS[currency]))
    return Money(minor, currency)


@given(amounts())
def test_formatting_and_parsing_round_trip(money):
    assert Money.parse(str(money), money.currency) == money
    assert Money.parse(f"  {money}  ", money.currency.lower()) == money


@given(amounts(), amounts())
def test_addition_is_exact(a, b):
    if a.currency == b.currency:
        assert (a + b).minor == a.minor + b.minor
        assert a + b - b == a


def test_amounts_show_grouped_in_the_display_locale():
    """A million reads as one: "1,000,052.00 USD", in every currency's own decimals; Loops stay a count."""
    from portal.money import Money

    assert Money(100_005_200, "USD").display() == "1,000,052.00 USD"
    assert Money(-25_000, "USD").display() == "-250.00 USD"
    assert Money(1_500, "JPY").display() == "1,500 JPY"
    assert Money(1_234_567, "KWD").display() == "1,234.567 KWD"
    assert Money(2_000, "LOOP").display() == "2000 Loops"

"""Hypothesis against the parsers every channel trusts: any text or JSON value either reads as a
well-formed result or is refused with a ValidationError, never another exception."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.cards.codes import ALPHABET, CARD_CODE_RE, QrTokens, is_card_code, normalise
from portal.cards.transfers import normalise_claim_code
from portal.errors import ValidationError
from portal.money import EXPONENTS, MAX_MAJOR, Money

CURRENCIES = st.sampled_from(sorted(EXPONENTS))
CODE_LIKE = st.text(alphabet=ALPHABET + ALPHABET.lower() + "GCOILU -_\u2013\u00a0ß\u0131\u212a", max_size=40)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.decimals(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)


@settings(max_examples=2000)
@given(st.one_of(st.text(max_size=100), CODE_LIKE))
def test_any_text_is_a_canonical_card_code_or_a_plain_refusal(text):
    try:
        code = normalise(text)
    except ValidationError as error:
        assert error.field == "code" and error.message
        assert not is_card_code(text)
        return
    assert CARD_CODE_RE.fullmatch(code)
    assert normalise(code) == code and normalise(code.lower()) == code


@settings(max_examples=1000)
@given(st.one_of(st.text(max_size=60), CODE_LIKE))
def test_any_text_is_a_claim_code_or_a_plain_refusal(text):
    try:
        code = normalise_claim_code(text)
    except ValidationError as error:
        assert error.message
        return
    assert normalise_claim_code(code) == code


@settings(max_examples=1000)
@given(st.text(max_size=80))
def test_no_text_resolves_as_a_qr_token_without_the_key(text):
    assert QrTokens("a key of the portal").resolve(text) is None


@settings(max_examples=3000)
@given(st.one_of(JSON_VALUES, st.text(alphabet="0123456789.,-+eE _'", max_size=30)), CURRENCIES)
def test_any_value_is_an_exact_positive_amount_or_a_plain_refusal(value, currency):
    try:
        money = Money.parse(value, currency)
    except ValidationError as error:
        assert error.field == "amount" and error.message
        return
    assert type(money.minor) is int and 0 < money.minor <= MAX_MAJOR * 10 ** EXPONENTS[currency]
    assert Money.parse(str(money), currency) == money


@settings(max_examples=2000)
@given(CURRENCIES, st.integers(min_value=1, max_value=MAX_MAJOR * 1000))
def test_every_amount_printed_reads_back_to_the_same_minor_units(currency, minor):
    money = Money(min(minor, MAX_MAJOR * 10 ** EXPONENTS[currency]), currency)
    assert Money.parse(str(money), currency) == money
    assert Money.parse(Decimal(str(money)), currency) == money

"""Money as an integer count of minor units in one currency; no float ever holds money."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import total_ordering

from babel.numbers import format_decimal

from portal.errors import ValidationError

# ISO 4217 minor-unit digits for the currencies we expect, plus Loops (our own points currency).
EXPONENTS: dict[str, int] = {
    "USD": 2, "EUR": 2, "GBP": 2, "CAD": 2, "AUD": 2, "NZD": 2, "CHF": 2, "SEK": 2, "NOK": 2,
    "DKK": 2, "PLN": 2, "CZK": 2, "HUF": 2, "RON": 2, "BGN": 2, "TRY": 2, "ILS": 2, "ZAR": 2,
    "MXN": 2, "BRL": 2, "ARS": 2, "COP": 2, "CNY": 2, "HKD": 2, "SGD": 2, "TWD": 2, "INR": 2,
    "THB": 2, "MYR": 2, "IDR": 2, "PHP": 2, "AED": 2, "SAR": 2, "QAR": 2,
    "JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "PYG": 0, "UGX": 0, "XOF": 0, "XAF": 0,
    "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "IQD": 3, "LYD": 3,
    "LOOP": 0,
}

# The locale amounts are shown in (grouping and decimal signs): one place to change it.
DISPLAY_LOCALE = "en_US"
MAX_MAJOR = 1_000_000  # largest accepted amount in major units: bigger is a typo or an attack
MAX_TEXT = 40  # characters of a typed amount past which only plain digits are read

_NUMBER = re.compile(r"-?[0-9]*(?:\.[0-9]*)?", re.ASCII)
_NOT_FINITE = re.compile(r"[+-]?(?:s?nan|inf|infinity)", re.IGNORECASE)
_EXPONENT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+", re.ASCII)
# Digits mixed with the characters people use to group thousands (or as a decimal comma).
_GROUPED = re.compile(r"[+-]?[0-9][0-9.,'_ \u00a0\u202f]*[,'_ \u00a0\u202f][0-9.,'_ \u00a0\u202f]*")


def exponent(currency: str) -> int:
    """Number of decimal digits of the currency's minor unit."""
    code = currency.strip().upper() if isinstance(currency, str) else ""
    try:
        return EXPONENTS[code]
    except KeyError:
        raise ValidationError(f"Unknown currency {code or repr(currency)}", field="currency") from None


def format_minor(minor: int, currency: str, *, grouping: bool = False) -> str:
    """Plain decimal string for a minor-unit count: 1250 USD -> "12.50", 1500 JPY -> "1500"."""
    exp = exponent(currency)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**exp)
    whole_text = f"{whole:,}" if grouping else str(whole)
    return f"{sign}{whole_text}.{frac:0{exp}d}" if exp else f"{sign}{whole_text}"


def _unit(minor: int, currency: str) -> str:
    """Unit word after an amount: the ISO code, or Loop/Loops for points."""
    if currency == "LOOP":
        return "Loop" if abs(minor) == 1 else "Loops"
    return currency


def _example(exp: int) -> str:
    """An example amount in the currency's own shape, for error messages."""
    return "12." + "50".ljust(exp, "0")[:exp] if exp else "1500"


def _refuse(message: str) -> ValidationError:
    return ValidationError(message, field="amount")


def _text_to_decimal(text: str, exp: int) -> Decimal:
    """Read a typed amount, refusing every shape but plain digits with an optional dot."""
    text = text.strip()
    if not text:
        raise _refuse("Please enter an amount")
    if len(text) > MAX_TEXT:
        # Kept from the patterns below, which take quadratic time on a long run of digits: plain
        # digits are read (and refused as too large), anything else is not a number.
        if text.isascii() and text.replace(".", "", 1).isdigit():
            return Decimal(text)
        raise _refuse(f"The amount must be a number, like {_example(exp)}")
    if _NOT_FINITE.fullmatch(text):
        raise _refuse(f"The amount must be a number, like {_example(exp)}")
    if _EXPONENT.fullmatch(text):
        raise _refuse(f"Please write the amount out in full, like {_example(exp)} (no exponent notation)")
    if _GROUPED.fullmatch(text):
        raise _refuse(
            f"Please use a dot for decimals and no thousands separators, like {_example(exp)}"
        )
    if text.startswith("+"):
        raise _refuse("Please leave out the + sign")
    if not _NUMBER.fullmatch(text) or not any(c.isdigit() for c in text):
        raise _refuse(f"The amount must be a number, like {_example(exp)}")
    return Decimal(text)


def _to_decimal(value: object, exp: int) -> Decimal:
    """Turn any accepted input type into an exact Decimal (floats via their shortest repr)."""
    if isinstance(value, bool):  # bool is an int subclass; True is not "1.00"
        raise _refuse(f"The amount must be a number, like {_example(exp)}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # repr gives the shortest string that round-trips, so 0.1 reads as "0.1", not 0.1000000000000000055…
        value = Decimal(repr(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise _refuse(f"The amount must be a number, like {_example(exp)}")
        return value
    if isinstance(value, str):
        return _text_to_decimal(value, exp)
    raise _refuse(f"The amount must be a number, like {_example(exp)}")


@total_ordering
@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: integer minor units (cents, yen, Loops) of one currency."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.minor) is not int:  # floats, bools and Decimals must go through parse()
            raise TypeError(f"Money.minor must be an int, not {type(self.minor).__name__}")
        exponent(self.currency)
        object.__setattr__(self, "currency", self.currency.strip().upper())

    @classmethod
    def parse(cls, value: object, currency: str) -> Money:
        """Read a positive amount in major units ("12.50", 12, Decimal("12.5")) or refuse with a reason."""
        exp = exponent(currency)
        code = currency.strip().upper()
        amount = _to_decimal(value, exp)
        if amount.is_signed() or amount == 0:  # is_signed also catches "-0"
            raise _refuse("The amount must be more than zero")
        if amount.as_tuple().exponent < -exp:  # type: ignore[operator]  # finite, so an int
            if exp == 0:
                raise _refuse("Loops are whole numbers" if code == "LOOP" else f"{code} amounts are whole numbers")
            raise _refuse(f"{code} amounts have at most {exp} decimal place{'s' if exp != 1 else ''}")
        limit = MAX_MAJOR * 10**exp
        if amount > MAX_MAJOR:
            raise _refuse(
                f"The amount is too large (at most {format_minor(limit, code, grouping=True)} {_unit(limit, code)})"
            )
        try:
            minor = int(amount.scaleb(exp))  # exact: at most exp decimals and at most 1e6, well within precision
        except InvalidOperation:  # pragma: no cover - ruled out by the checks above
            raise _refuse(f"The amount must be a number, like {_example(exp)}") from None
        return cls(minor, code)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Nothing, in the given currency."""
        return cls(0, currency)

    def _same(self, other: Money, verb: str) -> None:
        if self.currency != other.currency:
            raise ValueError(f"Cannot {verb} {other.currency} and {self.currency}")

    def __add__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, "add")
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, "subtract")
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, "compare")
        return self.minor < other.minor

    def __str__(self) -> str:
        return format_minor(self.minor, self.currency)

    def display(self) -> str:
        """Human form with the unit, thousands grouped in ``DISPLAY_LOCALE``'s way: "1,000,052.00 USD",
        "420 Loops", "1 Loop". Loops are a count, not an amount: shown as counted."""
        if self.currency == "LOOP":
            return f"{self} {_unit(self.minor, self.currency)}"
        exp = exponent(self.currency)
        pattern = "#,##0" + ("." + "0" * exp if exp else "")
        amount = Decimal(self.minor).scaleb(-exp)
        return f"{format_decimal(amount, format=pattern, locale=DISPLAY_LOCALE)} {self.currency}"


def display(minor: int, currency: str) -> str:
    """``1250, "USD"`` → ``12.50 USD``; Loops read as Loops: how pages, e-mails and messages write an amount."""
    return Money(minor, currency).display()

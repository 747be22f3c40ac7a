"""The programme's rules per kind of code, set once by an admin (issue 27, seed 000): a new
campaign's default expiry and maximum uses, the channels codes of a kind may be redeemed through,
the roles that may redeem them; and the currencies the programme allows. No HTTP here.

``refuse_redemption`` is the one rule every channel's redemption runs (campaign codes through
``portal.campaigns.rules.check_use``, card payments through ``portal.cards.operations.redeem``);
``refuse_currency`` runs wherever a campaign or a card is created.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.errors import NotValidHere, ValidationError
from portal.kept import Kept
from portal.ledger import Actor, audit
from portal.models import User, utcnow
from portal.models.campaigns import CAMPAIGN_KINDS
from portal.models.programme import ProgrammeCurrency, ProgrammeKind
from portal.money import exponent

# Where a code is redeemed, as the programme names it.
CHANNELS = {"till": "at a till", "web": "on the Giftloop website", "api": "through the API"}
CHANNEL_LABELS = {"till": "Till", "web": "Website (wallet and shop)", "api": "API"}
ROLES = {"customer": "customers", "merchant": "merchant staff", "admin": "admins"}
ROLE_LABELS = {"customer": "Customers", "merchant": "Merchant staff", "admin": "Admins"}
KINDS = {"gift_card": "Gift cards", "credit": "Credit codes", "feature": "Feature unlocks", "coupon": "Coupons"}
assert set(KINDS) == set(CAMPAIGN_KINDS)
MAX_DAYS = 36600
_WHOLE = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class KindRules:
    """One kind of code's rules; without a row, every channel and role and no defaults (as before)."""

    kind: str
    default_valid_days: int | None = None
    default_max_uses: int | None = None
    channels: tuple[str, ...] = tuple(CHANNELS)
    roles: tuple[str, ...] = tuple(ROLES)

    @property
    def label(self) -> str:
        return KINDS[self.kind]


# A kind's rules are kept in each process for this long after a read: a card payment, on
# PostgreSQL one database call, then asks the database nothing more to know them. A change is
# seen at once by the process that made it and by every other process within these seconds.
CACHE_SECONDS = 5.0
_kept: Kept[KindRules] = Kept(CACHE_SECONDS)


def forget_programme_rules() -> None:
    """Drop the rules this process keeps (after a change, or a test's fresh database)."""
    _kept.clear()


def kind_rules(session: Session, kind: str) -> KindRules:
    """The programme's rules for codes of ``kind`` (kept for ``CACHE_SECONDS``)."""
    cached = _kept.get(session, kind)
    if cached is not None:
        return cached
    row = session.get(ProgrammeKind, kind)
    if row is None:
        rules = KindRules(kind)
    else:
        rules = KindRules(kind, row.default_valid_days, row.default_max_uses, tuple(row.channels), tuple(row.roles))
    _kept.put(session, kind, rules)
    return rules


def all_rules(session: Session) -> list[KindRules]:
    """Every kind's rules, in the order the admin page shows them."""
    return [kind_rules(session, kind) for kind in KINDS]


def allowed_currencies(session: Session) -> list[str]:
    """The currencies the programme allows; empty: every currency."""
    return list(session.scalars(sa.select(ProgrammeCurrency.currency).order_by(ProgrammeCurrency.currency)))


# --- The rules as they are used ---------------------------------------------------------------


def channel_of(channel: str, merchant_id: int | None) -> str:
    """The programme's channel of a use: the API; else a till when a merchant takes it, else the website."""
    if channel == "api":
        return "api"
    return "till" if merchant_id is not None else "web"


def card_channel(actor: Actor, merchant_id: int | None) -> str:
    """The channel of a card payment, told by who pays: a token is the API."""
    return channel_of("api" if actor.token_id is not None else "web", merchant_id)


def _words(names: tuple[str, ...], table: dict[str, str]) -> str:
    """("till", "api") -> "at a till or through the API"; three or more with commas."""
    words = [table[name] for name in names]
    return " or ".join(words) if len(words) < 3 else ", ".join(words[:-1]) + " or " + words[-1]


def refuse_redemption(session: Session, kind: str, channel: str, user: User | None) -> None:
    """Raise NotValidHere, naming the programme's rule, if codes of ``kind`` may not be redeemed
    through ``channel`` (till, web, api) or by the user's role. ``user`` None: the programme's own
    process, which no role rule binds."""
    rules = kind_rules(session, kind)
    if channel not in rules.channels:
        where = _words(rules.channels, CHANNELS)
        raise NotValidHere(
            f"{rules.label} cannot be redeemed {CHANNELS[channel]}: the programme allows them only {where}",
            field="code",
        )
    if user is not None and user.role not in rules.roles:
        who = _words(rules.roles, ROLES)
        raise NotValidHere(
            f"{rules.label} can be redeemed only by {who} under the programme's rules, not by {ROLES[user.role]}",
            field="code",
        )


def refuse_currency(session: Session, currency: str | None, field: str = "currency") -> None:
    """Raise ValidationError if the programme allows a list of currencies and ``currency`` is not on it."""
    allowed = allowed_currencies(session)
    if currency is not None and allowed and currency not in allowed:
        raise ValidationError(
            f"The programme allows only {', '.join(allowed)}; {currency} is not one of them", field=field
        )


def campaign_defaults(session: Session, kind: str) -> dict[str, object]:
    """A new campaign's fields as the programme sets them for ``kind``, as form values: the expiry
    in days, the total uses, and the campaign channels (web covers tills and the website)."""
    rules = kind_rules(session, kind)
    defaults: dict[str, object] = {}
    if rules.default_valid_days is not None:
        defaults["valid_days"] = str(rules.default_valid_days)
    if rules.default_max_uses is not None and kind != "gift_card":
        defaults["max_uses"] = str(rules.default_max_uses)
    if kind != "gift_card":
        defaults["channels"] = [c for c, allowed in (("web", {"till", "web"}), ("api", {"api"}))
                                if allowed & set(rules.channels)]
    return defaults


def fill_defaults(raw: Mapping[str, object], defaults: Mapping[str, object]) -> dict[str, object]:
    """A new campaign's rules as given, with ``campaign_defaults`` for those left out; the default
    expiry in days only when no expiry date is given (a campaign has one or the other)."""
    filled = dict(raw)
    for name, value in defaults.items():
        if filled.get(name) in (None, "", []) and not (name == "valid_days" and filled.get("expires_at")):
            filled[name] = value
    return filled


# --- Setting them -----------------------------------------------------------------------------


def _whole(value: object, label: str, field: str, most: int) -> int | None:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        return None
    if not _WHOLE.fullmatch(text) or not 1 <= int(text) <= most:
        raise ValidationError(f"{label}: a whole number from 1 to {most:,}, or empty for none", field=field)
    return int(text)


def _chosen(values: object, known: dict[str, str], label: str, field: str) -> list[str]:
    chosen = list(values) if isinstance(values, (list, tuple)) else []
    if any(value not in known for value in chosen):
        raise ValidationError(f"{label}: choose from the list", field=field)
    if not chosen:
        raise ValidationError(f"{label}: choose at least one", field=field)
    return [name for name in known if name in chosen]


def set_kind_rules(session: Session, actor: Actor, kind: str, values: Mapping[str, object]) -> KindRules:
    """Set one kind's rules from an admin's form: ``valid_days``, ``max_uses`` (text; empty: none),
    ``channels`` and ``roles`` (lists). Raise ValidationError naming the field."""
    if kind not in KINDS:
        raise ValidationError("Choose a kind of code", field="kind")
    label = KINDS[kind]
    days = _whole(values.get("valid_days"), f"{label}, default expiry in days", "valid_days", MAX_DAYS)
    uses = _whole(values.get("max_uses"), f"{label}, default maximum uses", "max_uses", 1_000_000_000)
    channels = _chosen(values.get("channels"), CHANNELS, f"{label}, redeemed through", "channels")
    roles = _chosen(values.get("roles"), ROLES, f"{label}, redeemed by", "roles")
    row = session.get(ProgrammeKind, kind) or ProgrammeKind(kind=kind)
    row.default_valid_days, row.default_max_uses, row.channels, row.roles = days, uses, channels, roles
    row.updated_at = utcnow()
    session.add(row)
    audit(session, actor, "programme.kind_rules", f"kind:{kind}", "", valid_days=days, max_uses=uses,
          channels=channels, roles=roles)
    session.flush()
    forget_programme_rules()
    return KindRules(kind, days, uses, tuple(channels), tuple(roles))


def set_currencies(session: Session, actor: Actor, text: object) -> list[str]:
    """Set the currencies the programme allows from text like "USD, EUR" (empty: every currency).
    Raise ValidationError for an unknown code or Loops."""
    codes = []
    for item in re.split(r"[\s,;]+", text.strip().upper() if isinstance(text, str) else ""):
        if not item:
            continue
        try:
            exponent(item)
        except ValidationError:
            raise ValidationError(f"Allowed currencies: {item} is not a currency code like USD", field="currencies") from None
        if item == "LOOP":
            raise ValidationError("Allowed currencies: Loops are points, not a currency of cards", field="currencies")
        if item not in codes:
            codes.append(item)
    session.execute(sa.delete(ProgrammeCurrency))
    session.add_all(ProgrammeCurrency(currency=code) for code in codes)
    audit(session, actor, "programme.currencies", "programme", "", currencies=codes)
    session.flush()
    return sorted(codes)

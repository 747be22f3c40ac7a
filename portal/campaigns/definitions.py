"""Creating, changing and deleting campaigns: every rule read by ``portal.campaigns.rules``.

``read_spec`` takes the rules as a form or a JSON body gives them and returns a checked
``CampaignSpec``, or raises ``CampaignInvalid`` with a message per field, so a form can show
every mistake at once and the API the first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import networks, programme
from portal.campaigns import conditions, rules
from portal.campaigns.codes import CodePattern, check_pattern, vanity_code
from portal.cards.codes import CodeVault
from portal.errors import ValidationError
from portal.events import kinds as events
from portal.ledger import Actor, audit
from portal.models import Code, Merchant, Network, utcnow
from portal.models.campaigns import Campaign, CampaignCode

CARD_PATTERN = CodePattern("random", prefix="", length=16)


class CampaignInvalid(ValidationError):
    """One or more rules were refused; ``errors`` maps each field to its message."""

    def __init__(self, errors: dict[str, str]):
        name, message = next(iter(errors.items()))
        super().__init__(message, field=name)
        self.errors = errors


@dataclass
class CampaignSpec:
    """A campaign's rules, checked: what ``create_campaign`` and ``update_campaign`` store."""

    name: str
    kind: str
    pattern: CodePattern
    currency: str | None = None
    value: int | None = None
    discount_type: str | None = None
    percent_bp: int | None = None
    feature: str | None = None
    feature_days: int | None = None
    feature_gives: str = ""
    expires_at: datetime | None = None
    valid_days: int | None = None
    max_uses: int | None = None
    uses_per_user: int | None = None
    min_order: int | None = None
    merchants: list[Merchant] = field(default_factory=list)
    network: Network | None = None  # gift cards only: the network whose merchants take them
    allowed_domains: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=lambda: ["web", "api"])
    weekdays: list[int] = field(default_factory=list)
    hours_from: int | None = None
    hours_until: int | None = None
    first_order_only: bool = False
    max_discount: int | None = None
    max_discount_per_customer: int | None = None


class _Reader:
    """Runs each rule, keeping the first message per field instead of stopping at the first."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def take(self, name: str, rule: Callable, *args, default=None):
        try:
            return rule(*args)
        except ValidationError as error:
            self.errors.setdefault(error.field or name, error.message)
            return default

    def require(self, name: str, value, message: str) -> None:
        if value is None and name not in self.errors:
            self.errors[name] = message


def read_spec(
    session: Session, raw: Mapping[str, object], *, now: datetime | None = None, used: int = 0
) -> CampaignSpec:
    """Check every rule of a campaign as given (form text or JSON values).

    ``used`` is how often the campaign was used already (a limit cannot go below it).
    Raise CampaignInvalid naming each field that breaks a rule.
    """
    now = now or utcnow()
    r = _Reader()
    get = raw.get
    name = r.take("name", rules.check_name, get("name"))
    kind = r.take("kind", rules.check_kind, get("kind"))
    currency = r.take("currency", rules.check_currency, get("currency"))
    r.take("currency", programme.refuse_currency, session, currency)
    expires_at, valid_days = r.take(
        "expires_at", rules.check_expiry, get("expires_at"), get("valid_days"), now, default=(None, None)
    )
    spec = CampaignSpec(
        name=name, kind=kind, pattern=CARD_PATTERN, currency=currency, expires_at=expires_at, valid_days=valid_days
    )
    if kind == "gift_card":
        spec.value = r.take("value", rules.check_amount, get("value"), currency, "value")
        r.require("currency", currency, "Give the currency of the cards")
        r.require("value", spec.value, "Give the value of each card, like 10.00")
        spec.merchants = r.take("merchants", rules.check_merchants, session, get("merchants"), default=[])
        if len(spec.merchants) > 1:
            r.errors.setdefault("merchants", "A gift card works at one merchant or at all of them: choose at most one")
        for merchant in spec.merchants:
            if currency and merchant.currency != currency:
                r.errors.setdefault("merchants", f"{merchant.name} takes {merchant.currency}, not {currency}")
        spec.network = r.take("network", networks.check_network, session, get("network"))
        if spec.network is not None and spec.merchants:
            r.errors.setdefault("network", "A gift card works at one merchant or in one network: choose one of them")
        return _done(r, spec)
    if kind is None:
        return _done(r, spec)
    spec.pattern = r.take(
        "code_mode", check_pattern, get("code_mode"), get("code"), get("code_prefix"), get("code_length")
    )
    spec.max_uses = r.take("max_uses", rules.check_max_uses, get("max_uses"), used)
    spec.uses_per_user = r.take("uses_per_user", rules.check_uses_per_user, get("uses_per_user"))
    spec.allowed_domains = r.take("allowed_domains", rules.check_domains, get("allowed_domains"), default=[])
    spec.channels = r.take("channels", rules.check_channels, get("channels"), default=["web", "api"])
    if kind == "credit":
        spec.value = r.take("value", rules.check_amount, get("value"), currency, "value")
        r.require("currency", currency, "Give the currency of the credit")
        r.require("value", spec.value, "Give the credit each code adds, like 5.00")
    elif kind == "feature":
        spec.feature = r.take("feature", rules.check_feature, get("feature"))
        spec.feature_days = r.take("feature_days", rules.check_days, get("feature_days"), "feature_days")
        spec.feature_gives = r.take("feature_gives", rules.check_feature_gives, get("feature_gives"), default="")
        r.require("feature_days", spec.feature_days, "Give the number of days the feature is unlocked for")
    elif kind == "coupon":
        discount = r.take("discount_type", rules.check_discount, get("discount_type"), get("discount_value"), currency)
        if discount is not None:
            spec.discount_type, spec.percent_bp, spec.value = discount
        spec.min_order = r.take("min_order", rules.check_amount, get("min_order"), currency, "min_order")
        spec.merchants = r.take("merchants", rules.check_merchants, session, get("merchants"), default=[])
        _read_coupon_conditions(r, spec, get)
        amounts = (spec.min_order, spec.max_discount, spec.max_discount_per_customer)
        if spec.discount_type == "fixed" or any(amount is not None for amount in amounts):
            r.require("currency", currency, "Give the currency of the discount, minimum order and maximum discounts")
    return _done(r, spec)


def _read_coupon_conditions(r: _Reader, spec: CampaignSpec, get: Callable) -> None:
    """When a coupon works (weekdays, hours), for whom (first order only) and how much it may give."""
    spec.weekdays = r.take("weekdays", conditions.check_weekdays, get("weekdays"), default=[])
    spec.hours_from, spec.hours_until = r.take(
        "hours_from", conditions.check_hours, get("hours_from"), get("hours_until"), default=(None, None)
    )
    spec.first_order_only = r.take(
        "first_order_only", conditions.check_flag, get("first_order_only"), "first_order_only", default=False
    )
    for name in ("max_discount", "max_discount_per_customer"):
        setattr(spec, name, r.take(name, rules.check_amount, get(name), spec.currency, name))


def _done(reader: _Reader, spec: CampaignSpec) -> CampaignSpec:
    if reader.errors:
        raise CampaignInvalid(reader.errors)
    return spec


def _claim_code(session: Session, vault: CodeVault, text: str, existing: Code | None = None) -> Code:
    """Store a vanity code (or re-key the existing row). Raise ValidationError if the code is taken."""
    digest, ciphertext, masked = vault.seal(text)
    taken = session.scalar(sa.select(Code.id).where(Code.lookup_hash == digest))
    if taken is not None and (existing is None or taken != existing.id):
        raise ValidationError("That code is already in use; choose another", field="code")
    code = existing or Code()
    code.lookup_hash, code.ciphertext, code.masked = digest, ciphertext, masked
    session.add(code)
    return code


_STORED = (
    "name", "currency", "value", "discount_type", "percent_bp", "feature", "feature_days", "feature_gives", "expires_at",
    "valid_days", "max_uses", "uses_per_user", "min_order", "allowed_domains", "channels", "weekdays", "hours_from",
    "hours_until", "first_order_only", "max_discount", "max_discount_per_customer",
)


def create_campaign(session: Session, vault: CodeVault, spec: CampaignSpec, *, actor: Actor) -> Campaign:
    """Create a campaign, and its one code when the pattern is a vanity code.

    Raise ValidationError if the vanity code is already in use.
    """
    campaign = Campaign(
        kind=spec.kind, code_mode=spec.pattern.mode, code_prefix=spec.pattern.prefix, code_length=spec.pattern.length,
        merchants=list(spec.merchants), network=spec.network, created_by_id=actor.user_id,
        **{name: getattr(spec, name) for name in _STORED},
    )
    session.add(campaign)
    if spec.pattern.mode == "vanity" and spec.kind != "gift_card":
        code = _claim_code(session, vault, spec.pattern.vanity)
        session.flush()
        session.add(CampaignCode(campaign_id=campaign.id, code_id=code.id))
    session.flush()
    audit(session, actor, "campaign.created", f"campaign:{campaign.id}", "", kind=spec.kind, name=spec.name)
    events.campaign_changed(session, "campaign.created", campaign)
    return campaign


def update_campaign(
    session: Session, vault: CodeVault, campaign: Campaign, spec: CampaignSpec, *, actor: Actor
) -> Campaign:
    """Change a campaign's rules (and its vanity code's spelling); the kind and pattern stay.

    Raise ValidationError for another kind, a switch between vanity and random codes, or a
    vanity code already in use.
    """
    if spec.kind != campaign.kind:
        raise ValidationError("A campaign's kind cannot change; create a new campaign", field="kind")
    if spec.pattern.mode != campaign.code_mode:
        raise ValidationError("A campaign's codes cannot switch between vanity and random", field="code_mode")
    changed = [name for name in _STORED if getattr(campaign, name) != getattr(spec, name)]
    for name in changed:
        setattr(campaign, name, getattr(spec, name))
    if [m.id for m in campaign.merchants] != [m.id for m in spec.merchants]:
        campaign.merchants = list(spec.merchants)
        changed.append("merchants")
    if campaign.network is not spec.network:
        campaign.network = spec.network  # the cards it issues from now on; those issued keep theirs
        changed.append("network")
    if spec.pattern.mode == "vanity":
        shared = vanity_code(session, campaign)
        if shared is not None and vault.decrypt(shared.code.ciphertext) != spec.pattern.vanity:
            _claim_code(session, vault, spec.pattern.vanity, shared.code)
            changed.append("code")
    else:
        campaign.code_prefix, campaign.code_length = spec.pattern.prefix, spec.pattern.length
    session.flush()
    if changed:
        audit(session, actor, "campaign.updated", f"campaign:{campaign.id}", "", changed=changed)
        events.campaign_changed(session, "campaign.updated", campaign)
    return campaign


def delete_campaign(
    session: Session, campaign: Campaign, *, actor: Actor, reason: str = "", now: datetime | None = None
) -> None:
    """Stop a campaign: its codes stop working; cards it issued stay as they are. The reason (the
    admin console asks for one, see ``required_reason``) goes into the audit log."""
    if campaign.deleted_at is None:
        campaign.deleted_at = now or utcnow()
        audit(session, actor, "campaign.deleted", f"campaign:{campaign.id}", reason, name=campaign.name)
        events.campaign_changed(session, "campaign.deleted", campaign)
        session.flush()

"""A campaign's rules: one function per rule, called by the admin pages, the API and the jobs.

Two families. ``check_*`` read one rule as an admin gives it (text from a form or JSON from
the API) and return the clean value, or raise ValidationError naming the field. ``refuse_*``
decide whether one use of a code is allowed now, raising the DomainError whose code the API
and the pages show; ``check_use`` runs them all in one order for every channel.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import programme
from portal.campaigns.conditions import refuse_not_first_order, refuse_outside_timeframe
from portal.errors import (
    AlreadyRedeemed, CardExpired, CurrencyMismatch, NotFound, NotValidHere, UsageLimitReached, ValidationError,
)
from portal.models import Merchant, User, utcnow
from portal.models.campaigns import CAMPAIGN_KINDS, CHANNELS, DISCOUNT_TYPES, Campaign, CampaignCode, CampaignCustomer
from portal.money import Money, exponent

MAX_DAYS = 36600
MAX_QUANTITY = 1_000_000
KIND_NAMES = {
    "gift_card": "Gift cards",
    "credit": "Credit code",
    "feature": "Feature unlock",
    "coupon": "Coupon",
}
CHANNEL_NAMES = {"web": "on the Giftloop website", "api": "through the API"}
_FEATURE = re.compile(r"[a-z][a-z0-9_-]{0,39}")
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_WHOLE = re.compile(r"\s*[0-9]{1,9}\s*")

EXPIRED = "This code has expired"
ALREADY_USED = "This code was already used"
USED_UP = "This code has been used the maximum number of times"
WRONG_DOMAIN = "This code is not valid for your e-mail address"


# --- Reading rules as an admin gives them -------------------------------------------------


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check_name(value: object) -> str:
    """A campaign's name: 1 to 120 characters."""
    name = value.strip() if isinstance(value, str) else ""
    if not name or len(name) > 120:
        raise ValidationError("Give the campaign a name of 1 to 120 characters", field="name")
    return name


def check_kind(value: object) -> str:
    """One of the campaign kinds: gift_card, credit, feature, coupon."""
    if value not in CAMPAIGN_KINDS:
        raise ValidationError(f"A campaign is one of: {', '.join(CAMPAIGN_KINDS)}", field="kind")
    return value


def check_currency(value: object) -> str | None:
    """An ISO 4217 currency we know, in money (not Loops); None when left blank."""
    if _blank(value):
        return None
    if not isinstance(value, str):
        raise ValidationError("Give the currency as a code like USD", field="currency")
    code = value.strip().upper()
    try:
        exponent(code)
    except ValidationError:
        raise ValidationError(f"Unknown currency {code}", field="currency") from None
    if code == "LOOP":
        raise ValidationError("Campaigns give money, not Loops", field="currency")
    return code


def check_amount(value: object, currency: str | None, field: str) -> int | None:
    """A positive amount in ``currency`` as minor units; None when left blank."""
    if _blank(value):
        return None
    if currency is None:
        raise ValidationError("Give a currency for this amount", field="currency")
    try:
        return Money.parse(value, currency).minor
    except ValidationError as error:
        raise ValidationError(error.message, field=field) from None


def check_percent(value: object) -> int:
    """A percentage above 0 and at most 100 with at most two decimals, as hundredths of a percent."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValidationError("Give the percentage as a number, like 15 or 12.5", field="discount_value")
    text = repr(value) if isinstance(value, float) else str(value).strip().rstrip("%").strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValidationError("Give the percentage as a number, like 15 or 12.5", field="discount_value") from None
    if not number.is_finite() or number <= 0 or number > 100:
        raise ValidationError("A percentage discount is more than 0 and at most 100", field="discount_value")
    if number.as_tuple().exponent < -2:
        raise ValidationError("A percentage has at most two decimal places", field="discount_value")
    return int(number * 100)


def check_discount(
    discount_type: object, discount_value: object, currency: str | None
) -> tuple[str, int | None, int | None]:
    """A coupon's discount: ("percent", basis points, None) or ("fixed", None, minor units)."""
    if discount_type not in DISCOUNT_TYPES:
        raise ValidationError("A coupon's discount is percent or fixed", field="discount_type")
    if _blank(discount_value):
        raise ValidationError("Give the discount, like 15 (percent) or 5.00 (fixed)", field="discount_value")
    if discount_type == "percent":
        return "percent", check_percent(discount_value), None
    return "fixed", None, check_amount(discount_value, currency, "discount_value")


def check_feature(value: object) -> str:
    """A feature name: lower-case letters, digits, dash and underscore, like ``plus``."""
    name = value.strip().lower() if isinstance(value, str) else ""
    if not _FEATURE.fullmatch(name):
        raise ValidationError("Name the feature in lower-case letters and digits, like plus", field="feature")
    return name


def check_feature_gives(value: object) -> str:
    """What a feature gives, in the customer's words, up to 200 characters; "" when left blank."""
    if value is None:
        return ""
    text = " ".join(value.split()) if isinstance(value, str) else None
    if text is None or len(text) > 200:
        raise ValidationError("Say what the feature gives in at most 200 characters", field="feature_gives")
    return text


def check_days(value: object, field: str) -> int | None:
    """A whole number of days from 1 to 36600; None when left blank."""
    if _blank(value):
        return None
    if isinstance(value, str) and _WHOLE.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise ValidationError(f"Give a whole number of days from 1 to {MAX_DAYS}", field=field)
    return value


def check_moment(value: object, field: str = "expires_at") -> datetime | None:
    """A date (valid through that whole UTC day) or an ISO 8601 moment; None when left blank."""
    if _blank(value):
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value + timedelta(days=1), time(), timezone.utc)
    elif isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                moment = datetime.combine(date.fromisoformat(text) + timedelta(days=1), time(), timezone.utc)
            else:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValidationError("Give a date like 2027-03-31", field=field) from None
    else:
        raise ValidationError("Give a date like 2027-03-31", field=field)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def check_expiry(
    expires_at: object, valid_days: object, now: datetime | None = None
) -> tuple[datetime | None, int | None]:
    """Expiry is a fixed date in the future, or a number of days from issue, or neither."""
    now = now or utcnow()
    moment = check_moment(expires_at)
    days = check_days(valid_days, "valid_days")
    if moment is not None and days is not None:
        raise ValidationError("Give either an expiry date or a number of days, not both", field="expires_at")
    if moment is not None and moment <= now:
        raise ValidationError("The expiry date must be in the future", field="expires_at")
    return moment, days


def check_count(value: object, field: str, *, low: int = 1) -> int | None:
    """A whole number of at least ``low`` (a limit); None when left blank for no limit."""
    if _blank(value):
        return None
    if isinstance(value, str) and _WHOLE.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 1_000_000_000:
        raise ValidationError(f"Give a whole number of at least {low}, or leave it empty for no limit", field=field)
    return value


def check_max_uses(value: object, used: int = 0) -> int | None:
    """Total uses allowed (None: no limit), never below the uses already counted."""
    limit = check_count(value, "max_uses")
    if limit is not None and limit < used:
        raise ValidationError(
            f"This campaign was already used {used} times; the limit cannot be lower", field="max_uses"
        )
    return limit


def check_uses_per_user(value: object) -> int | None:
    """Uses allowed per customer (None: no limit)."""
    return check_count(value, "uses_per_user")


def check_quantity(value: object) -> int:
    """How many codes or cards to generate: 1 to 1,000,000."""
    try:
        count = check_count(value, "quantity")
    except ValidationError:
        count = None
    if count is None or count > MAX_QUANTITY:
        raise ValidationError(f"Generate from 1 to {MAX_QUANTITY:,} codes at a time", field="quantity")
    return count


def _items(value: object, field: str) -> list[str]:
    if _blank(value):
        return []
    if isinstance(value, str):
        return [item for item in re.split(r"[\s,;]+", value) if item]
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value if item.strip()]
    raise ValidationError("Give a list of names", field=field)


def check_merchants(session: Session, value: object) -> list[Merchant]:
    """Merchants by slug (a list, or text separated by commas); empty means every merchant."""
    slugs = list(dict.fromkeys(_items(value, "merchants")))
    if not slugs:
        return []
    found = {m.slug: m for m in session.scalars(sa.select(Merchant).where(Merchant.slug.in_(slugs)))}
    missing = [slug for slug in slugs if slug not in found]
    if missing:
        raise ValidationError(f"No merchant with the slug {', '.join(missing)}", field="merchants")
    return [found[slug] for slug in slugs]


def check_domains(value: object) -> list[str]:
    """E-mail domains like example.com (a list, or text separated by commas); empty means any."""
    domains = []
    for item in _items(value, "allowed_domains"):
        domain = item.lower().lstrip("@")
        if not _DOMAIN.fullmatch(domain):
            raise ValidationError(f"{item} is not an e-mail domain like example.com", field="allowed_domains")
        if domain not in domains:
            domains.append(domain)
    return domains


def check_channels(value: object) -> list[str]:
    """Where codes may be used: web, api or both (both when left blank)."""
    channels = _items(value, "channels") or list(CHANNELS)
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise ValidationError("Channels are web and api", field="channels")
    return [c for c in CHANNELS if c in channels]


# --- Deciding one use --------------------------------------------------------------------


def code_expiry(campaign: Campaign, issued_at: datetime | None) -> datetime | None:
    """When a code issued at ``issued_at`` stops working: the fixed date, or days from issue."""
    if campaign.expires_at is not None:
        return campaign.expires_at
    if campaign.valid_days is not None and issued_at is not None:
        return issued_at + timedelta(days=campaign.valid_days)
    return None


def refuse_deleted(campaign: Campaign) -> None:
    """A deleted campaign's codes are gone: NotFound, as for a code that never existed."""
    if campaign.deleted_at is not None:
        raise NotFound("We don't recognise that code: please check it and try again", field="code")


def refuse_expired(campaign: Campaign, code: CampaignCode, now: datetime) -> None:
    """Raise CardExpired ("This code has expired") past the campaign's or the code's date."""
    ends = code_expiry(campaign, code.code.created_at)
    if ends is not None and ends <= now:
        raise CardExpired(EXPIRED, field="code")


def refuse_channel(campaign: Campaign, channel: str) -> None:
    """Raise NotValidHere if the campaign is not open to this channel (web or api)."""
    if channel not in (campaign.channels or CHANNELS):
        allowed = " or ".join(CHANNEL_NAMES[c] for c in campaign.channels)
        raise NotValidHere(f"This code can only be used {allowed}", field="code")


def refuse_merchant(campaign: Campaign, merchant: Merchant | None) -> None:
    """Raise NotValidHere if the campaign is limited to merchants and this is not one of them."""
    if campaign.merchants and (merchant is None or merchant.id not in {m.id for m in campaign.merchants}):
        names = ", ".join(m.name for m in campaign.merchants)
        raise NotValidHere(f"This code can only be used at {names}", field="code")


def email_domain(email: str | None) -> str:
    return (email or "").rpartition("@")[2].strip().lower()


def refuse_domain(campaign: Campaign, email: str | None) -> None:
    """Raise NotValidHere ("not valid for your e-mail address") outside the allowed domains."""
    if not campaign.allowed_domains:
        return
    if not email:
        raise ValidationError("This code needs the customer's e-mail address", field="customer_email")
    if email_domain(email) not in campaign.allowed_domains:
        raise NotValidHere(WRONG_DOMAIN, field="customer_email")


def refuse_other_currency(campaign: Campaign, order_total: Money | None) -> None:
    """Raise CurrencyMismatch when a coupon with an amount (fixed discount, minimum) meets another currency."""
    if order_total is None or campaign.currency is None:
        return
    has_amount = campaign.discount_type == "fixed" or any(
        amount is not None for amount in (campaign.min_order, campaign.max_discount, campaign.max_discount_per_customer)
    )
    if has_amount and order_total.currency != campaign.currency:
        raise CurrencyMismatch(
            f"This coupon is for orders in {campaign.currency}, not {order_total.currency}", field="order_total"
        )


def refuse_min_order(campaign: Campaign, order_total: Money | None) -> None:
    """Raise NotValidHere when the order is below the coupon's minimum order."""
    if campaign.min_order is None or order_total is None:
        return
    if order_total.minor < campaign.min_order:
        least = Money(campaign.min_order, campaign.currency).display()
        raise NotValidHere(f"This coupon needs an order of at least {least}", field="order_total")


def refuse_used_up(campaign: Campaign) -> None:
    """Raise UsageLimitReached once the campaign's total uses are spent."""
    if campaign.max_uses is not None and campaign.uses >= campaign.max_uses:
        raise UsageLimitReached(USED_UP, field="code")


def single_use(campaign: Campaign) -> bool:
    """Random codes are each used once; a vanity code is shared, bounded by the campaign's limits."""
    return campaign.code_mode == "random"


def refuse_code_used(campaign: Campaign, code: CampaignCode) -> None:
    """Raise AlreadyRedeemed ("This code was already used") for a single-use code already used."""
    if single_use(campaign) and code.uses > 0:
        raise AlreadyRedeemed(ALREADY_USED, field="code")


def customer_used_up(campaign: Campaign) -> AlreadyRedeemed:
    """The refusal for a customer who has had all their uses of a campaign."""
    if campaign.uses_per_user == 1:
        return AlreadyRedeemed("You have already used this code", field="code")
    return AlreadyRedeemed(
        f"You have already used this code {campaign.uses_per_user} times, the most allowed", field="code"
    )


def customer_discount_used_up(campaign: Campaign) -> UsageLimitReached:
    """The refusal for a customer who has had all the discount a coupon gives one customer."""
    most = Money(campaign.max_discount_per_customer, campaign.currency).display()
    return UsageLimitReached(f"You have had the most discount this coupon gives one customer ({most})", field="code")


def limited_per_customer(campaign: Campaign) -> bool:
    """Whether a use is counted against the customer: a number of uses or a total discount."""
    return campaign.uses_per_user is not None or campaign.max_discount_per_customer is not None


def customer_record(session: Session, campaign: Campaign, email: str) -> tuple[int, int]:
    """How often this customer used the campaign and the discount they had from it (minor units)."""
    row = session.execute(
        sa.select(CampaignCustomer.uses, CampaignCustomer.discounted).where(
            CampaignCustomer.campaign_id == campaign.id, CampaignCustomer.email == email.lower()
        )
    ).first()
    return (row.uses, row.discounted) if row else (0, 0)


def customer_refusal(campaign: Campaign, uses: int, discounted: int) -> AlreadyRedeemed | UsageLimitReached | None:
    """Why this customer may not use the campaign again, or None if they may."""
    if campaign.uses_per_user is not None and uses >= campaign.uses_per_user:
        return customer_used_up(campaign)
    if campaign.max_discount_per_customer is not None and discounted >= campaign.max_discount_per_customer:
        return customer_discount_used_up(campaign)
    return None


def refuse_customer_used_up(session: Session, campaign: Campaign, email: str | None) -> None:
    """Raise AlreadyRedeemed once this customer has used the campaign ``uses_per_user`` times, and
    UsageLimitReached once they have had its ``max_discount_per_customer``."""
    if not limited_per_customer(campaign):
        return
    if not email:
        raise ValidationError(
            "This code is limited per customer: give the customer's e-mail address", field="customer_email"
        )
    refusal = customer_refusal(campaign, *customer_record(session, campaign, email))
    if refusal is not None:
        raise refusal


def check_use(
    session: Session,
    campaign: Campaign,
    code: CampaignCode,
    *,
    channel: str,
    now: datetime,
    merchant: Merchant | None = None,
    email: str | None = None,
    order_total: Money | None = None,
    redeemer: User | None = None,
) -> None:
    """Every rule of one use, in the order a person would want to hear about them.

    ``redeemer``: who redeems it (the customer, the till's staff, the token's user), whose role the
    programme's rules for the campaign's kind may not allow; None for the programme's own processes.

    The counting in ``portal.campaigns.uses`` repeats the limits atomically; this answers first
    so a refusal changes nothing and reads clearly. Raise NotFound, CardExpired, NotValidHere,
    CurrencyMismatch, UsageLimitReached, AlreadyRedeemed or ValidationError.
    """
    refuse_deleted(campaign)
    refuse_expired(campaign, code, now)
    programme.refuse_redemption(
        session, campaign.kind, programme.channel_of(channel, merchant.id if merchant else None), redeemer
    )
    refuse_channel(campaign, channel)
    refuse_merchant(campaign, merchant)
    refuse_outside_timeframe(campaign, merchant, now)
    refuse_domain(campaign, email)
    refuse_other_currency(campaign, order_total)
    refuse_min_order(campaign, order_total)
    refuse_code_used(campaign, code)
    refuse_used_up(campaign)
    refuse_customer_used_up(session, campaign, email)
    refuse_not_first_order(session, campaign, merchant, email, now)


def describe_value(campaign: Campaign) -> str:
    """What a code of the campaign gives, in words: "10.00 USD", "15% off", "plus for 30 days"."""
    if campaign.kind == "coupon":
        if campaign.discount_type == "percent":
            off = f"{format_percent(campaign.percent_bp)}% off"
        else:
            off = f"{Money(campaign.value, campaign.currency).display()} off"
        if campaign.max_discount is not None:
            off += f", at most {Money(campaign.max_discount, campaign.currency).display()}"
        return off
    if campaign.kind == "feature":
        return f"{campaign.feature} for {campaign.feature_days} days"
    return Money(campaign.value, campaign.currency).display()


def format_percent(basis_points: int | None) -> str:
    """1250 -> "12.5", 1500 -> "15"."""
    if basis_points is None:
        return ""
    whole, rest = divmod(basis_points, 100)
    return f"{whole}" if not rest else f"{whole}.{rest:02d}".rstrip("0")

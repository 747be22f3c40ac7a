"""Admin forms. The rules themselves live in the domain; these only carry what was typed.

Forms that move money (adjust, cancel) carry an idempotency key made when they are drawn, so a
double click or a resubmitted page changes the card once.
"""

from __future__ import annotations


from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField, DateField, PasswordField, RadioField, SelectChoice, SelectField, SelectMultipleField, StringField,
    TextAreaField,
)
from wtforms.validators import Optional

from portal.campaigns.conditions import WEEKDAYS
from portal.campaigns.rules import KIND_NAMES
from portal.programme import CHANNEL_LABELS, ROLE_LABELS
from portal.web.forms import KeyedForm

class AdminForm(FlaskForm):
    """An admin form. CSRFProtect checks the token of every POST before any view runs, so the
    forms carry the one ``csrf_token`` field rather than a prefixed copy each (several share a page)."""

    class Meta:
        csrf = False


class ReasonForm(AdminForm):
    """Every change to a card or a person says why: the reason goes into the audit log."""

    reason = TextAreaField("Reason", render_kw={"rows": 2, "maxlength": 500})


class DeleteCampaignForm(ReasonForm):
    """Deleting a campaign is for good: a reason for the audit log, and a tick that says so."""

    reason = TextAreaField("Why delete it?", render_kw={"rows": 2, "maxlength": 500})
    confirm = BooleanField("Yes, delete it: its codes stop working at once")


class CancelCardForm(ReasonForm, KeyedForm):
    """Cancelling a card is for good: a reason, and a tick that says so."""

    confirm = BooleanField("Yes, cancel it for good: its balance moves to breakage")


class KeyedReasonForm(ReasonForm, KeyedForm):
    """A reasoned admin action that moves money: the same form twice moves it once."""


class AdjustForm(KeyedReasonForm):
    direction = RadioField("Change", choices=[SelectChoice("add", "Add to the balance"),
                                              SelectChoice("remove", "Take from the balance")],
                           default="add", validate_choice=False)
    amount = StringField("Amount")


class ReinstateForm(ReasonForm):
    expires_on = DateField("New expiry date", validators=[Optional()], format="%Y-%m-%d")


class CampaignForm(AdminForm):
    """Every rule of every kind of campaign; the kind decides which ones apply."""

    name = StringField("Name")
    kind = RadioField("Kind", choices=[SelectChoice(k, v) for k, v in KIND_NAMES.items()], default="coupon",
                      validate_choice=False)
    currency = StringField("Currency", default="USD")
    value = StringField("Value of each card or credit")
    discount_type = RadioField("Discount", choices=[SelectChoice("percent", "Percent off"),
                                                    SelectChoice("fixed", "Amount off")],
                               default="percent", validate_choice=False)
    discount_value = StringField("Discount (percent or amount)")
    feature = StringField("Feature", default="plus")
    feature_days = StringField("Days unlocked")
    feature_gives = StringField("What the feature gives")
    code_mode = RadioField("Codes", choices=[SelectChoice("vanity", "One shared code, like SAVE20"),
                                             SelectChoice("random", "Random codes, one per person")],
                           default="random", validate_choice=False)
    code = StringField("Vanity code")
    code_prefix = StringField("Prefix of random codes")
    code_length = StringField("Random symbols after the prefix", default="12")
    quantity = StringField("How many codes or cards to generate now")
    expires_at = StringField("Expires after", render_kw={"type": "date"})
    valid_days = StringField("Or: days from issue")
    max_uses = StringField("Total uses")
    uses_per_user = StringField("Uses per customer")
    min_order = StringField("Minimum order")
    merchants = SelectMultipleField("Merchants", choices=[], validate_choice=False)
    network = SelectField("Network", choices=[], validate_choice=False)
    allowed_domains = StringField("Customer e-mail domains")
    channels = SelectMultipleField("Channels", choices=[SelectChoice("web", "Web"), SelectChoice("api", "API")],
                                   default=["web", "api"],
                                   validate_choice=False)
    weekdays = SelectMultipleField("Weekdays", choices=[SelectChoice(str(i), day) for i, day in enumerate(WEEKDAYS)],
                                   validate_choice=False)
    hours_from = StringField("From", render_kw={"type": "time"})
    hours_until = StringField("Until", render_kw={"type": "time"})
    first_order_only = BooleanField("First order only")
    max_discount = StringField("Maximum discount per use")
    max_discount_per_customer = StringField("Maximum discount per customer")

    RULES = (
        "name", "kind", "currency", "value", "discount_type", "discount_value", "feature", "feature_days", "feature_gives",
        "code_mode", "code", "code_prefix", "code_length", "expires_at", "valid_days", "max_uses", "uses_per_user", "min_order",
        "merchants", "network", "allowed_domains", "channels", "weekdays", "hours_from", "hours_until", "first_order_only",
        "max_discount", "max_discount_per_customer",
    )

    def raw(self) -> dict:
        """The rules as typed, for ``portal.campaigns.read_spec``."""
        return {name: getattr(self, name).data for name in self.RULES}


class GenerateForm(AdminForm):
    quantity = StringField("How many more")


class FullExportForm(ReasonForm):
    pass


class RecipientsForm(AdminForm):
    addresses = FileField("CSV file of e-mail addresses")


class CardSearchForm(AdminForm):
    by = SelectField("Find by", choices=[SelectChoice("code", "Code"), SelectChoice("email", "Owner's e-mail"),
                                         SelectChoice("campaign", "Campaign")],
                     default="code", validate_choice=False)
    q = StringField("Search for")


class MerchantForm(AdminForm):
    slug = StringField("Slug (in links)")
    name = StringField("Name")
    currency = StringField("Currency", default="USD")
    timezone = StringField("Time zone", default="UTC")
    loops_per_unit = StringField("Loops per 1.00 spent", default="10")
    sells_network_cards = SelectField("Cards sold at the counter work",
                                      choices=[SelectChoice("0", "Only at this merchant"),
                                               SelectChoice("1", "At every merchant")],
                                      default="0", validate_choice=False)


class TillLimitForm(AdminForm):
    confirm_sales_above = StringField("Confirm counter sales and top-ups above")


class StaffForm(AdminForm):
    email = StringField("E-mail address")
    name = StringField("Name")
    password = PasswordField("First password")


class RoleForm(ReasonForm):
    role = SelectField("Role", choices=[SelectChoice("customer", "Customer"), SelectChoice("merchant", "Merchant staff"),
                                        SelectChoice("admin", "Admin")],
                       validate_choice=False)
    merchant = SelectField("Merchant (staff only)", choices=[], validate_choice=False)


class AuditFilterForm(AdminForm):
    action = SelectField("Action", choices=[], validate_choice=False)
    actor = StringField("By (e-mail)")
    target = StringField("Target, like card:42")
    since = StringField("From", render_kw={"type": "date"})
    until = StringField("To", render_kw={"type": "date"})


class NetworkForm(AdminForm):
    name = StringField("Network name")


class NetworkMemberForm(AdminForm):
    merchant = SelectField("Merchant to add", choices=[], validate_choice=False)


class CardNetworkForm(AdminForm):
    network = SelectField("Works in the network", choices=[], validate_choice=False)


class ProgrammeKindForm(AdminForm):
    """One kind of code's programme rules; drawn with the kind as prefix, one form per kind."""

    valid_days = StringField("Default expiry (days from issue)")
    max_uses = StringField("Default maximum uses")
    channels = SelectMultipleField("Redeemed through", choices=[SelectChoice(k, v) for k, v in CHANNEL_LABELS.items()],
                                   validate_choice=False)
    roles = SelectMultipleField("Redeemed by", choices=[SelectChoice(k, v) for k, v in ROLE_LABELS.items()],
                                validate_choice=False)


class ProgrammeCurrenciesForm(AdminForm):
    currencies = StringField("Allowed currencies")

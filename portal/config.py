"""Settings from the environment (DESIGN §1), with an optional ``.env``."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

from dotenv import load_dotenv

from portal.money import EXPONENTS

PACKAGE = Path(__file__).resolve().parent
# In a checkout templates/, static/ and migrations/ sit beside the package; an installed wheel
# carries them inside it (pyproject.toml maps them), and keeps its instance/ in the working directory.
INSTALLED = (PACKAGE / "templates").is_dir()
ROOT = PACKAGE if INSTALLED else PACKAGE.parent
INSTANCE = Path.cwd() / "instance" if INSTALLED else ROOT / "instance"
DEFAULT_BODY_LIMIT = 64 * 1024


def database_url(raw: str | None) -> str:
    """Give a plain ``postgresql://`` URL (as platforms hand it out) the installed driver."""
    if not raw:
        return f"sqlite:///{INSTANCE / 'portal.db'}"
    for plain in ("postgres://", "postgresql://"):
        if raw.startswith(plain):
            return "postgresql+psycopg://" + raw[len(plain):]
    return raw


def _development_secret() -> str:
    """Generate the secret once into ``instance/`` so sessions survive restarts."""
    path = INSTANCE / "secret_key"
    if not path.exists():
        INSTANCE.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _whole_number(env, name: str, default: int) -> int:
    """A setting that counts something: a whole number, 0 or more. Raise RuntimeError otherwise."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise RuntimeError(f"{name} must be a whole number (0 or more), not {raw!r}")
    return int(raw)


def _shop_currency(env) -> str:
    """The shop's currency: an ISO 4217 code the portal knows (not Loops). Raise RuntimeError otherwise."""
    raw = (env.get("SHOP_CURRENCY") or "USD").strip().upper()
    if raw not in EXPONENTS or raw == "LOOP":
        raise RuntimeError(f"SHOP_CURRENCY must be an ISO 4217 currency code such as USD or EUR, not {raw!r}")
    return raw


def _intervals(env, name: str) -> list[int] | None:
    """Seconds between tries, comma-separated ("10,60,300"); None when unset. Raise RuntimeError otherwise."""
    raw = (env.get(name) or "").replace(" ", "")
    if not raw:
        return None
    if not all(part.isdigit() for part in raw.split(",")):
        raise RuntimeError(f"{name} must be whole numbers of seconds separated by commas, not {raw!r}")
    return [int(part) for part in raw.split(",")]


def from_environment() -> dict:
    """Read the portal's settings from the environment (and ``.env``)."""
    load_dotenv(Path.cwd() / ".env" if INSTALLED else ROOT / ".env")
    env = os.environ
    production = env.get("PORTAL_ENV", "development") == "production"
    secret = env.get("SECRET_KEY")
    if not secret:
        if production:
            raise RuntimeError("SECRET_KEY must be set when PORTAL_ENV=production")
        secret = _development_secret()
    payment_provider = env.get("PAYMENT_PROVIDER") or "test"
    if production and payment_provider == "test":
        raise RuntimeError("PAYMENT_PROVIDER=test takes no money: set PAYMENT_PROVIDER=stripe in production")
    return {
        "SECRET_KEY": secret,
        # Who takes the shop's payments (portal/payments/): "test" (offline, the default) or "stripe".
        "PAYMENT_PROVIDER": payment_provider,
        "STRIPE_SECRET_KEY": env.get("STRIPE_SECRET_KEY") or None,
        "STRIPE_WEBHOOK_SECRET": env.get("STRIPE_WEBHOOK_SECRET") or None,
        # The currency the shop sells cards and top-ups in; its programme limits are set per currency.
        "SHOP_CURRENCY": _shop_currency(env),
        "PORTAL_CODE_KEY": env.get("PORTAL_CODE_KEY") or secret,
        "SQLALCHEMY_DATABASE_URI": database_url(env.get("DATABASE_URL")),
        "REDIS_URL": env.get("REDIS_URL") or None,
        "SMTP_URL": env.get("SMTP_URL") or None,
        "MAIL_FROM": env.get("MAIL_FROM", "Giftloop <no-reply@localhost>"),
        # Seconds an e-mail waits after each failed try before the next; None: portal/notifications/delivery.py's.
        "OUTBOX_RETRY_INTERVALS": _intervals(env, "OUTBOX_RETRY_SECONDS"),
        "PORTAL_BASE_URL": env.get("PORTAL_BASE_URL", "http://127.0.0.1:5000"),
        "SESSION_COOKIE_SECURE": production or env.get("SESSION_COOKIE_SECURE") == "1",
        # Webhooks to http:// and private or loopback addresses: development receivers only (SSRF).
        "WEBHOOK_ALLOW_PRIVATE_URLS": env.get("WEBHOOK_ALLOW_PRIVATE_URLS") == "1",
        # Days events and their delivery log are kept (portal/events/retention.py).
        "EVENT_RETENTION_DAYS": int(env.get("EVENT_RETENTION_DAYS") or 30),
        # Staff and admin sessions end after this long without a visit (customers keep theirs).
        "STAFF_IDLE_TIMEOUT": timedelta(minutes=int(env.get("STAFF_IDLE_MINUTES") or 30)),
        # Bytes a request body may have; a view taking an upload states its own (portal/web/bounds.py).
        "MAX_CONTENT_LENGTH": int(env.get("MAX_CONTENT_LENGTH") or DEFAULT_BODY_LIMIT),
        # Reverse proxies in front of the app whose X-Forwarded-For / -Proto are trusted (ProxyFix).
        "TRUSTED_PROXY_HOPS": _whole_number(env, "TRUSTED_PROXY_HOPS", 0),
        # Failed code look-ups per window (DESIGN §7): per account (all of a user's tokens and
        # sessions), per client address (higher: a shop, an office or a NAT shares one), and per
        # card-code prefix (one card aimed at from many addresses).
        "GUESS_LIMIT": _whole_number(env, "GUESS_LIMIT", 10),
        "GUESS_IP_LIMIT": _whole_number(env, "GUESS_IP_LIMIT", 100),
        "GUESS_PREFIX_LIMIT": _whole_number(env, "GUESS_PREFIX_LIMIT", 30),
        "GUESS_WINDOW_SECONDS": _whole_number(env, "GUESS_WINDOW_SECONDS", 15 * 60),
        # Failed sign-ins per account, and per network address (higher: an office or a NAT shares one).
        "SIGNIN_LIMIT": _whole_number(env, "SIGNIN_LIMIT", 10),
        "SIGNIN_IP_LIMIT": _whole_number(env, "SIGNIN_IP_LIMIT", 100),
        "SIGNIN_WINDOW_SECONDS": _whole_number(env, "SIGNIN_WINDOW_SECONDS", 15 * 60),
        # Every sign-up sends an e-mail: a few per address (no mail bombing through our form), more
        # per network address.
        "SIGNUP_EMAIL_LIMIT": _whole_number(env, "SIGNUP_EMAIL_LIMIT", 3),
        "SIGNUP_IP_LIMIT": _whole_number(env, "SIGNUP_IP_LIMIT", 20),
        "SIGNUP_WINDOW_SECONDS": _whole_number(env, "SIGNUP_WINDOW_SECONDS", 60 * 60),
        # Requests per API token per window, unless the token has its own limit.
        "API_RATE_LIMIT": _whole_number(env, "API_RATE_LIMIT", 120),
        "API_RATE_WINDOW_SECONDS": _whole_number(env, "API_RATE_WINDOW_SECONDS", 60),
        # A till may name a card by its id this long after showing the card's code.
        "CARD_GRANT_SECONDS": _whole_number(env, "CARD_GRANT_SECONDS", 30 * 60),
    }


class Defaults:
    """Settings that are not taken from the environment."""

    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # Customers keep a session for a month; staff and admins at shared tills far less, and
    # STAFF_IDLE_TIMEOUT without a visit ends theirs sooner (enforced per request in portal/auth/).
    PERMANENT_SESSION_LIFETIME = timedelta(days=30)
    STAFF_SESSION_LIFETIME = timedelta(hours=8)
    ADMIN_SESSION_LIFETIME = timedelta(hours=2)
    WTF_CSRF_HEADERS = ["X-CSRFToken"]
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    ARGON2_MEMORY_KIB = 19 * 1024  # OWASP minimum for Argon2id
    ARGON2_TIME_COST = 2
    WEBHOOK_TIMEOUT_SECONDS = 10  # per POST to a receiver
    # Without Redis a campaign job this large or smaller runs inside the request (about a second);
    # a larger one in a thread, so the page answers and its progress bar moves.
    CAMPAIGN_INLINE_MAX = 5_000
    # A counter sale above this many major units of the merchant's currency is asked to be
    # confirmed, amount on the button (1,000,000.00 USD once sold on one click).
    COUNTER_CONFIRM_ABOVE = 500
    WEBHOOK_RETRY_INTERVALS = None  # None: portal/events/deliveries.py's, over about a day

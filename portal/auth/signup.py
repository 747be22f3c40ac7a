"""Sign-up that does not tell anyone whether an address has an account.

Every sign-up gets the same answer, "look in your inbox"; what arrives there differs. A new
address gets a link that creates the account, so an account is made only by someone who reads
the address's mail. An address that has an account gets a notice that someone tried, with a link
to sign in and no details of the account. The same work is done either way (the password is
hashed, one message is queued), so the answer takes as long too.

The link carries the sign-up itself, encrypted with the code vault (the password only as its
Argon2 hash): nothing is stored until it is opened, so nobody can hold an address they cannot
read. It works for LINK_LIFETIME, and once (after that the address has an account).
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy.orm import Session

from portal.auth.passwords import hash_password
from portal.auth.users import add_user, check_password_rule, has_account
from portal.cards.codes import CodeVault
from portal.emails import normalise_email
from portal.errors import ValidationError
from portal.models import User
from portal.notifications.outbox import queue_email

LINK_LIFETIME = timedelta(hours=24)
MAX_NEXT = 500  # a longer "come back to" path is dropped, keeping the link short
INVALID_LINK = "This sign-up link is not valid or has expired. Sign up again to get a new one."


@dataclass(frozen=True)
class Pending:
    """A sign-up waiting for its owner to open the link."""

    email: str
    name: str
    password_hash: str
    next: str  # a path on this site to go to afterwards, or ""
    made_at: datetime


def start(session: Session, vault: CodeVault, *, email: str, password: str, name: str, next_path: str) -> None:
    """Queue the e-mail for a sign-up with this address: the link that makes the account, or, if
    the address has one, a notice. Raise ValidationError if a rule is broken (the same for any address)."""
    email = normalise_email(email)
    check_password_rule(password)
    password_hash = hash_password(password)  # for a known address too: the same time either way
    key = uuid.uuid4().hex  # each try its own message; the sign-up throttle bounds how many
    if has_account(session, email):
        queue_email(session, key=f"signup_existing:{key}", to=email, kind="signup_existing", context={})
        return
    pending = Pending(email, name.strip(), password_hash, next_path if len(next_path) <= MAX_NEXT else "",
                      datetime.now(timezone.utc))
    queue_email(
        session, key=f"signup_confirm:{key}", to=email, kind="signup_confirm", context={},
        code=_seal(vault, pending),
    )


def pending(vault: CodeVault, token: str, now: datetime | None = None) -> Pending:
    """The sign-up a link carries. Raise ValidationError if it was altered or has expired."""
    try:
        data = json.loads(vault.decrypt(base64.urlsafe_b64decode(token.encode("ascii") + b"==")))
        found = Pending(data["email"], data["name"], data["hash"], data["next"], datetime.fromisoformat(data["at"]))
    except (ValueError, KeyError, TypeError, UnicodeError):
        raise ValidationError(INVALID_LINK) from None
    if (now or datetime.now(timezone.utc)) - found.made_at > LINK_LIFETIME:
        raise ValidationError(INVALID_LINK)
    return found


def finish(session: Session, found: Pending) -> User:
    """Create the account a link carries. Raise ValidationError if the address has one by now
    (the link was used already, or the account was made another way)."""
    if has_account(session, found.email):
        raise ValidationError("This address has an account now: sign in with it.")
    return add_user(session, found.email, found.password_hash, name=found.name)


def _seal(vault: CodeVault, found: Pending) -> str:
    plain = json.dumps({"email": found.email, "name": found.name, "hash": found.password_hash,
                        "next": found.next, "at": found.made_at.isoformat()}, separators=(",", ":"))
    return base64.urlsafe_b64encode(vault.encrypt(plain)).decode("ascii").rstrip("=")

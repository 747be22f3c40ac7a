"""Turning an outbox row into an e-mail: paired templates, the card's details, and its QR code.

Each kind of message is two templates, ``templates/email/<kind>.txt`` and ``.html``. The text
one sets the subject (``{% set subject = "…" %}``). Both see the row's context as variables,
plus ``card`` (a CardView, when the row names a card), ``code`` (the full code, only when the
row carries one encrypted), ``qr_cid`` (when that code is a card code: the inline QR image),
``recipient``, ``base_url`` and ``link(endpoint, **values)`` for absolute links. A new kind of
message (gift subscriptions, campaigns) is two new templates and one ``queue_email`` call. A
bulk order's message also carries a CSV of its codes, made when it is sent (``_attachments``).
"""

from __future__ import annotations

import functools
import hashlib
import io
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from urllib.parse import urlsplit

import qrcode
from flask import current_app
from qrcode.image.pil import PilImage
from sqlalchemy.orm import Session
from werkzeug.routing import BuildError

from portal.cards.codes import CARD_CODE_RE, mask
from portal.models import GiftCard, utcnow
from portal.models.outbox import OutboxMessage
from portal.services import services


@dataclass(frozen=True)
class CardView:
    """What a message may say about a card: never its full code."""

    id: int
    masked: str
    balance: int  # minor units, now
    currency: str
    status: str
    kind: str
    expires_at: datetime
    merchant_name: str | None
    url: str


def absolute_url(endpoint: str, **values) -> str:
    """An absolute link under PORTAL_BASE_URL (no request is needed)."""
    base = urlsplit(current_app.config.get("PORTAL_BASE_URL") or "http://127.0.0.1:5000")
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path.rstrip("/") or "/", url_scheme=base.scheme or "http"
    )
    return adapter.build(endpoint, values, force_external=True)


def _card_url(card_id: int) -> str:
    try:
        return absolute_url("customer.card", card_id=card_id)
    except BuildError:
        return current_app.config.get("PORTAL_BASE_URL", "")


def card_view(card: GiftCard) -> CardView:
    return CardView(
        id=card.id,
        masked=card.code.masked,
        balance=card.account.balance,
        currency=card.currency,
        status=card.status,
        kind=card.kind,
        expires_at=card.expires_at,
        merchant_name=card.only_at,
        url=_card_url(card.id),
    )


def qr_png(text: str) -> bytes:
    """A PNG of the QR code for ``text``, large enough to scan from a phone screen or paper."""
    maker = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8, border=4)
    maker.add_data(text)
    maker.make(fit=True)
    out = io.BytesIO()
    maker.make_image(image_factory=PilImage).save(out, format="PNG")
    return out.getvalue()


@functools.lru_cache(maxsize=8)
def _sender(mail_from: str) -> tuple[str, str]:
    """MAIL_FROM as its From header and its address's domain (read once: parsing it took as long
    as a template)."""
    name, address = parseaddr(mail_from)
    return formataddr((name, address), charset="utf-8"), address.rpartition("@")[2] or "giftloop.invalid"


def _mail_from() -> str:
    return current_app.config.get("MAIL_FROM") or "Giftloop <no-reply@localhost>"


def _sender_domain() -> str:
    return _sender(_mail_from())[1]


def message_id(key: str) -> str:
    """The Message-ID of the message with this outbox key: every copy of it carries the same one,
    so a copy sent again after a crash is recognised by mail systems that de-duplicate on it."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"<{digest}@{_sender_domain()}>"


def masked_address(address: str) -> str:
    """``c***@example.com``: enough to tell messages apart in a log."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


# Beyond ASCII, quoted-printable: the text stays readable in the source, no line exceeds SMTP's limit.
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP
_LONGEST_LINE = 998  # RFC 5322 §2.1.1


def _text_part(body: str, subtype: str) -> MIMEText:
    """A text part as it is (7bit) when plain ASCII in short enough lines, as most of ours are:
    quoted-printable in pure Python cost more than everything else in sending a message."""
    if body.isascii() and max(map(len, body.splitlines()), default=0) <= _LONGEST_LINE:
        return MIMEText(body, subtype, "us-ascii")
    return MIMEText(body, subtype, _UTF8)


def _boundary() -> str:
    """A MIME boundary no text can contain by chance (128 random bits)."""
    return f"=_giftloop_{secrets.token_hex(16)}"


def _header(value: str) -> str | Header:
    """A header's text as written: as it is when plain ASCII, else encoded (RFC 2047)."""
    return value if value.isascii() else Header(value, "utf-8")


@dataclass
class Rendered:
    message: Message
    subject: str
    text: str
    html: str
    masked_code: str | None  # the card's or the carried code's masked form, for logs


def render(session: Session, row: OutboxMessage) -> Rendered:
    """Build the e-mail for an outbox row: plain text and HTML, and the QR code inline where a
    card code is carried. Raise jinja2's TemplateError for a broken template, ValueError if the
    carried code does not decrypt."""
    code = services().vault.decrypt(row.code_ciphertext) if row.code_ciphertext else None
    card = session.get(GiftCard, row.card_id) if row.card_id is not None else None
    view = card_view(card) if card is not None else None
    qr_cid = make_msgid(domain=_sender_domain()) if code and CARD_CODE_RE.fullmatch(code) else None
    variables = {
        **row.context,
        "card": view,
        "code": code,
        "qr_cid": qr_cid[1:-1] if qr_cid else None,
        "recipient": row.recipient,
        "base_url": current_app.config.get("PORTAL_BASE_URL", ""),
        "link": absolute_url,
    }
    env = current_app.jinja_env
    text_module = env.get_template(f"email/{row.kind}.txt").make_module(variables)
    subject = " ".join(str(getattr(text_module, "subject", "") or "Giftloop").split())
    text = str(text_module).strip() + "\n"
    html = env.get_template(f"email/{row.kind}.html").render(variables, subject=subject)

    # The classic email.mime classes: building a message with EmailMessage's header registry cost
    # ten times as much (2 ms against 0.2), more than sending it over an open connection.
    html_part: Message = _text_part(html, "html")
    if qr_cid:
        related = MIMEMultipart("related", _boundary())
        related.attach(html_part)
        image = MIMEImage(qr_png(code), "png")
        image["Content-ID"] = qr_cid
        image.add_header("Content-Disposition", "inline", filename="gift-card-qr.png")
        related.attach(image)
        html_part = related
    # Boundaries drawn here: left to the generator, each costs a scan of the whole message.
    message = MIMEMultipart("alternative", _boundary(), [_text_part(text, "plain"), html_part])
    files = _attachments(session, row)
    if files:
        message = MIMEMultipart("mixed", _boundary(), [message, *files])
    message["Subject"] = _header(subject)
    message["From"] = _sender(_mail_from())[0]
    message["To"] = row.recipient
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = message_id(row.key)
    message["Auto-Submitted"] = "auto-generated"
    masked = mask(code) if code else (view.masked if view else None)
    return Rendered(message=message, subject=subject, text=text, html=html, masked_code=masked)


# The files a kind of message carries, made as it is sent (no code rests in the outbox): each kind's
# own domain names its maker (``attach_to``), so this module needs to know none of them.
AttachmentMaker = Callable[[Session, OutboxMessage], list[tuple[str, str]]]
_makers: dict[str, AttachmentMaker] = {}


def attach_to(kind: str) -> Callable[[AttachmentMaker], AttachmentMaker]:
    """Register the maker of a kind's attachments: (session, row) -> [(file name, CSV text)]."""

    def register(maker: AttachmentMaker) -> AttachmentMaker:
        _makers[kind] = maker
        return maker

    return register


def _attachments(session: Session, row: OutboxMessage) -> list[Message]:
    parts = []
    for filename, content in _makers[row.kind](session, row) if row.kind in _makers else []:
        part = _text_part(content, "csv")
        part.add_header("Content-Disposition", "attachment", filename=filename)
        parts.append(part)
    return parts

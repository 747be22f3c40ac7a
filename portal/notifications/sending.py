"""Handing a finished message over: to an SMTP server (SMTP_URL), or as an .eml file (the default)."""

from __future__ import annotations

import functools
import os
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from flask import current_app

SMTP_TIMEOUT_SECONDS = 30
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    ssl: bool = False  # smtps://: TLS from the first byte
    starttls: bool = False  # smtp://…?starttls=1: upgrade a plain connection

    def __repr__(self) -> str:  # never print the password
        who = f"{self.username}@" if self.username else ""
        return f"SmtpSettings({'smtps' if self.ssl else 'smtp'}://{who}{self.host}:{self.port}, starttls={self.starttls})"


def parse_smtp_url(url: str) -> SmtpSettings:
    """Read ``smtp://user:pass@host:port``, ``smtps://…`` or ``smtp://…?starttls=1``.

    The port defaults to 465 for smtps and 25 (587 with STARTTLS) otherwise; user and password
    are percent-decoded. Raise ValueError for another scheme, a missing host or a bad port.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("SMTP_URL starts with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("SMTP_URL names no host")
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    use_ssl = parts.scheme == "smtps"
    starttls = not use_ssl and query.get("starttls", "").lower() in _TRUE
    try:
        port = parts.port
    except ValueError:
        raise ValueError("SMTP_URL has a bad port") from None
    if port is None:
        port = 465 if use_ssl else 587 if starttls else 25
    return SmtpSettings(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        ssl=use_ssl,
        starttls=starttls,
    )


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings with the system's CA store, loaded once per process: loading the store
    costs more than sending a message. ``portal worker`` loads it when it starts
    (``portal.jobs.runtime.prepare``); plain ``smtp://`` never needs it."""
    return ssl.create_default_context()


def send_smtp(settings: SmtpSettings, message: EmailMessage) -> None:
    """Send one message; returns once the server accepted it. smtplib's errors pass through."""
    if settings.ssl:
        client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=SMTP_TIMEOUT_SECONDS, context=tls_context())
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=SMTP_TIMEOUT_SECONDS)
    with client:
        if settings.starttls:
            client.starttls(context=tls_context())
        if settings.username:
            client.login(settings.username, settings.password or "")
        client.send_message(message)


def outbox_dir() -> Path:
    """Where .eml files go without SMTP_URL: OUTBOX_DIR, by default instance/outbox."""
    configured = current_app.config.get("OUTBOX_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "outbox"


def write_eml(directory: Path, name: str, message: EmailMessage) -> Path:
    """Write the message as ``<name>.eml`` (whole or not at all); returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.eml"
    partial = directory / f".{name}.eml.partial"
    partial.write_bytes(message.as_bytes())
    os.replace(partial, path)
    return path


def hand_over(message: EmailMessage, name: str) -> str:
    """Send by SMTP if SMTP_URL is set, else write an .eml file; returns where it went (for the log)."""
    url = current_app.config.get("SMTP_URL")
    if url:
        settings = parse_smtp_url(url)
        send_smtp(settings, message)
        return f"{settings.host}:{settings.port}"
    return str(write_eml(outbox_dir(), name, message))

"""Handing a finished message over: to an SMTP server (SMTP_URL), or as an .eml file (the default)."""

from __future__ import annotations

import functools
import os
import smtplib
import ssl
from dataclasses import dataclass
from email.message import Message
from email.policy import Compat32
from email.utils import parseaddr
from pathlib import Path
from typing import Self
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
    (``portal.jobs.worker.prepare``); plain ``smtp://`` never needs it."""
    return ssl.create_default_context()


def connect(settings: SmtpSettings) -> smtplib.SMTP:
    """An SMTP connection, greeted, upgraded to TLS and logged in as the settings ask. smtplib's
    errors pass through."""
    if settings.ssl:
        client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=SMTP_TIMEOUT_SECONDS, context=tls_context())
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=SMTP_TIMEOUT_SECONDS)
    try:
        if settings.starttls:
            client.starttls(context=tls_context())
        if settings.username:
            client.login(settings.username, settings.password or "")
    except BaseException:
        client.close()
        raise
    return client


def outbox_dir() -> Path:
    """Where .eml files go without SMTP_URL: OUTBOX_DIR, by default instance/outbox."""
    configured = current_app.config.get("OUTBOX_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "outbox"


def write_eml(directory: Path, name: str, message: Message) -> Path:
    """Write the message as ``<name>.eml`` (whole or not at all); returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.eml"
    partial = directory / f".{name}.eml.partial"
    partial.write_bytes(message.as_bytes())
    os.replace(partial, path)
    return path


class _Wire(Compat32):
    """The classic policy as sent over SMTP (CRLF), writing a short plain header as it is:
    folding every header through email.header cost more than the rest of sending the message."""

    def _fold(self, name: str, value, sanitize: bool) -> str:
        if (
            isinstance(value, str) and value.isascii() and "\n" not in value and "\r" not in value
            and len(name) + len(value) + 2 <= self.max_line_length
        ):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


_WIRE = _Wire(linesep="\r\n")


@functools.lru_cache(maxsize=8)
def _address(header: str) -> str:
    return parseaddr(header)[1]


def _send(client: smtplib.SMTP, message: Message) -> None:
    """One message to its To address over an open connection (SMTPUTF8 for an address beyond ASCII)."""
    sender, recipient = _address(str(message["From"])), message["To"]
    options = () if f"{sender}{recipient}".isascii() else ("SMTPUTF8",)
    client.sendmail(sender, [recipient], message.as_bytes(policy=_WIRE), mail_options=options)


class Mailer:
    """Hands messages over one after another: by SMTP if SMTP_URL is set, over one connection
    kept open from message to message, else as .eml files. A context manager: the connection
    ends (QUIT) with it.

    A message the server refuses leaves the connection as it was (smtplib resets the exchange);
    any other failure drops it, and the next message opens a new one. If a connection cannot be
    opened at all, every later message of this mailer fails with the same error without trying:
    a batch does not knock on a closed door once per message.
    """

    def __init__(self, url: str | None, directory: Path) -> None:
        self._url, self._directory = url, directory
        self._client: smtplib.SMTP | None = None
        self._unreachable: Exception | None = None
        self._where = ""

    def send(self, message: Message, name: str) -> str:
        """Send (or write as ``<name>.eml``) one message; returns where it went, for the log.
        Returns once the server accepted it; raise smtplib's errors, OSError or ValueError (a bad SMTP_URL)."""
        if not self._url:
            return str(write_eml(self._directory, name, message))
        if self._unreachable is not None:
            raise self._unreachable
        if self._client is None:
            try:
                settings = parse_smtp_url(self._url)
                self._client = connect(settings)
            except Exception as error:
                self._unreachable = error
                raise
            self._where = f"{settings.host}:{settings.port}"
        try:
            _send(self._client, message)
        except smtplib.SMTPRecipientsRefused:
            raise
        except smtplib.SMTPResponseException as error:
            if error.smtp_code == 421:  # the server is closing the connection
                self._drop()
            raise
        except Exception:
            self._drop()
            raise
        return self._where

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        if self._client is not None:
            try:
                self._client.quit()
            except (smtplib.SMTPException, OSError):
                pass  # every message was answered already; a lost goodbye changes nothing
            self._drop()


def mailer() -> Mailer:
    """A Mailer for this app's settings: SMTP_URL, or the outbox directory."""
    return Mailer(current_app.config.get("SMTP_URL"), outbox_dir())

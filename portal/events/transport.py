"""Posting to a receiver's URL without becoming a way into our own network (SSRF).

The host is resolved once, every address it resolves to is checked, and the connection goes to
the checked address (so a DNS answer cannot change between the check and the connect); TLS
still verifies the certificate for the host name. Redirects are not followed. Every address that
is not public unicast internet (``portal/events/addresses.py``) is refused, when the endpoint is
added and at every delivery (a name may resolve elsewhere by then: DNS rebinding), unless
WEBHOOK_ALLOW_PRIVATE_URLS is set (tests and development receivers on 127.0.0.1).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from portal.errors import ValidationError
from portal.events.addresses import is_numeric_spelling, is_public, literal

MAX_URL = 2000
# Enough of an answer to show in the log; the rest is not read.
ANSWER_BYTES = 500


@dataclass(frozen=True)
class Answer:
    status: int
    body: str


def check_url(url: str, *, allow_private: bool) -> str:
    """The URL, trimmed, if an endpoint may have it. Raise ValidationError (field "url") if not.

    Production endpoints are https on a public host; ``allow_private`` also lets http and
    private or loopback hosts through. An IPv4 address spelled other than as four dotted decimals
    is refused either way.
    """
    url = (url or "").strip()
    if not url:
        raise ValidationError("Give the URL that should receive the events", field="url")
    if len(url) > MAX_URL:
        raise ValidationError(f"A URL is at most {MAX_URL} characters", field="url")
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValidationError(
            "Give a full https:// URL, like https://pos.example.com/giftloop" if not allow_private
            else "Give a full http:// or https:// URL, like https://pos.example.com/giftloop",
            field="url",
        )
    if parts.username or parts.password:
        raise ValidationError("Leave user names and passwords out of the URL; events are signed instead", field="url")
    try:
        parts.port
    except ValueError:
        raise ValidationError("The port in this URL is not a number from 1 to 65535", field="url") from None
    host = parts.hostname.rstrip(".")
    if is_numeric_spelling(host):
        raise ValidationError(
            "Write an IP address as four numbers from 0 to 255 with dots, like 203.0.113.7, or use a host name",
            field="url",
        )
    if not allow_private:
        address = literal(host)
        if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost") or (
            address is not None and not is_public(address)
        ):
            raise ValidationError("Events can only be sent to a public internet address", field="url")
    return url


def _resolve(host: str, port: int, allow_private: bool) -> str:
    """One address of the host that we may connect to. Raise OSError if there is none."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise OSError(f"{host} has no address")
    if not allow_private:
        refused = [a for a in addresses if not is_public(ipaddress.ip_address(a.split("%")[0]))]
        if refused:
            raise OSError(f"{host} resolves to a private address ({refused[0]}); not sent")
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host, address, **kwargs):
        super().__init__(host, **kwargs)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, address, **kwargs):
        super().__init__(host, context=ssl.create_default_context(), **kwargs)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow_private: bool) -> Answer:
    """POST ``body`` to ``url``; the receiver's status and the start of its answer.

    Raise OSError (and its kin: timeouts, refused connections, TLS errors) if no answer came.
    """
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    address = _resolve(parts.hostname, port, allow_private)
    kind = _PinnedHTTPSConnection if secure else _PinnedHTTPConnection
    connection = kind(parts.hostname, address, port=port, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", path, body=body, headers={**headers, "Content-Type": "application/json"})
        response = connection.getresponse()
        text = response.read(ANSWER_BYTES).decode("utf-8", errors="replace")
        return Answer(response.status, text)
    except http.client.HTTPException as error:
        raise OSError(f"{type(error).__name__}: {error}") from error
    finally:
        connection.close()

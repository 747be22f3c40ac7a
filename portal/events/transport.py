"""Posting to a receiver's URL without becoming a way into our own network (SSRF).

The host is resolved once, every address it resolves to is checked, and the connection goes to
the checked address (so a DNS answer cannot change between the check and the connect); TLS
still verifies the certificate for the host name. Redirects are not followed. Private, loopback,
link-local and reserved addresses are refused unless WEBHOOK_ALLOW_PRIVATE_URLS is set (tests
and development receivers on 127.0.0.1).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from portal.errors import ValidationError

MAX_URL = 2000
# Enough of an answer to show in the log; the rest is not read.
ANSWER_BYTES = 500


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Answer:
    status: int
    body: str


def check_url(url: str, *, allow_private: bool) -> str:
    """The URL, trimmed, if an endpoint may have it. Raise ValidationError (field "url") if not.

    Production endpoints are https on a public host; ``allow_private`` also lets http and
    private or loopback hosts through.
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
    if not allow_private:
        literal = _literal(parts.hostname)
        if parts.hostname.lower() in ("localhost", "localhost.localdomain") or (literal and not _public(literal)):
            raise ValidationError("Events can only be sent to a public internet address", field="url")
    return url


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _resolve(host: str, port: int, allow_private: bool) -> str:
    """One address of the host that we may connect to. Raise OSError if there is none."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise OSError(f"{host} has no address")
    if not allow_private:
        refused = [a for a in addresses if not _public(ipaddress.ip_address(a.split("%")[0]))]
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

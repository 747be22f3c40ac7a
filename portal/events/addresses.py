"""Which addresses a webhook may reach: public unicast internet hosts only (SSRF).

``ipaddress``'s ``is_global`` is the base, but on Python 3.11 it calls NAT64 (64:ff9b::/96),
6to4 (2002::/16), the old IPv4-compatible form (::a.b.c.d), IPv4-mapped addresses of public
hosts, multicast and several newer special-purpose blocks "global". A NAT64 or 6to4 gateway turns
such an address into the IPv4 host it embeds (64:ff9b::7f00:1 is 127.0.0.1), so these ranges are
refused whole, whatever they embed, and so are all the blocks of the IANA special-purpose address
registries (iana.org/assignments/iana-ipv4-special-registry and iana-ipv6-special-registry, as of
2025) even where the registry marks one "globally reachable": no receiver of ours lives in an
anycast relay, a benchmarking net or a documentation prefix.

Host names spelled as numbers other than the four dotted decimals (``127.1``, ``0x7f000001``,
``2130706433``, ``017700000001``) are refused outright: resolvers and URL parsers read them
differently, which is how a check is passed by one reading and the connection made to another.
"""

from __future__ import annotations

import ipaddress
import socket

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_SPECIAL_V4 = [ipaddress.IPv4Network(block) for block in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, and 255.255.255.255 in it
)]
# Every IPv6 address outside 2000::/3 (the global unicast space) is refused; within it, these.
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_SPECIAL_V6 = [ipaddress.IPv6Network(block) for block in (
    "2001::/23",  # IETF protocol assignments: Teredo 2001::/32, benchmarking, ORCHID, AMT, AS112, ...
    "2001:db8::/32",  # documentation
    "2002::/16",  # 6to4
    "2620:4f:8000::/48",  # AS112 direct delegation
    "3fff::/20",  # documentation
)]


def is_public(address: Address) -> bool:
    """Whether a webhook may be sent to this address."""
    if isinstance(address, ipaddress.IPv6Address):
        # Outside 2000::/3 lie ::/8 (loopback, unspecified, IPv4-mapped and -compatible), NAT64
        # 64:ff9b::/96 and 64:ff9b:1::/48, discard 100::/64, SRv6 5f00::/16, ULA, link-local, multicast.
        if address not in _GLOBAL_UNICAST_V6 or any(address in block for block in _SPECIAL_V6):
            return False
    elif any(address in block for block in _SPECIAL_V4):
        return False
    return address.is_global and not address.is_multicast


def literal(host: str) -> Address | None:
    """The address a URL's host names, if it is an IP address in its usual spelling."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_numeric_spelling(host: str) -> bool:
    """Whether the host is an IPv4 address written some other way than four dotted decimals:
    what inet_aton (and so getaddrinfo) takes as an address, or a name whose last label is a
    number (a URL parser in a browser or proxy reads ``a.0x7f`` as an IPv4 address too)."""
    host = host.rstrip(".")
    if literal(host) is not None:
        return False
    try:
        socket.inet_aton(host)
        return True
    except OSError:
        pass
    last = host.rpartition(".")[2].lower()
    return bool(last) and (last.isdigit() or (last.startswith("0x") and all(c in "0123456789abcdef" for c in last[2:])))

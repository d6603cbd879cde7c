"""Which addresses a subscribed ICS URL may reach (SSRF protection). A user-supplied URL must
not make the server talk to itself, its private network or a cloud metadata service: every
address a host name resolves to is checked here, and the fetcher connects to the checked
address itself (server/ics/fetch.py), so a second DNS answer cannot slip another one in."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

from server.config import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata services (AWS, GCP, Azure, OpenStack; AWS's IPv6 one): never reachable.
METADATA = frozenset({ipaddress.ip_address("169.254.169.254"),
                      ipaddress.ip_address("fd00:ec2::254"),
                      ipaddress.ip_address("169.254.170.2")})
# Ranges that the ipaddress flags miss or that embed an IPv4 address.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
SIXTOFOUR = ipaddress.ip_network("2002::/16")


class RefusedAddress(Exception):
    """The URL leads to an address the server must not fetch; the message says why."""


def _embedded(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    return None


def why_refused(address: Address) -> str | None:
    """Why `address` is not a public unicast address (None when it is one)."""
    inner = _embedded(address)
    if inner is not None:
        reason = why_refused(inner)
        return f"{reason} (inside {address})" if reason else None
    if address in METADATA:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_private or address.is_reserved or not address.is_global:
        return "a private or reserved address"
    return None


def check(address: Address, allowed: Sequence[Network]) -> None:
    """Raise RefusedAddress unless `address` is public, or inside a configured network
    (ics.allowed_networks). Metadata addresses are refused whatever the configuration."""
    inner = _embedded(address) or address
    if inner in METADATA or address in METADATA:
        raise RefusedAddress(f"{address} is a cloud metadata address; it is never fetched")
    reason = why_refused(address)
    if reason is None:
        return
    if any(candidate in network for network in allowed for candidate in {address, inner}
           if candidate.version == network.version):
        return
    raise RefusedAddress(f"{address} is {reason}; the server does not fetch such addresses "
                         "(an administrator may allow a network with ics.allowed_networks)")


def parse_literal(host: str) -> Address | None:
    """`host` as an IP address when it is one (brackets of an IPv6 URL removed)."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


def resolve(host: str, port: int, allowed: Sequence[Network]) -> Address:
    """The address to connect to for `host`: every address it resolves to must pass `check`
    (a name with one private address among public ones is refused), the first is used."""
    literal = parse_literal(host)
    if literal is not None:
        check(literal, allowed)
        return literal
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise LookupError(f"the host {host} could not be resolved ({exc})") from None
    addresses: list[Address] = []
    for _family, _kind, _proto, _name, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise LookupError(f"the host {host} has no address")
    for address in addresses:
        check(address, allowed)
    return addresses[0]

"""Which addresses a user-supplied URL may reach (SSRF protection), for every provider that
fetches one: ICS URLs (server/ics/fetch.py connects to the checked address itself, so a second
DNS answer cannot slip another one in) and CalDAV servers (server/caldav/client.py checks every
URL it requests and every redirect before it is followed, and its connections go to the
addresses checked: server/sync/pinning.py). A URL must not make the server talk
to itself, its private network or a cloud metadata service: every address a host name resolves
to is checked."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

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


def check(address: Address, allowed: Sequence[Network],
          setting: str = "ics.allowed_networks") -> None:
    """Raise RefusedAddress unless `address` is public, or inside a configured network
    (`setting`). Metadata addresses are refused whatever the configuration."""
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
                         f"(an administrator may allow a network with {setting})")


def parse_literal(host: str) -> Address | None:
    """`host` as an IP address when it is one (brackets of an IPv6 URL removed)."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


def system_lookup(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to (the system's resolver); LookupError when none."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise LookupError(f"the host {host} was not found (check the address)") from None
    addresses: list[Address] = []
    for _family, _kind, _proto, _name, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise LookupError(f"the host {host} was not found (it has no address)")
    return addresses


# How host names are resolved: the system's resolver; tests inject their own (DNS is not ours).
Lookup = Callable[[str, int], list[Address]]


def resolve(host: str, port: int, allowed: Sequence[Network],
            lookup: Lookup = system_lookup) -> Address:
    """The address to connect to for `host`: every address it resolves to must pass `check`
    (a name with one private address among public ones is refused), the first is used."""
    literal = parse_literal(host)
    if literal is not None:
        check(literal, allowed)
        return literal
    addresses = lookup(host, port)
    for address in addresses:
        check(address, allowed)
    return addresses[0]


@dataclass
class UrlGuard:
    """The addresses a client of user-supplied servers may request (CalDAV): public hosts,
    configured networks, or every private one with `allow_private` (never a metadata
    address); plain http only with `allow_http`.

    A host's checked addresses are pinned for `ttl` seconds: `addresses` answers them without
    asking DNS again, and the client connects to them only (server/sync/pinning.py), so a
    second DNS answer (rebinding) cannot slip another address in between the check and the
    connection. After `ttl` the name is resolved and checked again (a provider that moves)."""

    allowed: tuple[Network, ...] = ()
    allow_private: bool = False
    allow_http: bool = False
    setting: str = "caldav.allowed_networks"
    lookup: Lookup = field(default=system_lookup, repr=False)
    ttl: float = 300.0
    monotonic: Callable[[], float] = field(default=time.monotonic, repr=False)
    _pinned: dict[tuple[str, int], tuple[float, list[Address]]] = field(
        default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check_url(self, url: str) -> None:
        """Raise RefusedAddress when `url` must not be requested; the message says why."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise RefusedAddress(f"{parts.scheme or 'a relative'} address is not a server")
        if parts.scheme == "http" and not self.allow_http:
            raise RefusedAddress(f"{parts.hostname} was asked over plain http:// (the password "
                                 "would cross the network in clear)")
        self.addresses(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))

    def addresses(self, host: str, port: int) -> list[Address]:
        """The checked addresses of `host` to connect to (pinned; resolved and checked when
        not yet, or when the pin is older than `ttl`); RefusedAddress when any is refused."""
        key = (host.lower().rstrip("."), port)
        now = self.monotonic()
        with self._lock:
            pinned = self._pinned.get(key)
            if pinned is not None and pinned[0] > now:
                return pinned[1]
        literal = parse_literal(host)
        try:
            found = [literal] if literal is not None else self.lookup(host, port)
        except LookupError as exc:
            raise RefusedAddress(str(exc)) from None
        for address in found:
            if self.allow_private:
                inner = _embedded(address) or address
                if inner in METADATA or address in METADATA:
                    raise RefusedAddress(f"{address} is a cloud metadata address; it is never "
                                         "requested")
            else:
                check(address, self.allowed, self.setting)
        with self._lock:
            self._pinned[key] = (now + self.ttl, found)
        return found

"""Connections to the addresses the SSRF guard checked (server/sync/addresses.py), for clients
built on niquests (python-caldav's DAVClient): a resolver that answers every host name with
the addresses its `UrlGuard` checked and pinned, so the HTTP library never asks DNS itself.
Without it the guard would check one DNS answer and the library connect to another (DNS
rebinding: a name answering a public address first, then a private one). The host name stays
the request's: its Host header, the TLS SNI and certificate verification are for the name, as
if it had been resolved normally."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import niquests
from urllib3.contrib.resolver import BaseResolver, ProtocolResolver

from server.sync.addresses import UrlGuard


class PinnedResolver(BaseResolver):  # type: ignore[misc]
    """A urllib3-future resolver answering from `guard` (its checked, pinned addresses); a
    refused name raises the guard's RefusedAddress, so nothing is connected to."""

    implementation = "bookingcal-pinned"
    protocol = ProtocolResolver.CUSTOM

    def __init__(self, guard: UrlGuard) -> None:
        super().__init__(None, None)
        self.guard = guard

    def recycle(self) -> BaseResolver:
        return self

    def close(self) -> None:
        """Nothing to release (the guard keeps no connection)."""

    def is_available(self) -> bool:
        return True

    def getaddrinfo(self, host: bytes | str | None, port: str | int | None,
                    family: socket.AddressFamily, type: socket.SocketKind, proto: int = 0,
                    flags: int = 0, *, quic_upgrade_via_dns_rr: bool = False) -> list[Any]:
        """The pinned addresses of `host` in socket.getaddrinfo's shape (of `family`, unless
        AF_UNSPEC)."""
        name = host.decode("ascii") if isinstance(host, bytes) else (host or "localhost")
        number = int(port or 0)
        records: list[Any] = []
        for address in self.guard.addresses(name, number):
            where: tuple[str, int] | tuple[str, int, int, int]
            if isinstance(address, ipaddress.IPv4Address):
                kind, where = socket.AF_INET, (str(address), number)
            else:
                kind, where = socket.AF_INET6, (str(address), number, 0, 0)
            if family not in (socket.AF_UNSPEC, kind):
                continue
            records.append((kind, type or socket.SOCK_STREAM, proto or socket.IPPROTO_TCP,
                            "", where))
        if not records:
            raise socket.gaierror(socket.EAI_NONAME, f"{name} has no checked address of the "
                                                     "family asked")
        return records


def pinned_session(guard: UrlGuard) -> niquests.Session:
    """A niquests session whose every connection (redirects included) goes to an address
    `guard` checked."""
    return niquests.Session(resolver=PinnedResolver(guard))

"""The SSRF guard of ICS sources (server/sync/addresses.py): which addresses a subscribed URL may
reach, IPv4, IPv6 and IPv6 forms carrying an IPv4 address; configured networks; metadata
addresses never; a name resolving to one private address among public ones refused."""

from __future__ import annotations

import ipaddress

import pytest

from server.sync import addresses as guard


def ip(text: str) -> guard.Address:
    return ipaddress.ip_address(text)


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.255.0.9", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.1.1",
    "169.254.169.254", "0.0.0.0", "100.64.0.1", "224.0.0.1", "255.255.255.255", "198.18.0.1",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "fd00:ec2::254",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a00:1",
    "2002:7f00:1::1", "2002:a9fe:a9fe::1",
])
def test_refused(address: str) -> None:
    with pytest.raises(guard.RefusedAddress):
        guard.check(ip(address), ())


@pytest.mark.parametrize("address", [
    "93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8",
    "64:ff9b::808:808", "2002:808:808::1",
])
def test_public_addresses_pass(address: str) -> None:
    guard.check(ip(address), ())


def test_configured_networks_are_allowed_but_metadata_never() -> None:
    allowed = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("169.254.0.0/16"),
               ipaddress.ip_network("fd00::/8"))
    guard.check(ip("127.0.0.1"), allowed)
    guard.check(ip("::ffff:127.0.0.1"), allowed)  # the mapped form of an allowed address
    guard.check(ip("fd12::1"), allowed)
    for metadata in ("169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"):
        with pytest.raises(guard.RefusedAddress, match="metadata"):
            guard.check(ip(metadata), allowed)
    with pytest.raises(guard.RefusedAddress, match="ics.allowed_networks"):
        guard.check(ip("10.0.0.1"), allowed)


def test_the_reason_is_named() -> None:
    with pytest.raises(guard.RefusedAddress, match="loopback"):
        guard.check(ip("127.0.0.1"), ())
    with pytest.raises(guard.RefusedAddress, match="link-local"):
        guard.check(ip("fe80::1"), ())
    with pytest.raises(guard.RefusedAddress, match="private"):
        guard.check(ip("::ffff:192.168.0.1"), ())


def test_resolve_checks_literals_and_every_address_of_a_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert guard.resolve("[::ffff:8.8.8.8]", 443, ()) == ip("::ffff:8.8.8.8")
    with pytest.raises(guard.RefusedAddress):
        guard.resolve("127.0.0.1", 443, ())
    with pytest.raises(guard.RefusedAddress):
        guard.resolve("localhost", 443, ())  # the system's resolver: a loopback answer

    def answers(*addresses: str) -> object:
        return lambda host, port, type=0: [
            (0, 0, 0, "", (address, port)) for address in addresses]

    monkeypatch.setattr(guard.socket, "getaddrinfo", answers("93.184.216.34", "10.0.0.7"))
    with pytest.raises(guard.RefusedAddress, match="10.0.0.7"):
        guard.resolve("mixed.example", 443, ())
    monkeypatch.setattr(guard.socket, "getaddrinfo", answers("93.184.216.34"))
    assert guard.resolve("public.example", 443, ()) == ip("93.184.216.34")

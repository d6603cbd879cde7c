"""The account owner's calendar user addresses (RFC 6638 calendar-user-address-set), found by
discovery and stored with the connection, decide whose PARTSTAT counts: an event the owner
declined under an address other than the user name blocks nothing, one accepted blocks. Stock
Xandikos keeps the property as its principal is told by PROPPATCH (as an admin would set it);
stock Radicale names only the principal's URL there, so the user name stands in for the
owner's mail address. One server of each kind serves the whole module."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from caldav.davclient import DAVClient
from sqlalchemy import select

from caldav_servers import Server, radicale, xandikos
from caldav_world import CalDAVWorld, make_caldav_world
from server.caldav import dav, discovery, owner
from server.db.models import CalDAVConnection, CalDAVMirroredEvent
from server.sync.engine import Engine

UTC = dt.timezone.utc
# The owner's address as the server knows it: not the user name (anna@example.com), and in
# another case than the invitations write it.
ADDRESS = "mailto:Anna.Berg@Salon.Example"


def _set_addresses(server: Server, addresses: list[str]) -> None:
    """PROPPATCH the principal's calendar-user-address-set (Xandikos stores it)."""
    client = DAVClient(url=server.url, username=server.user, password=server.password,
                       enable_rfc6764=False)
    principal = str(client.principal().url)
    hrefs = "".join(f"<D:href>{address}</D:href>" for address in addresses)
    body = ('<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
            f"<C:calendar-user-address-set>{hrefs}</C:calendar-user-address-set>"
            "</D:prop></D:set></D:propertyupdate>")
    answer = client.proppatch(principal, body)
    assert answer.status == 207 and "200" in str(answer.raw), answer.raw


@pytest.fixture(scope="module")
def xandikos_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with xandikos(tmp_path_factory.mktemp("xandikos")) as server:
        _set_addresses(server, [ADDRESS, "urn:uuid:6f1c9a5e-anna"])
        yield server


@pytest.fixture(scope="module")
def radicale_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with radicale(tmp_path_factory.mktemp("radicale")) as server:
        yield server


def sync(world: CalDAVWorld) -> None:
    [report] = Engine(world.runtime, worker="t", providers=[world.provider()]).run_once(
        force_pull=True)
    assert report.error is None, report.error


def invitation(world: CalDAVWorld, uid: str, day: int, hour: int, attendee: str) -> str:
    """A meeting someone invited the owner to, as the owner's phone stores it; its name."""
    begin = dt.datetime.combine(world.first_day + dt.timedelta(days=day), dt.time(hour),
                                tzinfo=UTC)
    text = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//phone//EN", "BEGIN:VEVENT",
        f"UID:{uid}", "DTSTAMP:20200101T000000Z", f"DTSTART:{begin:%Y%m%dT%H%M%SZ}",
        f"DTEND:{begin + dt.timedelta(hours=1):%Y%m%dT%H%M%SZ}", "SUMMARY:Meeting",
        "ORGANIZER:mailto:boss@example.com", attendee,
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:boss@example.com", "END:VEVENT",
        "END:VCALENDAR"]) + "\r\n"
    made = world.server.dav().calendar(url=world.server.calendar_url).save_event(text)
    return dav.name_of(str(made.url))


def mirrored(world: CalDAVWorld) -> dict[str, tuple[bool, str | None]]:
    with world.runtime.db.read() as session:
        return {row.event_id: (row.blocks, row.self_response) for row in session.execute(
            select(CalDAVMirroredEvent)).scalars()}


def stored(world: CalDAVWorld) -> list[str] | None:
    with world.runtime.db.read() as session:
        return owner.load(session.get(CalDAVConnection, world.connection).addresses)


def test_discovery_finds_the_principals_addresses(xandikos_server: Server) -> None:
    account = discovery.discover(xandikos_server.url, xandikos_server.user,
                                 xandikos_server.password, allow_http=True,
                                 allow_private=True, timeout=10)
    assert account.addresses == [ADDRESS, "urn:uuid:6f1c9a5e-anna"]


def test_the_owners_answer_under_a_discovered_address_decides(
        xandikos_server: Server, tmp_path: Path, database_url: str) -> None:
    with make_caldav_world(tmp_path, database_url, xandikos_server) as world:
        assert stored(world) == [ADDRESS, "urn:uuid:6f1c9a5e-anna"]
        tag = tmp_path.name[-12:]
        declined = invitation(world, f"declined-{tag}", 1, 9,
                              "ATTENDEE;PARTSTAT=DECLINED:mailto:anna.berg@salon.example")
        accepted = invitation(world, f"accepted-{tag}", 1, 11,
                              "ATTENDEE;PARTSTAT=ACCEPTED:MAILTO:ANNA.BERG@salon.example")
        by_uri = invitation(world, f"uri-{tag}", 1, 13,
                            "ATTENDEE;PARTSTAT=DECLINED:urn:uuid:6f1c9a5e-anna")
        # The user name is not one of the server's addresses: that attendee is someone else.
        other = invitation(world, f"other-{tag}", 1, 15,
                           "ATTENDEE;PARTSTAT=DECLINED:mailto:anna@example.com")
        sync(world)
        found = mirrored(world)
        assert found[declined] == (False, "declined")
        assert found[accepted] == (True, "accepted")
        assert found[by_uri] == (False, "declined")
        assert found[other] == (True, None)


def test_without_a_mail_address_the_user_name_stands_in(
        radicale_server: Server, tmp_path: Path, database_url: str) -> None:
    with make_caldav_world(tmp_path, database_url, radicale_server) as world:
        # Radicale names the principal's URL, no mail address.
        [principal] = stored(world) or []
        assert principal.startswith(radicale_server.url) and "mailto:" not in principal
        tag = tmp_path.name[-12:]
        declined = invitation(world, f"declined-{tag}", 2, 9,
                              f"ATTENDEE;PARTSTAT=DECLINED:mailto:{radicale_server.user}")
        accepted = invitation(world, f"accepted-{tag}", 2, 11,
                              f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{radicale_server.user}")
        stranger = invitation(world, f"stranger-{tag}", 2, 13,
                              "ATTENDEE;PARTSTAT=DECLINED:mailto:anna.berg@salon.example")
        sync(world)
        found = mirrored(world)
        assert found[declined] == (False, "declined")
        assert found[accepted] == (True, "accepted")
        assert found[stranger] == (True, None)


def test_an_account_connected_before_learns_its_addresses_after_a_read(
        xandikos_server: Server, tmp_path: Path, database_url: str) -> None:
    with make_caldav_world(tmp_path, database_url, xandikos_server) as world:
        with world.runtime.db.write() as session:  # as connected by a version before
            session.get(CalDAVConnection, world.connection).addresses = None
        tag = tmp_path.name[-12:]
        declined = invitation(world, f"declined-{tag}", 3, 9,
                              "ATTENDEE;PARTSTAT=DECLINED:mailto:anna.berg@salon.example")
        sync(world)
        # Read with the user name standing in; then the addresses were asked and stored.
        assert mirrored(world)[declined] == (True, None)
        assert stored(world) == [ADDRESS, "urn:uuid:6f1c9a5e-anna"]
        # They changed who the owner is: the calendar is read again in full, the answer counts.
        sync(world)
        assert mirrored(world)[declined] == (False, "declined")

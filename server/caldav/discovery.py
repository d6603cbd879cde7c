"""Finding a CalDAV account's calendars (RFC 6764 and 4791): from a server address, or only a
domain (`icloud.com`, `fastmail.com`, a Nextcloud host), `/.well-known/caldav` first, then the
current user's principal, its calendar-home-set (iCloud hands out a partitioned
`pNN-caldav.icloud.com` home: the home's own address is kept and used from then on), and the
calendar collections there, each with whether the account may write to it and whether the
server keeps sync-collection for it; with the home, the principal's calendar user addresses
(the owner's ATTENDEE answers count: server/caldav/owner.py). Addresses on loopback or private
networks are refused unless configured (a user-supplied URL must not reach the host's
neighbours)."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from server.caldav import dav, owner
from server.caldav.client import CalDAVClient
from server.config import CalDAVConfig, Network
from server.errors import InvalidError
from server.sync.addresses import RefusedAddress, UrlGuard
from server.sync.errors import ReconnectError, SyncError

DAV = dav.DAV
CALDAV = dav.CALDAV
MAX_URL = 1024


@dataclass(frozen=True)
class RemoteCalendar:
    """One calendar collection of an account."""

    url: str
    name: str
    writable: bool
    sync_collection: bool  # the server lists its changes by sync token (else polling)


@dataclass(frozen=True)
class Account:
    """What discovery found: the calendar home and its calendars, and the principal's calendar
    user addresses (None: the server does not have the property; server/caldav/owner.py)."""

    home_url: str
    calendars: list[RemoteCalendar]
    addresses: list[str] | None = None


def candidates(server: str, *, allow_http: bool) -> list[str]:
    """The addresses to try for what the admin typed: a bare domain becomes https://, and a
    server's root is asked for /.well-known/caldav first."""
    text = server.strip()
    if not text or len(text) > MAX_URL or any(c.isspace() for c in text):
        raise InvalidError("the CalDAV server must be an address such as "
                           "https://caldav.example.com/ or a domain such as fastmail.com",
                           field="server_url")
    if "://" not in text:
        text = "https://" + text
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidError("the CalDAV server address must start with https://",
                           field="server_url")
    if parts.scheme == "http" and not allow_http:
        raise InvalidError("the CalDAV server address must use https:// (the app password "
                           "would cross the network in clear)", field="server_url")
    if parts.username or parts.password:
        raise InvalidError("put the user name and password in their own fields, not in the "
                           "address", field="server_url")
    base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))
    if parts.path in ("", "/"):
        root = urllib.parse.urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        return [root + "/.well-known/caldav", base]
    return [base]


def check_host(url: str, *, allow_private: bool,
               networks: tuple[Network, ...] = ()) -> None:
    """Refuse a server on loopback, private, link-local or reserved addresses (unless
    allowed: every private one, or those in `networks`); every address the name resolves to
    is checked, and a metadata address is always refused."""
    try:
        UrlGuard(networks, allow_private, allow_http=True).check_url(url)
    except RefusedAddress as exc:
        host = urllib.parse.urlsplit(url).hostname or ""
        if "not found" in str(exc):
            raise InvalidError(f"the CalDAV server {host} was not found (check the address)",
                               field="server_url") from None
        raise InvalidError(f"the CalDAV server {host} is on a private or local address ({exc}); "
                           "only public servers may be connected (an administrator may allow "
                           "private ones: caldav.allowed_networks or "
                           "caldav.allow_private_hosts)", field="server_url") from None


def _absolute(base: str, href: str) -> str:
    return urllib.parse.urljoin(base, href)


def _prop(client: CalDAVClient, url: str, props: str, depth: str) -> Any:
    body = (dav.XML_HEAD + '<D:propfind xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>' + props +
            "</D:prop></D:propfind>")
    return client.call("PROPFIND", url, body=body, what="finding the calendars",
                       headers={"Depth": depth, "Content-Type": "application/xml"},
                       attempts=1).tree


def _href_prop(tree: Any, name: str) -> str | None:
    if tree is None:
        return None
    for element in tree.iter(name):
        href = element.findtext(f"{DAV}href")
        if href:
            return href.strip()
    return None


def _address_set(tree: Any, principal: str) -> list[str] | None:
    """The principal's calendar-user-address-set (RFC 6638), absolute; None when the answer
    does not carry it (a 404 propstat, or no such element)."""
    if tree is None:
        return None
    for response in tree.iter(f"{DAV}response"):
        for propstat in response.iter(f"{DAV}propstat"):
            if "200" not in (propstat.findtext(f"{DAV}status") or ""):
                continue
            for element in propstat.iter(f"{CALDAV}calendar-user-address-set"):
                return owner.from_hrefs((href.text or "" for href in
                                         element.iter(f"{DAV}href")), principal)
    return None


def _calendars(client: CalDAVClient, home: str) -> list[RemoteCalendar]:
    tree = _prop(client, home, "<D:resourcetype/><D:displayname/>"
                 "<D:current-user-privilege-set/><D:supported-report-set/>"
                 "<C:supported-calendar-component-set/>", "1")
    found: list[RemoteCalendar] = []
    for response in tree.iter(f"{DAV}response") if tree is not None else []:
        if response.find(f".//{DAV}resourcetype/{CALDAV}calendar") is None:
            continue
        components = [c.get("name", "").upper() for c in
                      response.iter(f"{CALDAV}comp")]
        if components and "VEVENT" not in components:
            continue  # a task list
        url = _absolute(home, response.findtext(f"{DAV}href") or "")
        privileges = {p.tag for p in response.iter()
                      if p.getparent() is not None and p.getparent().tag == f"{DAV}privilege"}
        has_privileges = response.find(f".//{DAV}current-user-privilege-set") is not None \
            and bool(privileges)
        writable = not has_privileges or bool(privileges & {
            f"{DAV}write", f"{DAV}write-content", f"{DAV}all", f"{DAV}bind"})
        sync = response.find(f".//{DAV}supported-report/{DAV}report/{DAV}sync-collection")
        found.append(RemoteCalendar(
            url=url if url.endswith("/") else url + "/",
            name=(response.findtext(f".//{DAV}displayname") or dav.name_of(url)).strip(),
            writable=writable, sync_collection=sync is not None))
    return found


def addresses_of(client: CalDAVClient) -> list[str] | None:
    """The calendar user addresses of the principal of the account `client` reaches (from its
    calendar home): for an account connected before they were discovered. None when the
    server does not have the property; SyncError when it cannot be asked."""
    tree = _prop(client, client.home_url, "<D:current-user-principal/>", "0")
    href = _href_prop(tree, f"{DAV}current-user-principal")
    if href is None:
        return None
    principal = _absolute(client.home_url, href)
    return _address_set(_prop(client, principal, "<C:calendar-user-address-set/>", "0"),
                        principal)


def discover(server: str, username: str, password: str, *, allow_http: bool,
             allow_private: bool, timeout: float,
             networks: tuple[Network, ...] = ()) -> Account:
    """The account's calendar home and calendars; errors a person can act on."""
    if not username or len(username) > 320:
        raise InvalidError("a user name is required (usually the account's email address)",
                           field="username")
    if not password or len(password) > 1024:
        raise InvalidError("an app-specific password is required", field="password")
    last: SyncError | None = None
    for url in candidates(server, allow_http=allow_http):
        check_host(url, allow_private=allow_private, networks=networks)
        # Every later request and redirect is checked by the client's guard too.
        client = CalDAVClient(url, username, password, timeout=timeout, guard=UrlGuard(
            networks, allow_private, allow_http))
        try:
            tree = _prop(client, url, "<D:current-user-principal/>", "0")
            principal = _absolute(url, _href_prop(tree, f"{DAV}current-user-principal") or url)
            check_host(principal, allow_private=allow_private, networks=networks)
            tree = _prop(client, principal,
                         "<C:calendar-home-set/><C:calendar-user-address-set/>", "0")
            home_href = _href_prop(tree, f"{CALDAV}calendar-home-set")
            if home_href is None:
                raise SyncError("no calendar-home-set", 404, "noHome")
            home = _absolute(principal, home_href)
            check_host(home, allow_private=allow_private, networks=networks)
            return Account(home_url=home, calendars=_calendars(client, home),
                           addresses=_address_set(tree, principal))
        except ReconnectError as exc:
            raise InvalidError(exc.message, field="password") from None
        except SyncError as exc:
            last = exc
        finally:
            client.close()
    host = urllib.parse.urlsplit(candidates(server, allow_http=allow_http)[0]).hostname
    detail = f" ({last.message})" if last is not None else ""
    raise InvalidError(f"no CalDAV calendars were found at {host}{detail}; check the "
                       "address (your provider's help names its CalDAV server)",
                       field="server_url")


def discover_configured(options: CalDAVConfig, server: str, username: str,
                        password: str) -> Account:
    """`discover` within the [caldav] options (plain http, private hosts and networks
    allowed, the time limit)."""
    return discover(server, username, password, allow_http=options.allow_http,
                    allow_private=options.allow_private_hosts,
                    networks=options.allowed_networks, timeout=options.timeout_seconds)

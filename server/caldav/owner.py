"""Who the account's owner is in an event: the calendar user addresses of the account's
principal (RFC 6638 calendar-user-address-set: `mailto:` addresses, and URIs such as
`urn:uuid:` or the principal's URL), found by discovery and stored with the connection
(personal data, not a secret: kept in the business's connection row, in clear; an account
connected before has them asked after a read, server/caldav/provider.py). An ATTENDEE
with one of them is the owner: its PARTSTAT decides whether the event blocks
(server/caldav/events.py).

When the server gave no `mailto:` address (the property missing, or empty as Xandikos leaves
it, or only the principal's URL as Radicale answers), the user name counts as the owner's
address when it is an email address, as it was before addresses were discovered. Addresses are
compared as `normal` makes them: `mailto:` case-insensitively, without the scheme."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable

MAX_ADDRESSES = 20  # kept per account (a principal lists a handful)
MAX_LENGTH = 320


def normal(value: str) -> str:
    """An address as compared: a `mailto:` one as the bare email, lower case; any other URI
    lower case."""
    text = value.strip()
    if text.lower().startswith("mailto:"):
        return urllib.parse.unquote(text[len("mailto:"):]).strip().lower()
    return text.lower()


def from_hrefs(hrefs: Iterable[str], base: str) -> list[str]:
    """The addresses of a calendar-user-address-set's hrefs, as stored: relative hrefs made
    absolute against `base` (the principal's URL), duplicates and overlong ones dropped, at
    most MAX_ADDRESSES."""
    found: list[str] = []
    for href in hrefs:
        text = href.strip()
        if not text or len(text) > MAX_LENGTH:
            continue
        if ":" not in text.partition("/")[0]:  # a path, not a URI with a scheme
            text = urllib.parse.urljoin(base, text)
        if text not in found:
            found.append(text)
        if len(found) >= MAX_ADDRESSES:
            break
    return found


def stored(addresses: list[str] | None) -> str | None:
    """The connection column's value (None: the server has not been asked)."""
    return None if addresses is None else json.dumps(addresses[:MAX_ADDRESSES])


def load(value: str | None) -> list[str] | None:
    """The stored addresses (None when never discovered, or unreadable)."""
    if value is None:
        return None
    try:
        found = json.loads(value)
    except ValueError:
        return None
    if not isinstance(found, list):
        return None
    return [str(one) for one in found if isinstance(one, str)][:MAX_ADDRESSES]


def owner_addresses(addresses: list[str] | None, username: str) -> frozenset[str]:
    """The normal forms an ATTENDEE of the owner may carry: the discovered addresses, and the
    user name when it is an email address and the server named no `mailto:` address."""
    found = {normal(one) for one in addresses or []}
    has_mailto = any(one.strip().lower().startswith("mailto:") for one in addresses or [])
    user = username.strip().lower()
    if not has_mailto and "@" in user and ":" not in user:
        found.add(user)
    return frozenset(one for one in found if one)

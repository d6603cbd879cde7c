"""The addresses a private link is used through, built from public_url."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from server.config import Config

DAV_PATH = "/dav"


@dataclass(frozen=True)
class LinkAddresses:
    feed_url: str
    webcal_url: str
    freebusy_url: str
    slots_json_url: str
    caldav_server: str
    caldav_username: str
    caldav_password: str


def link_addresses(config: Config, link_id: int, token: str) -> LinkAddresses:
    feed = config.public_link(f"/feeds/{token}.ics")
    webcal = "webcal://" + feed.split("://", 1)[1]
    return LinkAddresses(feed_url=feed, webcal_url=webcal,
                         freebusy_url=config.public_link(f"/feeds/{token}.vfb"),
                         slots_json_url=config.public_link(f"/feeds/{token}.json"),
                         caldav_server=config.public_link(DAV_PATH + "/"),
                         caldav_username=principal_name(link_id), caldav_password=token)


def principal_name(link_id: int) -> str:
    return f"link-{link_id}"


def user_matches(user: bytes, principal: str) -> bool:
    """Whether the user name sent is the link's principal (ASCII case ignored: phones
    capitalise what is typed). Compared in constant time, like the token."""
    return hmac.compare_digest(user.lower(), principal.lower().encode("ascii"))

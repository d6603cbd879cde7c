"""The WebDAV/CalDAV requests the adapter sends and the parsing of their multistatus answers
(RFC 4918, 4791, 6578): a sync-collection report, a PROPFIND listing of ETags, a
calendar-multiget, one resource's ETag. XML is built with escaping and read with lxml (through
python-caldav's answers)."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from server.caldav.client import Answer, CalDAVClient

DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
CS = "{http://calendarserver.org/ns/}"
MULTIGET_CHUNK = 100
XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n'


@dataclass(frozen=True)
class Entry:
    """One resource of a listing: its name in the collection, its ETag (None: deleted), and
    its text when the answer carried it."""

    name: str
    etag: str | None
    data: str | None = None


def name_of(href: str) -> str:
    """The resource's name (its last path segment, decoded)."""
    path = urllib.parse.urlsplit(href).path
    return urllib.parse.unquote(path.rstrip("/").rpartition("/")[2])


def resource_url(calendar: str, name: str) -> str:
    return calendar.rstrip("/") + "/" + urllib.parse.quote(name, safe="@:+,;=")


def normal_etag(value: str | None) -> str | None:
    """An ETag as compared: stripped; a weak one's W/ dropped (servers differ in listing)."""
    if value is None:
        return None
    value = value.strip()
    return value[2:] if value.startswith("W/") else value or None


def _status_code(text: str | None) -> int:
    parts = (text or "").split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 200


def _responses(answer: Answer, calendar: str) -> tuple[list[Entry], Any]:
    """The entries of a multistatus (the collection itself left out) and its root."""
    root = answer.tree
    if root is None:
        return [], None
    own = urllib.parse.urlsplit(calendar).path.rstrip("/")
    entries: list[Entry] = []
    for response in root.iter(f"{DAV}response"):
        href = response.findtext(f"{DAV}href") or ""
        if urllib.parse.unquote(urllib.parse.urlsplit(href).path.rstrip("/")) == \
                urllib.parse.unquote(own):
            continue
        if response.find(f"{DAV}propstat/{DAV}prop/{DAV}resourcetype/{DAV}collection") \
                is not None:
            continue
        status = _status_code(response.findtext(f"{DAV}status"))
        if status == 404:
            entries.append(Entry(name_of(href), None))
            continue
        etag: str | None = None
        data: str | None = None
        for propstat in response.iter(f"{DAV}propstat"):
            if _status_code(propstat.findtext(f"{DAV}status")) >= 300:
                continue
            etag = propstat.findtext(f"{DAV}prop/{DAV}getetag") or etag
            data = propstat.findtext(f"{DAV}prop/{CALDAV}calendar-data") or data
        if status < 300:
            entries.append(Entry(name_of(href), normal_etag(etag) or "", data))
    return entries, root


def sync_collection(client: CalDAVClient, calendar: str, token: str,
                    attempts: int | None) -> tuple[list[Entry], str | None]:
    """RFC 6578: what changed since `token` ("" for everything), and the new token."""
    body = (XML_HEAD + '<D:sync-collection xmlns:D="DAV:">'
            f"<D:sync-token>{escape(token)}</D:sync-token><D:sync-level>1</D:sync-level>"
            "<D:prop><D:getetag/></D:prop></D:sync-collection>")
    answer = client.call("REPORT", calendar, body=body, what="reading changes",
                         headers={"Depth": "0", "Content-Type": "application/xml"},
                         attempts=attempts)
    entries, root = _responses(answer, calendar)
    new_token = root.findtext(f"{DAV}sync-token") if root is not None else None
    return entries, new_token


def etag_listing(client: CalDAVClient, calendar: str, attempts: int | None) -> list[Entry]:
    """Every resource of the collection with its ETag (PROPFIND, Depth 1)."""
    body = (XML_HEAD + '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:resourcetype/>'
            "</D:prop></D:propfind>")
    answer = client.call("PROPFIND", calendar, body=body, what="listing events",
                         headers={"Depth": "1", "Content-Type": "application/xml"},
                         attempts=attempts)
    return [entry for entry in _responses(answer, calendar)[0] if entry.etag is not None]


def collection_tag(client: CalDAVClient, calendar: str, attempts: int | None) -> str | None:
    """The collection's change tag (getctag, else its sync-token): one cheap request telling
    whether anything changed; None if the server keeps neither."""
    body = (XML_HEAD + '<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">'
            "<D:prop><CS:getctag/><D:sync-token/></D:prop></D:propfind>")
    answer = client.call("PROPFIND", calendar, body=body, what="checking for changes",
                         headers={"Depth": "0", "Content-Type": "application/xml"},
                         attempts=attempts)
    root = answer.tree
    if root is None:
        return None
    for propstat in root.iter(f"{DAV}propstat"):
        if _status_code(propstat.findtext(f"{DAV}status")) >= 300:
            continue
        value = propstat.findtext(f"{DAV}prop/{CS}getctag") or \
            propstat.findtext(f"{DAV}prop/{DAV}sync-token")
        if value:
            return value
    return None


def multiget(client: CalDAVClient, calendar: str, names: list[str],
             attempts: int | None) -> list[Entry]:
    """The texts and ETags of `names` (calendar-multiget, MULTIGET_CHUNK per request); a name
    gone meanwhile comes back deleted (ETag None)."""
    found: list[Entry] = []
    base = urllib.parse.urlsplit(calendar).path.rstrip("/")
    for start in range(0, len(names), MULTIGET_CHUNK):
        chunk = names[start:start + MULTIGET_CHUNK]
        hrefs = "".join(f"<D:href>{escape(base + '/' + urllib.parse.quote(name))}</D:href>"
                        for name in chunk)
        body = (XML_HEAD + '<C:calendar-multiget xmlns:D="DAV:" '
                'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/>'
                f"<C:calendar-data/></D:prop>{hrefs}</C:calendar-multiget>")
        answer = client.call("REPORT", calendar, body=body, what="reading events",
                             headers={"Depth": "1", "Content-Type": "application/xml"},
                             attempts=attempts)
        entries = {entry.name: entry for entry in _responses(answer, calendar)[0]}
        found.extend(entries.get(name, Entry(name, None)) for name in chunk)
    return found


def resource_etag(client: CalDAVClient, url: str, attempts: int | None) -> str | None:
    """One resource's current ETag; None if it does not exist."""
    body = XML_HEAD + '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>'
    answer = client.call("PROPFIND", url, body=body, what="reading an event's version",
                         headers={"Depth": "0", "Content-Type": "application/xml"},
                         ok=frozenset({404, 410}), attempts=attempts)
    if answer.status in (404, 410) or answer.tree is None:
        return None
    for propstat in answer.tree.iter(f"{DAV}propstat"):
        if _status_code(propstat.findtext(f"{DAV}status")) < 300:
            value = propstat.findtext(f"{DAV}prop/{DAV}getetag")
            if value:
                return normal_etag(value)
    return None

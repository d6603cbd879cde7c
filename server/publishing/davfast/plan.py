"""Which requests the fast path answers: it reads the method, the Depth and the parsed body
(already checked by the mount) and returns a plan, or None to leave the request to Radicale.

Answered here, and only in these shapes: GET and HEAD of an item that exists; PROPFIND
Depth 1 on one of the link's calendars with <D:prop> (any properties but those Radicale
computes for items from the principal or the item's text); sync-collection (sync-level 1, no
<D:limit>); calendar-multiget (no filter); calendar-query with one VCALENDAR > VEVENT >
time-range filter. In the REPORTs, <C:calendar-data> must be plain (no comp/prop selection, no
<C:expand>). Everything else (a missing item, an invalid sync token, the collection among a
multiget's hrefs, allprop, propname, other reports, other paths, unknown namespaces) goes to
Radicale, unchanged."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from radicale import pathutils

from server.publishing.dav_context import DavRequest
from server.publishing.davfast import xmlout
from server.db.models import Calendar

D = "{DAV:}"
C = "{urn:ietf:params:xml:ns:caldav}"
CALENDAR_DATA = C + "calendar-data"
# Properties Radicale answers for an item from the principal, the rights or the item's text:
# the fast path leaves requests naming them to Radicale.
ITEM_SPECIAL = {D + "principal-collection-set", D + "current-user-principal",
                D + "current-user-privilege-set", D + "supported-report-set",
                D + "getcontentlength", D + "owner", C + "max-resource-size",
                "{urn:ietf:params:xml:ns:carddav}address-data"}


@dataclass(frozen=True)
class Plan:
    kind: str  # "get", "propfind", "sync", "multiget" or "query"
    calendar: Calendar
    collection_path: str  # Radicale's stripped path of the calendar: "link-1/anna-berg"
    props: list[str]
    token: str = ""
    hrefs: list[str] = field(default_factory=list)
    filters: list[ET.Element] = field(default_factory=list)

    @property
    def wants_text(self) -> bool:
        return CALENDAR_DATA in self.props


def _calendar(request: DavRequest, sub_path: str) -> tuple[Calendar, str] | None:
    parts = [p for p in pathutils.sanitize_path(sub_path).split("/") if p]
    if len(parts) != 2 or parts[0] != request.principal:
        return None
    calendar = request.calendar(parts[1])
    return (calendar, f"{parts[0]}/{parts[1]}") if calendar is not None else None


def _props(element: ET.Element | None) -> list[str] | None:
    if element is None:
        return None
    tags = [child.tag for child in element]
    if not all(isinstance(tag, str) and xmlout.writable(tag) for tag in tags):
        return None
    if any(tag in ITEM_SPECIAL for tag in tags):
        return None
    for child in element:
        if child.tag == CALENDAR_DATA and (len(child) or (child.text or "").strip()):
            return None
    return tags


def _only(root: ET.Element, allowed: set[str]) -> bool:
    return all(child.tag in allowed for child in root)


def _simple_range(filters: list[ET.Element]) -> bool:
    """One <C:filter> holding VCALENDAR > VEVENT > one time-range, nothing else."""
    if len(filters) != 1 or len(filters[0]) != 1:
        return False
    calendar = filters[0][0]
    if calendar.tag != C + "comp-filter" or calendar.get("name", "").upper() != "VCALENDAR" \
            or len(calendar) != 1 or set(calendar.attrib) != {"name"}:
        return False
    event = calendar[0]
    if event.tag != C + "comp-filter" or event.get("name", "").upper() != "VEVENT" \
            or len(event) != 1 or set(event.attrib) != {"name"}:
        return False
    time_range = event[0]
    return time_range.tag == C + "time-range" and len(time_range) == 0 and \
        set(time_range.attrib) <= {"start", "end"} and bool(time_range.attrib)


def _item(request: DavRequest, sub_path: str) -> Plan | None:
    """GET or HEAD of one item of one of the link's calendars."""
    parts = [p for p in pathutils.sanitize_path(sub_path).split("/") if p]
    if len(parts) != 3 or parts[0] != request.principal or not parts[2].endswith(".ics"):
        return None
    calendar = request.calendar(parts[1])
    if calendar is None:
        return None
    return Plan("get", calendar, f"{parts[0]}/{parts[1]}", [], hrefs=[parts[2]])


def decide(method: str, depth: str, sub_path: str, root: ET.Element | None,
           request: DavRequest) -> Plan | None:
    if method in ("GET", "HEAD"):
        return _item(request, sub_path)
    if root is None or method not in ("PROPFIND", "REPORT"):
        return None
    found = _calendar(request, sub_path)
    if found is None:
        return None
    calendar, collection_path = found
    if root.find(f".//{C}expand") is not None:
        return None
    if method == "PROPFIND":
        if depth != "1" or root.tag != D + "propfind" or len(root) == 0 or \
                root[0].tag != D + "prop":
            return None
        props = _props(root[0])
        if props is None or CALENDAR_DATA in props:
            return None
        return Plan("propfind", calendar, collection_path, props)
    props = _props(root.find(D + "prop"))
    if props is None:
        return None
    if root.tag == D + "sync-collection":
        if not _only(root, {D + "sync-token", D + "sync-level", D + "prop"}):
            return None
        level = root.find(D + "sync-level")
        if level is not None and (level.text or "").strip() != "1":
            return None
        element = root.find(D + "sync-token")
        token = (element.text or "").strip() if element is not None else ""
        return Plan("sync", calendar, collection_path, props, token=token)
    if root.tag == C + "calendar-multiget":
        if not _only(root, {D + "prop", D + "href"}):
            return None
        hrefs = [element.text or "" for element in root.findall(D + "href")]
        if not all(hrefs):
            return None
        return Plan("multiget", calendar, collection_path, props, hrefs=hrefs)
    if root.tag == C + "calendar-query":
        if not _only(root, {D + "prop", C + "filter"}):
            return None
        filters = root.findall(C + "filter")
        if not _simple_range(filters):
            return None
        return Plan("query", calendar, collection_path, props, filters=filters)
    return None

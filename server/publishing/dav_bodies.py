"""Checks of well-formed CalDAV request bodies that Radicale would misread or fail on (its 500):
the grammar of RFC 4918 (PROPFIND) and RFC 4791 (REPORT time ranges, calendar-query filters,
free-busy-query), applied before Radicale sees the body. A refused body is a 400 with a short
reason that never echoes the client's text."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

DAV_NS = "DAV:"
CALDAV_NS = "urn:ietf:params:xml:ns:caldav"
PROPFIND_CHOICES = {f"{{{DAV_NS}}}prop", f"{{{DAV_NS}}}allprop", f"{{{DAV_NS}}}propname"}
TIME_FORMAT = "%Y%m%dT%H%M%SZ"


class BodyError(ValueError):
    """A body that is well-formed XML but not a request this method can carry."""


def check(method: str, root: ET.Element) -> None:
    """Raise BodyError unless `root` is a body Radicale can answer for `method`. Writes are
    refused by the rights plugin before their bodies matter, so they are not checked."""
    if method == "PROPFIND":
        _check_propfind(root)
    elif method == "REPORT":
        _check_report(root)


def _check_propfind(root: ET.Element) -> None:
    # RFC 4918 14.20: <!ELEMENT propfind ( propname | (allprop, include?) | prop ) >; Radicale
    # reads the first child as that choice, whatever it is.
    if root.tag != f"{{{DAV_NS}}}propfind":
        raise BodyError("a PROPFIND body must be a DAV:propfind element")
    choices = [child for child in root if child.tag in PROPFIND_CHOICES]
    if len(root) == 0 or root[0].tag not in PROPFIND_CHOICES or len(choices) != 1:
        raise BodyError("DAV:propfind must hold exactly one of DAV:prop, DAV:allprop or "
                        "DAV:propname, first")


def _check_report(root: ET.Element) -> None:
    for element in root.iter(f"{{{CALDAV_NS}}}time-range"):
        _check_range(element, "time-range", both=False)
    # RFC 4791 9.6.5-9.6.7: these need both ends (Radicale's expansion fails without).
    for name in ("expand", "limit-recurrence-set", "limit-freebusy-set"):
        for element in root.iter(f"{{{CALDAV_NS}}}{name}"):
            _check_range(element, name, both=True)
    if root.tag == f"{{{CALDAV_NS}}}free-busy-query":
        # RFC 4791 7.10: <!ELEMENT free-busy-query (time-range)>.
        ranges = [child for child in root if child.tag == f"{{{CALDAV_NS}}}time-range"]
        if len(ranges) != 1:
            raise BodyError("a free-busy-query needs exactly one CALDAV:time-range")
    elif root.tag == f"{{{CALDAV_NS}}}calendar-multiget":
        # RFC 4791 9.10: <!ELEMENT calendar-multiget (..., DAV:href+)>.
        hrefs = [child for child in root if child.tag == f"{{{DAV_NS}}}href"]
        if not hrefs or any(not (href.text or "").strip() for href in hrefs):
            raise BodyError("a calendar-multiget needs one or more non-empty DAV:href")
    elif root.tag == f"{{{CALDAV_NS}}}calendar-query":
        # RFC 4791 9.7: the filter holds exactly one comp-filter, for VCALENDAR.
        filters = [child for child in root if child.tag == f"{{{CALDAV_NS}}}filter"]
        if len(filters) != 1:
            raise BodyError("a calendar-query needs exactly one CALDAV:filter")
        comps = list(filters[0])
        if len(comps) != 1 or comps[0].tag != f"{{{CALDAV_NS}}}comp-filter" \
                or comps[0].get("name", "").upper() != "VCALENDAR":
            raise BodyError("CALDAV:filter must hold one comp-filter named VCALENDAR")
        for comp in root.iter(f"{{{CALDAV_NS}}}comp-filter"):
            if not comp.get("name"):
                raise BodyError("every CALDAV:comp-filter needs a name")
        for prop in root.iter(f"{{{CALDAV_NS}}}prop-filter"):
            if not prop.get("name"):
                raise BodyError("every CALDAV:prop-filter needs a name")


def _check_range(element: ET.Element, name: str, both: bool) -> None:
    """RFC 4791 9.9: start and end are UTC date-times; at least one of them (or, with `both`,
    each) is given."""
    values = [element.get("start"), element.get("end")]
    if both and not all(values):
        raise BodyError(f"CALDAV:{name} needs a start and an end")
    if not any(values):
        raise BodyError(f"CALDAV:{name} needs a start or an end")
    parsed = []
    for value in values:
        if value:
            try:
                parsed.append(dt.datetime.strptime(value, TIME_FORMAT))
            except ValueError:
                raise BodyError(f"CALDAV:{name} times must look like 20261124T080000Z") \
                    from None
    if len(parsed) == 2 and parsed[1] <= parsed[0]:
        raise BodyError(f"CALDAV:{name} must end after it starts")

"""Names a person recognises in a CalDAV client, over real HTTP with python-caldav and raw
PROPFIND, on SQLite and PostgreSQL: the principal's display name (the link's label, else the
business's name), each calendar's description (whose it is, what the link shows), order (the
employees' order) and colour."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import caldav
import pytest
import requests
from caldav.elements import dav, ical
from caldav.elements import cdav

from support import Api, LiveServer, make_link, make_salon

D, C, I = "{DAV:}", "{urn:ietf:params:xml:ns:caldav}", "{http://apple.com/ns/ical/}"


@pytest.fixture
def api(live: LiveServer) -> Api:
    return Api(live.url)


def client(link: dict[str, Any]) -> Any:
    account = link["caldav"]
    return caldav.DAVClient(url=account["server"], username=account["username"],
                            password=account["password"])


def propfind(link: dict[str, Any], url: str, depth: str = "1") -> ET.Element:
    body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:I="http://apple.com/ns/ical/">'
            '<D:prop><D:displayname/><C:calendar-description/><I:calendar-order/>'
            '<I:calendar-color/></D:prop></D:propfind>')
    account = link["caldav"]
    response = requests.request("PROPFIND", url, data=body.encode(), timeout=30,
                                headers={"Depth": depth, "Content-Type": "application/xml"},
                                auth=(account["username"], account["password"]))
    assert response.status_code == 207, response.text
    return ET.fromstring(response.content)


def test_principal_and_calendars_carry_names(api: Api) -> None:
    salon = make_salon(api)  # "Salon", calendar "Anna Berg"
    base = f"/businesses/{salon.business}"
    bo = api.ok("POST", f"{base}/calendars", 201, json={"name": "Bo Berg", "colour": "#ff8800"})
    labelled = make_link(api, salon.business, profile="limited", label="  Front   desk ")
    plain = make_link(api, salon.business, profile="busy")

    assert client(labelled).principal().get_display_name() == "Front desk"
    principal = client(plain).principal()
    assert principal.get_display_name() == "Salon"
    calendars = principal.calendars()
    assert [c.get_display_name() for c in calendars] == ["Anna Berg", "Bo Berg"]
    assert calendars[1].get_property(cdav.CalendarDescription()) == "Bo Berg: busy times"
    assert calendars[1].get_property(ical.CalendarColor()) == "#ff8800"
    limited = client(labelled).principal().calendars()[0]
    assert limited.get_property(cdav.CalendarDescription()) == \
        "Anna Berg: bookings and blocked time, without client details"

    # Raw PROPFIND Depth 1 on the home: the order follows the employees' order.
    home = plain["caldav"]["server"] + f"link-{plain['id']}/"
    tree = propfind(plain, home)
    orders = {}
    for response in tree.iter(D + "response"):
        found = {e.tag: e.text for stat in response.iter(D + "propstat")
                 if "200" in (stat.findtext(D + "status") or "") for e in stat.iter()
                 if e.tag.startswith("{") and e.text}
        if I + "calendar-order" in found:
            orders[found[D + "displayname"]] = int(found[I + "calendar-order"])
        elif response.findtext(D + "href", "").rstrip("/").endswith(f"link-{plain['id']}"):
            assert found[D + "displayname"] == "Salon"
    assert orders == {"Anna Berg": 1, "Bo Berg": 2}
    assert bo["id"] > salon.calendar
    # A one-calendar link: its calendar comes first.
    single = make_link(api, salon.business, scope="calendar", calendar_ids=[bo["id"]])
    one = client(single).principal().calendars()[0]
    assert one.get_property(ical.CalendarOrder()) == "1"
    assert one.get_property(dav.DisplayName()) == "Bo Berg"

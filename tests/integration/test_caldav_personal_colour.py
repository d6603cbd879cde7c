"""A personal calendar's name and colour, chosen by the phone of a writable account: PROPPATCH
(and MKCALENDAR) of DAV:displayname and calendar-color are kept and served back by PROPFIND to
every writable account of the employee and in the API; a bad value (not #RRGGBB or #RRGGBBAA,
too long, an empty name) is a 207 whose property says 409 with the reason, and then nothing is
changed. Over real HTTP with python-caldav (raw requests where a status is checked), on SQLite
and PostgreSQL, on the injected clock."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import caldav
from caldav.elements import dav, ical
import requests

from support import Api, Salon, make_link
from test_caldav_writable import (  # noqa: F401  (fixtures)
    Phone, api, salon, writable_link,
)

D = "{DAV:}"
ICAL = "http://apple.com/ns/ical/"
Colour = ical.CalendarColor
Name = dav.DisplayName


def proppatch(phone: Phone, url: str, action: str, props: str) -> requests.Response:
    body = (f'<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" '
            f'xmlns:I="{ICAL}"><D:{action}><D:prop>{props}</D:prop></D:{action}>'
            '</D:propertyupdate>')
    return requests.request("PROPPATCH", url, data=body.encode(), auth=phone.auth, timeout=30)


def statuses(answer: requests.Response) -> dict[str, tuple[str, str]]:
    """Property (local name) -> (status code, responsedescription) of a PROPPATCH's 207."""
    assert answer.status_code == 207, (answer.status_code, answer.text)
    found = {}
    for propstat in ET.fromstring(answer.content).iter(D + "propstat"):
        code = (propstat.findtext(D + "status") or "").split()[1]
        for prop in propstat.find(D + "prop") or []:
            found[prop.tag.rpartition("}")[2]] = (code, propstat.findtext(
                D + "responsedescription") or "")
    return found


def shown(phone: Phone, url: str) -> tuple[str | None, str | None]:
    """(displayname, calendar-color) as PROPFIND answers them (None: not found)."""
    found = caldav.Calendar(client=phone.client, url=url).get_properties([Name(), Colour()])
    return found.get(Name.tag), found.get(Colour.tag)


def listed(api: Api, salon: Salon) -> list[dict[str, object]]:
    return list(api.ok("GET", f"/businesses/{salon.business}/calendars/{salon.calendar}/"
                              "personal-calendars")["items"])


def test_colour_and_name_are_kept_and_shown_to_the_employees_accounts(
        api: Api, salon: Salon) -> None:
    phone = Phone(writable_link(api, salon))
    employee = api.ok("GET", f"/businesses/{salon.business}/calendars/{salon.calendar}")
    made = phone.client.principal().make_calendar(name="Family", cal_id="family")
    url = str(made.url)
    # Made without a colour, it shows its employee calendar's.
    assert shown(phone, url) == ("Family", employee["colour"])
    made.set_properties([Colour("#ff0000")])
    assert shown(phone, url) == ("Family", "#ff0000")
    # Both at once, with an alpha channel (Apple's clients send #RRGGBBAA).
    answer = proppatch(phone, url, "set", "<D:displayname>Kids  &amp; school</D:displayname>"
                                          "<I:calendar-color>#11AA33FF</I:calendar-color>")
    assert statuses(answer) == {"displayname": ("200", ""), "calendar-color": ("200", "")}
    assert shown(phone, url) == ("Kids & school", "#11AA33FF")
    # The employee's other writable account shows the same; the API lists it; the employee's
    # own calendar keeps its colour; a read-only link lists no personal calendar at all.
    other = Phone(make_link(api, salon.business, scope="calendar",
                            calendar_ids=[salon.calendar], writable=True, label="iPad"))
    assert shown(other, other.url.rsplit("/", 2)[0] + "/family/") == \
        ("Kids & school", "#11AA33FF")
    assert [(p["name"], p["colour"]) for p in listed(api, salon)] == \
        [("Kids & school", "#11AA33FF")]
    assert shown(phone, phone.url)[1] == employee["colour"]
    reader = Phone(make_link(api, salon.business, scope="calendar",
                             calendar_ids=[salon.calendar]))
    assert [str(c.url) for c in reader.client.principal().calendars()] == [reader.url]
    # Removed, the colour is none (vdirsyncer's test_metadata); a removed name is the URL's.
    answer = proppatch(phone, url, "remove", "<I:calendar-color/><D:displayname/>")
    assert statuses(answer) == {"calendar-color": ("200", ""), "displayname": ("200", "")}
    assert shown(phone, url) == ("family", None)
    assert [p["colour"] for p in listed(api, salon)] == [None]
    # MKCALENDAR may choose the colour (and a bad one makes nothing).
    base = phone.url.rsplit("/", 2)[0]
    body = (f'<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" xmlns:I="{ICAL}" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>Gym'
            '</D:displayname><I:calendar-color>{}</I:calendar-color></D:prop></D:set>'
            '</C:mkcalendar>')
    assert requests.request("MKCALENDAR", f"{base}/gym/", data=body.format("#00ff00"),
                            auth=phone.auth, timeout=30).status_code == 201
    assert shown(phone, f"{base}/gym/") == ("Gym", "#00ff00")
    refused = requests.request("MKCALENDAR", f"{base}/run/", data=body.format("green"),
                               auth=phone.auth, timeout=30)
    assert refused.status_code == 409 and "#RRGGBB" in refused.text, refused.text
    assert sorted(p["slug"] for p in listed(api, salon)) == ["family", "gym"]


def test_bad_values_are_refused_with_the_reason_and_nothing_changes(
        api: Api, salon: Salon) -> None:
    phone = Phone(writable_link(api, salon))
    url = str(phone.client.principal().make_calendar(name="Hobby", cal_id="hobby").url)
    proppatch(phone, url, "set", "<I:calendar-color>#123456</I:calendar-color>")
    for colour in ("red", "#12345", "#1234567", "#12345g", "# 123456", "#" + "a" * 5000, ""):
        answer = proppatch(phone, url, "set",
                           f"<D:displayname>Other</D:displayname>"
                           f"<I:calendar-color>{colour}</I:calendar-color>")
        found = statuses(answer)
        assert found["calendar-color"][0] == "409" and "#RRGGBB" in \
            found["calendar-color"][1], answer.text
        assert found["displayname"] == ("424", "")
        assert len(answer.content) < 2000  # the value is not echoed whole
    for name, why in (("x" * 201, "at most 200"), ("   ", "empty")):
        found = statuses(proppatch(phone, url, "set",
                                   f"<D:displayname>{name}</D:displayname>"
                                   "<I:calendar-color>#000000</I:calendar-color>"))
        assert found["displayname"][0] == "409" and why in found["displayname"][1]
        assert found["calendar-color"] == ("424", "")
    assert shown(phone, url) == ("Hobby", "#123456")
    # Any other property is not ours to set (403), and the rest waits on it (424).
    found = statuses(proppatch(phone, url, "set",
                               "<I:calendar-color>#000000</I:calendar-color>"
                               "<D:getcontenttype>text/plain</D:getcontenttype>"))
    assert found == {"calendar-color": ("424", ""),
                     "getcontenttype": ("403", found["getcontenttype"][1])}
    assert shown(phone, url) == ("Hobby", "#123456")
    # The employee's calendar itself is not the phone's to change.
    refused = proppatch(phone, phone.url, "set", "<I:calendar-color>#000000</I:calendar-color>")
    assert refused.status_code == 403
    assert [p["colour"] for p in listed(api, salon)] == ["#123456"]


def test_the_api_sets_name_and_colour_checked_as_proppatch_is(api: Api, salon: Salon) -> None:
    phone = Phone(writable_link(api, salon))
    url = str(phone.client.principal().make_calendar(name="Hobby", cal_id="hobby").url)
    personal = listed(api, salon)[0]
    path = (f"/businesses/{salon.business}/calendars/{salon.calendar}/personal-calendars/"
            f"{personal['id']}")
    changed = api.ok("PATCH", path, json={"name": "  Kids   & school ", "colour": "#11AA33FF"})
    assert (changed["name"], changed["colour"], changed["blocks"]) == \
        ("Kids & school", "#11AA33FF", True)
    assert shown(phone, url) == ("Kids & school", "#11AA33FF")
    # The same reasons as a PROPPATCH, and nothing changes (blocks neither).
    for body, why in (({"colour": "green", "blocks": False}, "#RRGGBB"),
                      ({"name": "x" * 201, "colour": "#000000"}, "at most 200"),
                      ({"name": "   "}, "empty"), ({"name": None}, "null"),
                      ({"name": "bell\x07"}, "control characters")):
        refused = api.patch(path, json=body)
        assert refused.status_code == 422 and why in refused.json()["error"]["message"], \
            refused.text
    assert shown(phone, url) == ("Kids & school", "#11AA33FF")
    assert listed(api, salon)[0]["blocks"] is True
    # null removes the colour; a field left out stays.
    assert api.ok("PATCH", path, json={"colour": None})["colour"] is None
    assert shown(phone, url) == ("Kids & school", None)
    assert api.ok("PATCH", path, json={"blocks": False})["name"] == "Kids & school"

"""What the peer suites (bench/litmus_run.py, bench/vdirsyncer_run.py) found on a writable
account. Extended MKCOL (RFC 5689): a calendar asked for that way (vdirsyncer makes its
collections so) is a personal calendar like one made by MKCALENDAR; a plain WebDAV collection
(litmus's MKCOL) is refused with 403 DAV:valid-resourcetype and nothing is made. A write with
If-Match to a name no item has is 412, as to a missing item.
Over real HTTP with requests and python-caldav, on the injected clock (support.NOW)."""

from __future__ import annotations

import requests

from support import Api, Salon, make_link
from test_caldav_writable import (  # noqa: F401  (fixtures)
    Phone, api, event_text, refusal_reason, salon, writable_link,
)

D = "{DAV:}"


def mkcol(resourcetype: str, name: str = "") -> str:
    named = f"<D:displayname>{name}</D:displayname>" if name else ""
    return ('<?xml version="1.0" encoding="utf-8"?><D:mkcol xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
            f'<D:resourcetype>{resourcetype}</D:resourcetype>{named}'
            '</D:prop></D:set></D:mkcol>')


def test_an_extended_mkcol_of_a_calendar_makes_a_personal_calendar(
        api: Api, salon: Salon) -> None:
    phone = Phone(writable_link(api, salon))
    home = phone.url.rsplit("/", 2)[0] + "/"
    answer = requests.request("MKCOL", home + "test-coll-1/", auth=phone.auth, timeout=30,
                              data=mkcol("<D:collection/><C:calendar/>", "Errands"))
    assert answer.status_code == 201, answer.text
    principal = phone.client.principal()
    assert sorted(c.get_display_name() for c in principal.calendars()) == \
        ["Anna Berg", "Errands"]
    listed = api.ok("GET", f"/businesses/{salon.business}/calendars/{salon.calendar}"
                           "/personal-calendars")["items"]
    assert [(p["slug"], p["name"]) for p in listed] == [("test-coll-1", "Errands")]
    # It holds events like any personal calendar, and DELETE removes it.
    sent = event_text("errand", "20261203T100000", "20261203T110000", "Post office")
    assert requests.put(f"{home}test-coll-1/errand.ics", data=sent.encode(), auth=phone.auth,
                        timeout=30).status_code == 201
    assert requests.get(f"{home}test-coll-1/errand.ics", auth=phone.auth,
                        timeout=30).content == sent.encode()
    # Again at the same place: refused, as MKCALENDAR is.
    again = requests.request("MKCOL", home + "test-coll-1/", auth=phone.auth, timeout=30,
                             data=mkcol("<D:collection/><C:calendar/>"))
    assert again.status_code == 403
    assert requests.delete(home + "test-coll-1/", auth=phone.auth,
                           timeout=30).status_code == 204
    assert [c.get_display_name() for c in principal.calendars()] == ["Anna Berg"]


def test_plain_collections_are_refused_and_nothing_is_made(api: Api, salon: Salon) -> None:
    phone = Phone(writable_link(api, salon))
    home = phone.url.rsplit("/", 2)[0] + "/"
    for body in ("", mkcol("<D:collection/>"),
                 mkcol("<D:collection/><C:calendar/>").replace("D:mkcol", "D:propertyupdate")):
        answer = requests.request("MKCOL", home + "litmus/", data=body.encode(),
                                  auth=phone.auth, timeout=30)
        assert "only calendars" in refusal_reason(answer, 403, D + "valid-resourcetype")
    # Inside the employee's calendar nothing can be made either.
    inside = requests.request("MKCOL", phone.url + "litmus/", auth=phone.auth, timeout=30,
                              data=mkcol("<D:collection/><C:calendar/>").encode())
    assert inside.status_code == 403
    assert [c.get_display_name() for c in phone.client.principal().calendars()] == \
        ["Anna Berg"]
    assert api.ok("GET", f"/businesses/{salon.business}/calendars/{salon.calendar}"
                         "/personal-calendars")["items"] == []
    # A read-only link of the same calendar cannot make one at all.
    reader = Phone(make_link(api, salon.business, scope="calendar",
                             calendar_ids=[salon.calendar]))
    refused = requests.request("MKCOL", reader.url.rsplit("/", 2)[0] + "/x/",
                               data=mkcol("<D:collection/><C:calendar/>").encode(),
                               auth=reader.auth, timeout=30)
    assert refused.status_code == 403


def test_if_match_on_a_name_no_item_has_fails_with_412(api: Api, salon: Salon) -> None:
    """vdirsyncer's update/delete of a missing item: the condition fails (412) whatever the
    name; without one a DELETE finds nothing (404) and a PUT is refused; nothing is made."""
    phone = Phone(writable_link(api, salon))
    sent = event_text("huehue", "20261203T100000", "20261203T110000").encode()
    for name in ("huehue", "1", "huehue.ics"):
        put = requests.put(phone.url + name, data=sent, auth=phone.auth, timeout=30,
                           headers={"If-Match": '"123"'})
        assert put.status_code == 412, (name, put.status_code, put.text)
        gone = requests.delete(phone.url + name, auth=phone.auth, timeout=30,
                               headers={"If-Match": '"123"'})
        assert gone.status_code == 412, (name, gone.status_code, gone.text)
        assert requests.delete(phone.url + name, auth=phone.auth,
                               timeout=30).status_code == 404
    assert requests.put(phone.url + "huehue", data=sent, auth=phone.auth,
                        timeout=30).status_code == 403
    assert [e.icalendar_component["UID"] for e in phone.calendar.events()] == []

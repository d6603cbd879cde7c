"""Tasks (VTODO: a phone's reminders) on a writable account (server/domain/phone_tasks.py). In a
personal calendar a task is kept as sent: GET gives its bytes back with the ETag its PUT
answered, sync-collection, calendar-multiget and calendar-query (comp-filter VTODO) list it,
DELETE removes it. It never blocks booking and no other view shows it (feeds of every profile,
a read-only CalDAV account: a marker scan). The employee's calendar holds events only: a task
there is 403 supported-calendar-component, as its supported-calendar-component-set says;
a mix of VTODO and VEVENT, or a VTODO without UID, is a 4xx and nothing is stored.
Over real HTTP with requests and python-caldav, on the injected clock (support.NOW)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import requests

from support import Api, Salon, make_link
from test_caldav_writable import (  # noqa: F401  (fixtures)
    C, D, Phone, api, event_text, refusal_reason, salon, writable_link,
)
from test_caldav_writable_more import taken

MARKER = "TASKMARKER9041"


def task_text(uid: str, summary: str = f"Buy milk {MARKER}", extra: str = "") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Phone//Reminders//EN\r\n"
            f"BEGIN:VTODO\r\nUID:{uid}\r\nDTSTAMP:20261124T080000Z\r\n"
            "DTSTART;TZID=Europe/Copenhagen:20261203T100000\r\n"
            "DUE;TZID=Europe/Copenhagen:20261203T110000\r\n"
            f"SUMMARY:{summary}\r\n{extra}STATUS:NEEDS-ACTION\r\nEND:VTODO\r\n"
            "END:VCALENDAR\r\n")


def components(phone: Phone, url: str) -> list[str]:
    body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>'
            '<C:supported-calendar-component-set/></D:prop></D:propfind>')
    answer = requests.request("PROPFIND", url, data=body, auth=phone.auth, timeout=30,
                              headers={"Depth": "0"})
    assert answer.status_code == 207, answer.text
    return sorted(comp.get("name", "") for comp in ET.fromstring(answer.content).iter(C + "comp"))


def query(phone: Phone, url: str, component: str) -> list[str]:
    """Hrefs a calendar-query with a comp-filter on `component` answers."""
    body = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>'
            f'<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="{component}"/>'
            '</C:comp-filter></C:filter></C:calendar-query>')
    answer = requests.request("REPORT", url, data=body, auth=phone.auth, timeout=30,
                              headers={"Depth": "1"})
    assert answer.status_code == 207, answer.text
    return sorted((h.text or "").rsplit("/", 1)[1] for h in ET.fromstring(answer.content)
                  .iter(D + "href"))


def sync(phone: Phone, url: str, token: str = "") -> tuple[str, dict[str, int]]:
    """(new token, name -> status: 200 changed, 404 removed) of a sync-collection."""
    body = ('<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:">'
            f'<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>'
            '<D:prop><D:getetag/></D:prop></D:sync-collection>')
    answer = requests.request("REPORT", url, data=body, auth=phone.auth, timeout=30)
    assert answer.status_code == 207, answer.text
    root = ET.fromstring(answer.content)
    found = {}
    for response in root.iter(D + "response"):
        name = (response.findtext(D + "href") or "").rsplit("/", 1)[1]
        status = response.findtext(D + "status") or \
            response.findtext(f"{D}propstat/{D}status") or ""
        found[name] = int(status.split()[1])
    return root.findtext(D + "sync-token") or "", found


def test_a_task_in_a_personal_calendar_round_trips_and_syncs(api: Api, salon: Salon) -> None:
    phone = Phone(writable_link(api, salon))
    made = phone.client.principal().make_calendar(name="Reminders", cal_id="reminders")
    url = str(made.url)
    assert components(phone, url) == ["VEVENT", "VTODO"]
    assert components(phone, phone.url) == ["VEVENT"]
    token, _ = sync(phone, url)
    sent = task_text("milk")
    put = requests.put(url + "milk.ics", data=sent.encode(), auth=phone.auth, timeout=30)
    assert put.status_code == 201, put.text
    got = requests.get(url + "milk.ics", auth=phone.auth, timeout=30)
    assert got.content == sent.encode() and got.headers["ETag"] == put.headers["ETag"]
    assert requests.get(url + "milk.ics", auth=phone.auth,
                        timeout=30).headers["ETag"] == put.headers["ETag"]
    event = event_text("dentist", "20261204T100000", "20261204T110000", "Dentist")
    assert requests.put(url + "dentist.ics", data=event.encode(), auth=phone.auth,
                        timeout=30).status_code == 201
    # calendar-query by component, sync-collection and python-caldav see it.
    assert query(phone, url, "VTODO") == ["milk.ics"]
    assert query(phone, url, "VEVENT") == ["dentist.ics"]
    token, changed = sync(phone, url, token)
    assert changed == {"milk.ics": 200, "dentist.ics": 200}
    assert [str(t.icalendar_component["UID"]) for t in made.todos()] == ["milk"]
    multiget = made.calendar_multiget([made.url.join("milk.ics")])
    assert [str(found.icalendar_component["SUMMARY"]) for found in multiget] == \
        [f"Buy milk {MARKER}"]
    # Replaced under If-Match: a new ETag; a stale one is 412.
    done = task_text("milk", extra="COMPLETED:20261202T090000Z\r\n").replace(
        "NEEDS-ACTION", "COMPLETED")
    again = requests.put(url + "milk.ics", data=done.encode(), auth=phone.auth, timeout=30,
                         headers={"If-Match": put.headers["ETag"]})
    assert again.status_code == 204 and again.headers["ETag"] != put.headers["ETag"]
    stale = requests.put(url + "milk.ics", data=sent.encode(), auth=phone.auth, timeout=30,
                         headers={"If-Match": put.headers["ETag"]})
    assert stale.status_code == 412
    assert requests.get(url + "milk.ics", auth=phone.auth, timeout=30).content == done.encode()
    # The employee's other writable account sees it too; the journal names who wrote it.
    other = Phone(writable_link(api, salon))
    other_url = other.url.rsplit("/", 2)[0] + "/reminders/milk.ics"
    assert requests.get(other_url, auth=other.auth, timeout=30).content == done.encode()
    actors = {c["actor"] for c in api.ok(
        "GET", f"/businesses/{salon.business}/calendars/{salon.calendar}/changes")["changes"]
        if c["kind"] == "task"}
    assert actors == {f"link:{phone.link['id']}"}
    # DELETE removes it: sync reports it gone.
    assert requests.delete(url + "milk.ics", auth=phone.auth, timeout=30).status_code == 204
    assert requests.get(url + "milk.ics", auth=phone.auth, timeout=30).status_code == 404
    _, changed = sync(phone, url, token)
    assert changed == {"milk.ics": 404}
    assert query(phone, url, "VTODO") == []


def test_a_task_never_blocks_nor_shows_elsewhere(api: Api, salon: Salon) -> None:
    phone = Phone(writable_link(api, salon))
    url = str(phone.client.principal().make_calendar(name="Reminders", cal_id="todo").url)
    assert requests.put(url + "call-mum.ics", data=task_text("call-mum").encode(),
                        auth=phone.auth, timeout=30).status_code == 201
    # Its DTSTART/DUE (10:00-11:00 on 3 December) stay bookable.
    assert not taken(api, salon, "2026-12-03T10:15:00+01:00")
    for profile in ("full", "limited", "busy"):
        link = make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar],
                         profile=profile)
        feed = requests.get(link["feed_url"], timeout=30).text
        assert MARKER not in feed and "call-mum" not in feed and "VTODO" not in feed, profile
        reader = Phone(link)
        listed = requests.request("PROPFIND", reader.url, auth=reader.auth, timeout=30,
                                  headers={"Depth": "1"}).text
        assert "call-mum" not in listed and MARKER not in listed, profile
        assert [str(c.url) for c in reader.client.principal().calendars()] == [reader.url]
    # Removing the personal calendar removes its tasks.
    assert requests.delete(url, auth=phone.auth, timeout=30).status_code == 204
    again = phone.client.principal().make_calendar(name="Reminders", cal_id="todo")
    assert list(again.todos()) == []


def test_tasks_in_the_booking_calendar_and_mixed_bodies_are_refused(
        api: Api, salon: Salon) -> None:
    phone = Phone(writable_link(api, salon))
    url = str(phone.client.principal().make_calendar(name="Reminders", cal_id="todo").url)
    reason = refusal_reason(phone.put("milk", task_text("milk")), 403,
                            C + "supported-calendar-component")
    assert "personal calendar" in reason
    mixed = task_text("mix").replace(
        "END:VCALENDAR", "BEGIN:VEVENT\r\nUID:mix\r\nDTSTART:20261203T100000Z\r\n"
        "DTEND:20261203T110000Z\r\nEND:VEVENT\r\nEND:VCALENDAR")
    refusal_reason(requests.put(url + "mix.ics", data=mixed.encode(), auth=phone.auth,
                                timeout=30), 400, C + "valid-calendar-object-resource")
    no_uid = task_text("x").replace("UID:x\r\n", "")
    assert requests.put(url + "x.ics", data=no_uid.encode(), auth=phone.auth,
                        timeout=30).status_code == 400
    wrong_name = requests.put(url + "other.ics", data=task_text("milk").encode(),
                              auth=phone.auth, timeout=30)
    assert wrong_name.status_code == 400
    # A repeating task's rule passes the events' checker (a time-range query expands it).
    for rule in ("FREQ=SECONDLY", "FREQ=DAILY;COUNT=10000", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"):
        repeating = task_text("r", extra=f"RRULE:{rule}\r\n")
        answer = requests.put(url + "r.ics", data=repeating.encode(), auth=phone.auth,
                              timeout=30)
        assert answer.status_code in (400, 403) and "BC:reason" in answer.text, rule
    assert requests.put(url + "r.ics", auth=phone.auth, timeout=30, data=task_text(
        "r", extra="RRULE:FREQ=WEEKLY;COUNT=10\r\n").encode()).status_code == 201
    assert requests.delete(url + "r.ics", auth=phone.auth, timeout=30).status_code == 204
    journal = task_text("j").replace("VTODO", "VJOURNAL")
    refusal_reason(requests.put(url + "j.ics", data=journal.encode(), auth=phone.auth,
                                timeout=30), 403, C + "supported-calendar-component")
    # A task may not take an event's UID (nor the reverse).
    assert requests.put(url + "lunch.ics", auth=phone.auth, timeout=30, data=event_text(
        "lunch", "20261203T120000", "20261203T130000").encode()).status_code == 201
    refusal_reason(requests.put(url + "lunch.ics", data=task_text("lunch").encode(),
                                auth=phone.auth, timeout=30), 409, C + "no-uid-conflict")
    assert requests.put(url + "milk.ics", data=task_text("milk").encode(), auth=phone.auth,
                        timeout=30).status_code == 201
    refusal_reason(phone.put("milk", event_text("milk", "20261203T140000", "20261203T150000")),
                   409, C + "no-uid-conflict")
    assert query(phone, url, "VTODO") == ["milk.ics"]
    assert query(phone, phone.url, "VTODO") == []
    # A calendar made for tasks only says so and refuses events.
    body = ('<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
            '<C:supported-calendar-component-set><C:comp name="VTODO"/>'
            '</C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>')
    home = phone.url.rsplit("/", 2)[0]
    assert requests.request("MKCALENDAR", f"{home}/tasks/", data=body, auth=phone.auth,
                            timeout=30).status_code == 201
    assert components(phone, f"{home}/tasks/") == ["VTODO"]
    refusal_reason(requests.put(f"{home}/tasks/e.ics", auth=phone.auth, timeout=30,
                                data=event_text("e", "20261203T120000",
                                                "20261203T130000").encode()),
                   403, C + "supported-calendar-component")
    journal_only = body.replace('name="VTODO"', 'name="VJOURNAL"')
    refusal_reason(requests.request("MKCALENDAR", f"{home}/notes/", data=journal_only,
                                    auth=phone.auth, timeout=30),
                   403, C + "supported-calendar-component")

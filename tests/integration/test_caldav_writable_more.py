"""Writable CalDAV accounts, the later parts: UIDs scoped to the calendar (no existence oracle
across businesses), alarms that advance the account's sync token, overridden instances and
open-ended or RDATE events of personal events, and personal calendars made by MKCALENDAR.

Over real HTTP on SQLite and PostgreSQL with python-caldav (raw requests where a status or a
byte is checked). The server runs on the injected clock (support.NOW, late November 2026), so
the literal dates below all lie in its future."""

from __future__ import annotations

import datetime as dt

import caldav
import requests
from sqlalchemy import select

from server.db.models import JournalEntry
from support import Api, LiveServer, Salon, book, make_link, make_salon
from test_caldav_writable import (  # noqa: F401  (fixtures)
    CPH, Phone, api, event_text, refusal_reason, salon, writable_link,
)

C = "{urn:ietf:params:xml:ns:caldav}"


def _utc(year: int, month: int, day: int) -> dt.datetime:
    return dt.datetime(year, month, day, tzinfo=dt.timezone.utc)


def second_business(api: Api) -> tuple[Salon, Phone]:
    other = make_salon(api)
    return other, Phone(make_link(api, other.business, scope="calendar",
                                  calendar_ids=[other.calendar], writable=True,
                                  label="Bo's phone"))


# --- UIDs are scoped to the calendar -----------------------------------------------------------

def test_a_uid_used_by_another_business_tells_nothing(api: Api, salon: Salon) -> None:
    """Business B's phone cannot learn which UIDs business A uses: a personal event's UID or a
    booking's UID of A is as free for B as any other, and B's writes never touch A's items."""
    phone = Phone(writable_link(api, salon))
    ours = book(api, salon, "2026-12-02T10:00:00+01:00")
    assert phone.put("shared-1", event_text("shared-1", "20261201T120000", "20261201T130000",
                                            "Anna's lunch")).status_code == 201
    other, theirs = second_business(api)
    for uid in ("shared-1", ours["uid"]):
        answer = theirs.put(uid, event_text(uid, "20261203T090000", "20261203T100000",
                                            "Bo's errand"))
        assert answer.status_code == 201, (uid, answer.status_code, answer.text)
        assert "Bo's errand" in theirs.get(uid).text
        # A "used elsewhere" answer and a fresh one cannot be told apart.
        fresh = theirs.put("fresh-" + uid[:8], event_text("fresh-" + uid[:8], "20261203T110000",
                                                          "20261203T113000", "x"))
        assert fresh.status_code == answer.status_code
        assert set(fresh.headers) - {"Date", "ETag", "Content-Length"} == \
            set(answer.headers) - {"Date", "ETag", "Content-Length"}
    # A's items are untouched, and each business sees its own.
    assert "Anna's lunch" in phone.get("shared-1").text
    assert phone.get(ours["uid"]).status_code == 200
    assert "Bo's errand" not in phone.get(ours["uid"]).text
    assert api.ok("GET", f"/businesses/{salon.business}/bookings/{ours['id']}")["status"] == \
        "confirmed"
    assert theirs.delete("shared-1").status_code == 204
    assert "Anna's lunch" in phone.get("shared-1").text


def test_a_uid_of_a_booking_in_the_same_calendar_still_conflicts(
        api: Api, salon: Salon) -> None:
    phone = Phone(writable_link(api, salon))
    booking = book(api, salon, "2026-12-02T10:00:00+01:00")
    api.ok("POST", f"/businesses/{salon.business}/bookings/{booking['id']}/cancel")
    answer = phone.put(booking["uid"], event_text(booking["uid"], "20261203T090000",
                                                  "20261203T100000"))
    assert "UID" in refusal_reason(answer, 409, C + "no-uid-conflict")
    assert phone.get(booking["uid"]).status_code == 404



# --- overridden instances, open ends, RDATE ----------------------------------------------------

def taken(api: Api, salon: Salon, start: str) -> bool:
    """Whether a 45-minute booking starting at `start` is refused as overlapping (it is made
    and cancelled again when it fits, so the next probe sees the same calendar)."""
    answer = api.post(f"/businesses/{salon.business}/bookings", json={
        "calendar_id": salon.calendar, "service_id": salon.service, "start": start})
    if answer.status_code == 201:
        api.ok("POST", f"/businesses/{salon.business}/bookings/{answer.json()['id']}/cancel")
        return False
    assert answer.status_code == 409, answer.text
    return True


def with_override(uid: str, master_extra: str, override: str) -> str:
    """A weekly Wednesday 12:00-13:00 series (from 2 December 2026) and one overridden VEVENT."""
    head = event_text(uid, "20261202T120000", "20261202T130000", "Weekly lunch",
                      "RRULE:FREQ=WEEKLY;COUNT=10\r\n" + master_extra)
    return head.replace("END:VCALENDAR\r\n", override + "END:VCALENDAR\r\n")


MOVED_9TH = ("BEGIN:VEVENT\r\nUID:lunch\r\nDTSTAMP:20261124T080000Z\r\n"
             "RECURRENCE-ID;TZID=Europe/Copenhagen:20261209T120000\r\n"
             "DTSTART;TZID=Europe/Copenhagen:20261209T150000\r\n"
             "DTEND;TZID=Europe/Copenhagen:20261209T160000\r\nSUMMARY:Late lunch\r\n"
             "END:VEVENT\r\n")


def test_an_overridden_instance_blocks_at_its_own_time(api: Api, salon: Salon) -> None:
    phone = Phone(writable_link(api, salon))
    text = with_override("lunch", "", MOVED_9TH)
    assert phone.put("lunch", text).status_code == 201
    assert phone.get("lunch").content == text.encode()  # kept as sent, overrides and all
    # The moved instance blocks at its own time, not at the master's; the others as before.
    assert not taken(api, salon, "2026-12-09T12:00:00+01:00")
    assert taken(api, salon, "2026-12-09T15:15:00+01:00")
    assert taken(api, salon, "2026-12-02T12:00:00+01:00")
    assert taken(api, salon, "2026-12-16T12:00:00+01:00")
    # The phone sees its one event; another link sees the series and the moved instance.
    assert [e.icalendar_component["UID"] for e in phone.calendar.events()] == ["lunch"]
    hidden = [i["uid"] for i in api.ok("GET", f"/businesses/{salon.business}/blocked-times")
              ["items"] if i["uid"] != "lunch"]
    assert len(hidden) == 1 and phone.get(hidden[0]).status_code == 404
    full = Phone(make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar]))
    seen = full.calendar.search(start=_utc(2026, 12, 9), end=_utc(2026, 12, 10), event=True,
                                expand=True)
    assert sorted(str(e.icalendar_component["SUMMARY"]) for e in seen) == ["Late lunch"]
    # The override dropped on the phone: the master blocks at 12:00 again, 15:00 is free.
    plain = event_text("lunch", "20261202T120000", "20261202T130000", "Weekly lunch",
                       "RRULE:FREQ=WEEKLY;COUNT=10\r\n")
    assert phone.put("lunch", plain).status_code == 204
    assert taken(api, salon, "2026-12-09T12:00:00+01:00")
    assert not taken(api, salon, "2026-12-09T15:15:00+01:00")
    # A cancelled instance frees its time; deleting the event frees everything.
    cancelled = MOVED_9TH.replace("SUMMARY:Late lunch", "STATUS:CANCELLED")
    assert phone.put("lunch", with_override("lunch", "", cancelled)).status_code == 204
    assert not taken(api, salon, "2026-12-09T12:00:00+01:00")
    assert not taken(api, salon, "2026-12-09T15:15:00+01:00")
    assert phone.put("lunch", text).status_code == 204
    assert phone.delete("lunch").status_code == 204
    for start in ("2026-12-09T15:15:00+01:00", "2026-12-16T12:00:00+01:00"):
        assert not taken(api, salon, start)
    items = api.ok("GET", f"/businesses/{salon.business}/blocked-times")["items"]
    assert items == []


def test_a_transparent_override_frees_its_instance(api: Api, salon: Salon) -> None:
    phone = Phone(writable_link(api, salon))
    free = MOVED_9TH.replace("SUMMARY:Late lunch", "TRANSP:TRANSPARENT")
    assert phone.put("lunch", with_override("lunch", "", free)).status_code == 201
    assert not taken(api, salon, "2026-12-09T15:15:00+01:00")
    assert not taken(api, salon, "2026-12-09T12:00:00+01:00")
    assert taken(api, salon, "2026-12-23T12:00:00+01:00")


def test_events_without_an_end_follow_rfc_5545(api: Api, salon: Salon) -> None:
    """No DTEND: DURATION if given; else a date lasts the day and a date-time takes no time
    (kept, blocks nothing)."""
    phone = Phone(writable_link(api, salon))
    moment = event_text("call", "20261203T100000", "X").replace(
        "DTEND;TZID=Europe/Copenhagen:X\r\n", "")
    assert phone.put("call", moment).status_code == 201
    assert phone.get("call").content == moment.encode()
    assert not taken(api, salon, "2026-12-03T09:30:00+01:00")
    hour = event_text("gym", "20261203T140000", "X").replace(
        "DTEND;TZID=Europe/Copenhagen:X\r\n", "DURATION:PT1H\r\n")
    assert phone.put("gym", hour).status_code == 201
    assert taken(api, salon, "2026-12-03T14:30:00+01:00")
    assert not taken(api, salon, "2026-12-03T15:00:00+01:00")
    day = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Phone//Test//EN\r\nBEGIN:VEVENT\r\n"
           "UID:trip\r\nDTSTAMP:20261124T080000Z\r\nDTSTART;VALUE=DATE:20261210\r\n"
           "SUMMARY:Trip\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    assert phone.put("trip", day).status_code == 201
    assert taken(api, salon, "2026-12-10T16:00:00+01:00")
    assert not taken(api, salon, "2026-12-11T09:00:00+01:00")
    # An explicit DTEND equal to DTSTART stays refused (RFC 5545: DTEND is after DTSTART).
    same = event_text("same", "20261203T100000", "20261203T100000")
    assert phone.put("same", same).status_code == 400
    negative = hour.replace("DURATION:PT1H", "DURATION:-PT1H")
    assert phone.put("neg", negative.replace("UID:gym", "UID:neg")).status_code == 400


def test_rdates_block_and_are_bounded(api: Api, salon: Salon) -> None:
    phone = Phone(writable_link(api, salon))
    text = event_text("course", "20261203T100000", "20261203T110000", "Course",
                      "RDATE;TZID=Europe/Copenhagen:20261207T130000,20261214T130000\r\n"
                      "RDATE;VALUE=PERIOD:20261221T080000Z/PT2H\r\n")
    assert phone.put("course", text).status_code == 201
    assert taken(api, salon, "2026-12-03T10:00:00+01:00")
    assert taken(api, salon, "2026-12-07T13:30:00+01:00")
    assert taken(api, salon, "2026-12-14T12:30:00+01:00")
    assert taken(api, salon, "2026-12-21T10:00:00+01:00")  # 09:00-11:00 local
    assert not taken(api, salon, "2026-12-08T13:00:00+01:00")
    assert [e.icalendar_component["UID"] for e in phone.calendar.events()] == ["course"]
    state = phone.state()
    many = ",".join(f"2027{month:02d}{day:02d}T130000" for month in range(1, 7)
                    for day in range(1, 29))
    flood = event_text("flood", "20261203T160000", "20261203T170000", "Flood",
                       f"RDATE;TZID=Europe/Copenhagen:{many}\r\n")
    refusal_reason(phone.put("flood", flood), 403, C + "max-instances")
    assert phone.get("flood").status_code == 404 and phone.state() == state
    # An RDATE that collides with a booking is refused like the event itself.
    book(api, salon, "2026-12-28T13:00:00+01:00")
    clash = text.replace("20261214T130000", "20261228T130000")
    refusal_reason(phone.put("course", clash), 403, C + "valid-calendar-object-resource")
    assert phone.get("course").content == text.encode()


def test_instance_uids_are_ours(api: Api, salon: Salon) -> None:
    phone = Phone(writable_link(api, salon))
    uid = "bc-instance-0123"
    answer = phone.put(uid, event_text(uid, "20261203T100000", "20261203T110000"))
    assert answer.status_code == 400


# --- personal calendars ----------------------------------------------------------------------

def test_mkcalendar_makes_a_personal_calendar_and_delete_removes_it(
        api: Api, salon: Salon) -> None:
    phone = Phone(writable_link(api, salon))
    principal = phone.client.principal()
    made = principal.make_calendar(name="Family", cal_id="family")
    assert made.url.path.endswith("/family/")
    listed = {str(c.url): c.get_display_name() for c in principal.calendars()}
    assert sorted(listed.values()) == ["Anna Berg", "Family"]
    # Making it again is refused; the employee's calendar cannot be made or removed.
    again = requests.request("MKCALENDAR", str(made.url), auth=phone.auth, timeout=30)
    assert again.status_code == 403
    assert requests.delete(phone.url, auth=phone.auth, timeout=30).status_code == 403
    # An event put into it is a personal event of the employee: it blocks booking (the
    # default) and shows in the employee's other links through redaction.
    event = made.save_event(event_text("school", "20261203T100000", "20261203T110000",
                                       "School play MARKER4411"))
    assert taken(api, salon, "2026-12-03T10:15:00+01:00")
    assert event.url.path.endswith("/family/school.ics")
    assert [e.icalendar_component["UID"] for e in made.events()] == ["school"]
    assert "School play MARKER4411" in made.event_by_uid("school").data
    assert "school" not in [e.icalendar_component["UID"] for e in phone.calendar.events()]
    sent = event_text("dinner", "20261205T180000", "20261205T200000", "Dinner")
    assert requests.put(f"{made.url}dinner.ics", data=sent.encode(), auth=phone.auth,
                        timeout=30).status_code == 201
    assert requests.get(f"{made.url}dinner.ics", auth=phone.auth,
                        timeout=30).content == sent.encode()
    busy = make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar],
                     profile="busy")
    full = make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar])
    assert "MARKER4411" not in requests.get(busy["feed_url"], timeout=30).text
    assert "MARKER4411" in requests.get(full["feed_url"], timeout=30).text
    # The same UID in both collections is refused (UIDs are unique per employee).
    clash = phone.put("school", event_text("school", "20261204T100000", "20261204T110000"))
    refusal_reason(clash, 409, C + "no-uid-conflict")
    # A sync of the personal calendar reports its own changes.
    synced = made.objects_by_sync_token(load_objects=False)
    assert sorted(o.url.path.rsplit("/", 1)[1] for o in synced) == ["dinner.ics", "school.ics"]
    # DELETE removes it with its events: the time is free again, every view drops them.
    made.delete()
    assert [c.get_display_name() for c in principal.calendars()] == ["Anna Berg"]
    assert not taken(api, salon, "2026-12-03T10:15:00+01:00")
    assert "MARKER4411" not in requests.get(full["feed_url"], timeout=30).text
    assert requests.get(f"{made.url}school.ics", auth=phone.auth, timeout=30).status_code == 404
    actors = {c["actor"] for c in api.ok(
        "GET", f"/businesses/{salon.business}/calendars/{salon.calendar}/changes")["changes"]
        if c["uid"] in ("school", "dinner")}
    assert actors == {f"link:{phone.link['id']}"}


def test_personal_calendars_are_the_accounts_own(api: Api, salon: Salon) -> None:
    """Another employee's phone and a read-only link never list them; a todo-only calendar is
    refused."""
    phone = Phone(writable_link(api, salon))
    phone.client.principal().make_calendar(name="Gym", cal_id="gym")
    other_calendar = api.ok("POST", f"/businesses/{salon.business}/calendars", 201,
                            json={"name": "Bo Lund"})["id"]
    other = Phone(make_link(api, salon.business, scope="calendar",
                            calendar_ids=[other_calendar], writable=True))
    assert [c.get_display_name() for c in other.client.principal().calendars()] == ["Bo Lund"]
    reader = Phone(make_link(api, salon.business, scope="calendar",
                             calendar_ids=[salon.calendar]))
    assert [c.get_display_name() for c in reader.client.principal().calendars()] == \
        ["Anna Berg"]
    base = phone.url.rsplit("/", 2)[0]
    # A personal calendar holds events and tasks (test_caldav_writable_tasks.py), not journals.
    todo = ('<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
            '<C:supported-calendar-component-set><C:comp name="VJOURNAL"/>'
            '</C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>')
    answer = requests.request("MKCALENDAR", f"{base}/notes/", data=todo, auth=phone.auth,
                              timeout=30)
    refusal_reason(answer, 403, C + "supported-calendar-component")
    assert requests.request("MKCALENDAR", f"{base}/x/", data=todo, auth=reader.auth,
                            timeout=30).status_code in (401, 403)


def test_whether_a_personal_calendar_blocks_is_a_setting(api: Api, salon: Salon) -> None:
    phone = Phone(writable_link(api, salon))
    made = phone.client.principal().make_calendar(name="Hobby", cal_id="hobby")
    made.save_event(event_text("choir", "20261203T100000", "20261203T110000", "Choir",
                               "RRULE:FREQ=WEEKLY;COUNT=4\r\n"))
    made.save_event(event_text("idea", "20261203T140000", "20261203T150000", "Idea",
                               "TRANSP:TRANSPARENT\r\n"))
    base = f"/businesses/{salon.business}/calendars/{salon.calendar}/personal-calendars"
    listed = api.ok("GET", base)["items"]
    assert [(p["slug"], p["name"], p["blocks"]) for p in listed] == [("hobby", "Hobby", True)]
    assert taken(api, salon, "2026-12-10T10:15:00+01:00")
    off = api.ok("PATCH", f"{base}/{listed[0]['id']}", json={"blocks": False})
    assert off["blocks"] is False
    assert not taken(api, salon, "2026-12-10T10:15:00+01:00")
    # New events of a calendar that does not block do not block either.
    made.save_event(event_text("run", "20261204T100000", "20261204T110000", "Run"))
    assert not taken(api, salon, "2026-12-04T10:15:00+01:00")
    # Back on: each event blocks as it says (the transparent one still does not).
    api.ok("PATCH", f"{base}/{listed[0]['id']}", json={"blocks": True})
    assert taken(api, salon, "2026-12-10T10:15:00+01:00")
    assert taken(api, salon, "2026-12-04T10:15:00+01:00")
    assert not taken(api, salon, "2026-12-03T14:00:00+01:00")
    # Turning it on while an event overlaps a booking is refused, nothing changes.
    api.ok("PATCH", f"{base}/{listed[0]['id']}", json={"blocks": False})
    book(api, salon, "2026-12-17T10:00:00+01:00")
    refused = api.patch(f"{base}/{listed[0]['id']}", json={"blocks": True})
    assert refused.status_code == 409, refused.text
    assert api.ok("GET", base)["items"][0]["blocks"] is False
    other, _ = second_business(api)
    assert api.get(f"/businesses/{other.business}/calendars/{other.calendar}/"
                   f"personal-calendars/{listed[0]['id']}").status_code in (404, 405)
    assert api.patch(f"/businesses/{other.business}/calendars/{other.calendar}/"
                     f"personal-calendars/{listed[0]['id']}",
                     json={"blocks": True}).status_code == 404


def test_a_personal_calendar_can_be_renamed_and_nothing_else_set(api: Api, salon: Salon) -> None:
    """Its name (and colour: test_caldav_personal_colour.py), nothing else."""
    phone = Phone(writable_link(api, salon))
    made = phone.client.principal().make_calendar(name="Yep", cal_id="yep")
    name = caldav.elements.dav.DisplayName
    made.set_properties([name("hooray")])
    assert made.get_properties([name()])[name.tag] == "hooray"
    colour = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" '
              'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>x'
              '</D:displayname><C:calendar-description>mine</C:calendar-description>'
              '</D:prop></D:set></D:propertyupdate>')
    answer = requests.request("PROPPATCH", str(made.url), data=colour, auth=phone.auth,
                              timeout=30)
    assert answer.status_code == 207 and "403" in answer.text and "424" in answer.text
    assert made.get_properties([name()])[name.tag] == "hooray"
    refused = requests.request("PROPPATCH", phone.url, data=colour, auth=phone.auth,
                               timeout=30)
    assert refused.status_code == 403
    assert requests.request("PROPPATCH", str(made.url), data=b"<not xml", auth=phone.auth,
                            timeout=30).status_code == 400


def test_removing_a_personal_calendar_removes_each_instance_once(
        api: Api, salon: Salon, live: LiveServer) -> None:
    """An overridden instance is stored in its event's personal calendar too: removing the
    calendar deletes and journals each row once (it was listed twice: the second delete found
    no row, and the journal had two tombstones)."""
    phone = Phone(writable_link(api, salon))
    url = str(phone.client.principal().make_calendar(name="Lunches", cal_id="lunches").url)
    assert requests.put(url + "lunch.ics", data=with_override("lunch", "", MOVED_9TH).encode(),
                        auth=phone.auth, timeout=30).status_code == 201
    assert requests.delete(url, auth=phone.auth, timeout=30).status_code == 204
    with live.runtime.db.read() as session:
        tombstones = session.execute(select(JournalEntry.item_id).where(
            JournalEntry.kind == "blocked", JournalEntry.action == "delete")).scalars().all()
    assert len(tombstones) == 2 and len(set(tombstones)) == 2  # the event and its instance

"""Writable CalDAV accounts (an employee's phone), over real HTTP on SQLite and PostgreSQL, with
python-caldav as the client (raw requests where a byte, a header or an error body is checked):
personal events kept as sent and shown through redaction elsewhere, booking moves under the
staff rules (onto a booking, blocked time, a personal event, outside hours, across DST, in the
repeated hour), deletes that cancel only when the business allows it, If-Match/If-None-Match,
concurrent phone and API writes, hostile bodies, and who made each change in the journal.

The server runs on the injected clock (support.NOW, a Tuesday in late November 2026), so the
literal dates below are all in its future."""

from __future__ import annotations

import datetime as dt
import threading
import xml.etree.ElementTree as ET
from typing import Any
from zoneinfo import ZoneInfo

import caldav
import icalendar
import pytest
import requests
from caldav.lib import error as dav_error

from server.db.models import Calendar
from support import Api, LiveServer, Salon, book, block, make_link, make_salon

CPH = "Europe/Copenhagen"
UTC = dt.timezone.utc
D, C = "{DAV:}", "{urn:ietf:params:xml:ns:caldav}"
BC = "{http://bookingcal.invalid/ns/}"
CS = "{http://calendarserver.org/ns/}"


@pytest.fixture
def api(live: LiveServer) -> Api:
    return Api(live.url)


@pytest.fixture
def salon(api: Api) -> Salon:
    return make_salon(api)


class Phone:
    """A writable account seen two ways: python-caldav, and raw requests for exact checks."""

    def __init__(self, link: dict[str, Any]) -> None:
        account = link["caldav"]
        self.link = link
        self.auth = (account["username"], account["password"])
        self.client = caldav.DAVClient(url=account["server"], username=account["username"],
                                       password=account["password"])
        self.calendar = self.client.principal().calendars()[0]
        self.url = str(self.calendar.url)

    def item_url(self, uid: str) -> str:
        return f"{self.url}{uid}.ics"

    def put(self, uid: str, text: str | bytes, **headers: str) -> requests.Response:
        return requests.put(self.item_url(uid), data=text.encode() if isinstance(text, str)
                            else text, auth=self.auth, timeout=30,
                            headers={"Content-Type": "text/calendar; charset=utf-8",
                                     **headers})

    def get(self, uid: str) -> requests.Response:
        return requests.get(self.item_url(uid), auth=self.auth, timeout=30)

    def delete(self, uid: str, **headers: str) -> requests.Response:
        return requests.delete(self.item_url(uid), auth=self.auth, timeout=30, headers=headers)

    def state(self) -> tuple[str, str]:
        """(sync token, ctag) of the calendar."""
        body = (f'<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:CS="{CS[1:-1]}">'
                '<D:prop><D:sync-token/><CS:getctag/></D:prop></D:propfind>')
        answer = requests.request("PROPFIND", self.url, data=body, auth=self.auth,
                                  headers={"Depth": "0"}, timeout=30)
        assert answer.status_code == 207, answer.text
        root = ET.fromstring(answer.content)
        return root.findtext(f".//{D}sync-token") or "", root.findtext(f".//{CS}getctag") or ""


def writable_link(api: Api, salon: Salon, **fields: Any) -> dict[str, Any]:
    return make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar],
                     writable=True, label="Anna's phone", **fields)


def event_text(uid: str, start: str, end: str, summary: str = "Lunch", extra: str = "",
               tz: str | None = CPH) -> str:
    zone = f";TZID={tz}" if tz else ""
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Phone//Test//EN\r\n"
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261124T080000Z\r\n"
            f"DTSTART{zone}:{start}\r\nDTEND{zone}:{end}\r\nSUMMARY:{summary}\r\n{extra}"
            "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nTRIGGER:-PT15M\r\n"
            "END:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def booking_of(api: Api, salon: Salon, booking: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = api.ok("GET", f"/businesses/{salon.business}/bookings/"
                                          f"{booking['id']}")
    return found


def changes(api: Api, salon: Salon) -> list[dict[str, Any]]:
    answer = api.ok("GET", f"/businesses/{salon.business}/calendars/{salon.calendar}/changes")
    found: list[dict[str, Any]] = answer["changes"]
    return found


def moved_text(phone: Phone, uid: str, start: dt.datetime, end: dt.datetime,
               **props: str) -> str:
    """Our booking as the phone has it, with new times (and any property changed)."""
    answer = phone.get(uid)
    assert answer.status_code == 200, answer.text
    calendar = icalendar.Calendar.from_ical(answer.text)
    event = next(iter(calendar.walk("VEVENT")))
    for name in ("DTSTART", "DTEND"):
        del event[name]
    event.add("DTSTART", start)
    event.add("DTEND", end)
    for name, value in props.items():
        if name in event:
            del event[name]
        event.add(name, value)
    return calendar.to_ical().decode()


def move_with_caldav(phone: Phone, uid: str, start: dt.datetime, end: dt.datetime) -> None:
    event = phone.calendar.event_by_uid(uid)
    component = event.icalendar_component
    for name in ("DTSTART", "DTEND", "DURATION"):
        component.pop(name, None)
    component.add("DTSTART", start)
    component.add("DTEND", end)
    event.save()


def refusal_reason(answer: requests.Response, status: int, precondition: str) -> str:
    assert answer.status_code == status, (answer.status_code, answer.text)
    root = ET.fromstring(answer.content)
    assert root.tag == D + "error"
    assert root.find(precondition) is not None, answer.text
    reason = root.findtext(BC + "reason") or ""
    assert reason, answer.text
    return reason


def cph(day: int, hour: int, minute: int = 0, month: int = 12, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(CPH))


# --- the link ------------------------------------------------------------------------------


def test_only_one_calendar_with_profile_full_can_be_writable(api: Api, salon: Salon) -> None:
    base = f"/businesses/{salon.business}/links"
    for body in ({"scope": "calendar", "calendar_ids": [salon.calendar], "profile": "limited"},
                 {"scope": "all", "profile": "full"}):
        answer = api.post(base, json={**body, "writable": True})
        assert answer.status_code in (400, 422), answer.text
        assert "writable" in answer.text
    plain = make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar])
    assert plain["writable"] is False
    link = writable_link(api, salon)
    assert link["writable"] is True
    answer = api.patch(f"{base}/{link['id']}", json={"profile": "busy"})
    assert answer.status_code in (400, 422), answer.text


def privileges(link: dict[str, Any], url: str) -> set[str]:
    account = link["caldav"]
    body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>'
            '<D:current-user-privilege-set/></D:prop></D:propfind>')
    answer = requests.request("PROPFIND", url, data=body, headers={"Depth": "0"}, timeout=30,
                              auth=(account["username"], account["password"]))
    assert answer.status_code == 207, answer.text
    root = ET.fromstring(answer.content)
    return {child.tag for privilege in root.iter(D + "privilege") for child in privilege}


def test_the_account_advertises_write_privileges_only_when_writable(
        api: Api, salon: Salon) -> None:
    phone = Phone(writable_link(api, salon))
    assert D + "write-content" in privileges(phone.link, phone.url)
    reader = make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar])
    url = phone.url.replace(phone.link["caldav"]["username"], reader["caldav"]["username"])
    assert D + "write-content" not in privileges(reader, url)
    # A read-only account still cannot write, as before.
    answer = requests.put(url + "x-1.ics", data=event_text("x-1", "20261201T120000",
                                                           "20261201T130000"),
                          auth=(reader["caldav"]["username"], reader["caldav"]["password"]),
                          timeout=30)
    assert answer.status_code == 403


# --- personal events -----------------------------------------------------------------------


def test_a_personal_event_round_trips_as_sent_and_is_journaled(api: Api, salon: Salon) -> None:
    phone = Phone(writable_link(api, salon))
    text = event_text("lunch-1", "20261201T120000", "20261201T130000", "Lunch with Eva",
                      "DESCRIPTION:Call the bank\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\n"
                      "ATTENDEE;CN=Eva:mailto:eva@example.com\r\n")
    put = phone.put("lunch-1", text, **{"If-None-Match": "*"})
    assert put.status_code == 201, put.text
    got = phone.get("lunch-1")
    assert got.content == text.encode()  # byte for byte: RRULE, VALARM, attendees and all
    assert got.headers["ETag"] == put.headers["ETag"] == phone.get("lunch-1").headers["ETag"]
    # python-caldav sees it among the calendar's events.
    summaries = {str(e.icalendar_component["SUMMARY"]) for e in phone.calendar.events()}
    assert "Lunch with Eva" in summaries
    found = [c for c in changes(api, salon) if c["uid"] == "lunch-1"]
    assert found == [{"seq": found[0]["seq"], "kind": "blocked", "id": found[0]["id"],
                      "uid": "lunch-1", "action": "put", "actor": f"link:{phone.link['id']}"}]
    # Replaced with If-Match: a new ETag; the old one is now stale (412, nothing changed).
    second = text.replace("Lunch with Eva", "Lunch with Eva and Ole")
    again = phone.put("lunch-1", second, **{"If-Match": put.headers["ETag"]})
    assert again.status_code == 204, again.text
    assert again.headers["ETag"] != put.headers["ETag"]
    assert phone.put("lunch-1", text, **{"If-Match": put.headers["ETag"]}).status_code == 412
    assert phone.put("lunch-1", text, **{"If-None-Match": "*"}).status_code == 412
    assert phone.get("lunch-1").content == second.encode()
    assert phone.delete("lunch-1", **{"If-Match": put.headers["ETag"]}).status_code == 412
    # Deleted with python-caldav.
    phone.calendar.event_by_uid("lunch-1").delete()
    assert phone.get("lunch-1").status_code == 404
    last = [c for c in changes(api, salon) if c["uid"] == "lunch-1"]
    assert last[0]["action"] == "delete" and last[0]["actor"] == f"link:{phone.link['id']}"
    assert phone.delete("lunch-1").status_code == 404


def test_personal_events_show_through_redaction_in_the_other_links(
        api: Api, salon: Salon) -> None:
    """Marker scan: the title appears in full links only, the rest never leaves the phone."""
    phone = Phone(writable_link(api, salon))
    title, secret = "TITLEMARKER7731 dentist", "DESCMARKER5512"
    text = event_text("dentist-1", "20261202T090000", "20261202T100000", title,
                      f"DESCRIPTION:{secret}\r\nLOCATION:{secret} street\r\n")
    assert phone.put("dentist-1", text).status_code == 201
    outputs: dict[str, list[str]] = {}
    for profile in ("full", "limited", "busy"):
        for scope, ids in (("calendar", [salon.calendar]), ("all", [])):
            link = make_link(api, salon.business, scope=scope, profile=profile,
                             calendar_ids=ids)
            account = link["caldav"]
            auth = (account["username"], account["password"])
            texts = [requests.get(link["feed_url"], timeout=30).text]
            client = caldav.DAVClient(url=account["server"], username=auth[0],
                                      password=auth[1])
            calendar = client.principal().calendars()[0]
            texts += [e.data for e in calendar.events()]
            texts += [e.data for e in calendar.search(
                start=dt.datetime(2026, 12, 1, tzinfo=UTC),
                end=dt.datetime(2026, 12, 3, tzinfo=UTC), event=True)]
            texts.append(requests.get(f"{calendar.url}dentist-1.ics", auth=auth,
                                      timeout=30).text)
            outputs.setdefault(profile, []).extend(texts)
    for profile, texts in outputs.items():
        everything = "\n".join(texts)
        assert secret not in everything, profile
        assert ("TITLEMARKER7731" in everything) == (profile == "full"), profile
        assert "Busy" in everything or profile == "full"
        assert "Reminder" not in everything  # the phone's alarm stays on the phone


def test_opaque_personal_events_block_online_booking_transparent_ones_do_not(
        api: Api, salon: Salon) -> None:
    base = f"/businesses/{salon.business}"
    api.ok("PUT", f"{base}/calendars/{salon.calendar}/opening-hours", json={"intervals": [
        {"weekday": day, "opens": "08:00", "closes": "18:00"} for day in range(7)]})
    phone = Phone(writable_link(api, salon))
    assert phone.put("gym", event_text("gym", "20261203T100000", "20261203T110000", "Gym",
                                       "RRULE:FREQ=DAILY\r\n")).status_code == 201
    assert phone.put("idea", event_text("idea", "20261203T140000", "20261203T150000", "Idea",
                                         "TRANSP:TRANSPARENT\r\n")).status_code == 201

    def online(start: str) -> requests.Response:
        return api.post(f"{base}/bookings", json={
            "calendar_id": salon.calendar, "service_id": salon.service, "start": start,
            "source": "online"})

    # The endless daily series blocks every day (bounded expansion), the free one nothing.
    assert online("2026-12-03T10:15:00+01:00").status_code == 409
    assert online("2027-05-20T10:15:00+02:00").status_code == 409
    assert online("2026-12-03T14:00:00+01:00").status_code == 201
    # Staff bookings may not overlap it either; blocked time may not overlap a booking.
    assert api.post(f"{base}/bookings", json={
        "calendar_id": salon.calendar, "service_id": salon.service,
        "start": "2026-12-04T10:30:00+01:00"}).status_code == 409
    book(api, salon, "2026-12-07T16:00:00+01:00")
    clash = phone.put("late", event_text("late", "20261207T160000", "20261207T163000"))
    assert "booking" in refusal_reason(clash, 403, C + "valid-calendar-object-resource")
    assert phone.get("late").status_code == 404


# --- booking moves -------------------------------------------------------------------------


def test_a_booking_moved_on_the_phone_is_rescheduled(api: Api, salon: Salon) -> None:
    booking = book(api, salon, "2026-11-30T10:00:00+01:00", client_id=salon.client)
    phone = Phone(writable_link(api, salon))
    reader = make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar],
                       profile="limited")
    watcher = Phone(reader)  # a read-only account, answered by the fast path
    token, _ = watcher.state()
    move_with_caldav(phone, booking["uid"], cph(1, 14), cph(1, 14, 45))
    moved = booking_of(api, salon, booking)
    assert moved["start"] == "2026-12-01T14:00:00+01:00"
    assert moved["end"] == "2026-12-01T14:45:00+01:00"
    last = [c for c in changes(api, salon) if c["uid"] == booking["uid"]][-1]
    assert last["actor"] == f"link:{phone.link['id']}" and last["action"] == "put"
    # Every other copy follows: the feed, and CalDAV answered by the fast path (a sync from
    # before the move reports it, a multiget gives the new time).
    feed = requests.get(reader["feed_url"], timeout=30).text
    assert "DTSTART;TZID=Europe/Copenhagen:20261201T140000" in feed
    report = (f'<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}'
              '</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop>'
              '</D:sync-collection>')
    synced = requests.request("REPORT", watcher.url, data=report, auth=watcher.auth,
                              timeout=30)
    assert synced.status_code == 207 and f"{booking['uid']}.ics" in synced.text
    seen = watcher.calendar.event_by_uid(booking["uid"])
    assert seen.icalendar_component["DTSTART"].dt == cph(1, 14)
    # An alarm added on the phone is kept for this account only, not on the booking: this
    # account's sync token and ctag move (its phone re-syncs it), the journal and every other
    # link's do not, and the other links never see it.
    before = phone.get(booking["uid"])
    with_alarm = before.text.replace("END:VEVENT", "BEGIN:VALARM\r\nACTION:DISPLAY\r\n"
                                     "DESCRIPTION:ALARMMARKER\r\nTRIGGER:-PT5M\r\n"
                                     "END:VALARM\r\nEND:VEVENT")
    state, watched = phone.state(), watcher.state()
    journal_before = changes(api, salon)
    answer = phone.put(booking["uid"], with_alarm, **{"If-Match": before.headers["ETag"]})
    assert answer.status_code == 204, answer.text
    after = phone.get(booking["uid"])
    assert after.headers["ETag"] == answer.headers["ETag"] != before.headers["ETag"]
    assert "ALARMMARKER" in after.text and "DTSTART;TZID=Europe/Copenhagen:20261201T140000" \
        in after.text
    moved_on = phone.state()
    assert moved_on[0] != state[0] and moved_on[1] != state[1]
    assert watcher.state() == watched and changes(api, salon) == journal_before
    own_report = report.replace(token, state[0])
    synced = requests.request("REPORT", phone.url, data=own_report, auth=phone.auth, timeout=30)
    assert synced.status_code == 207 and f"{booking['uid']}.ics" in synced.text, synced.text
    assert answer.headers["ETag"] in synced.text
    assert "ALARMMARKER" not in requests.get(reader["feed_url"], timeout=30).text
    full = make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar])
    assert "ALARMMARKER" not in requests.get(full["feed_url"], timeout=30).text
    # Sent back as served: nothing changes, the same ETag.
    again = phone.put(booking["uid"], after.text)
    assert again.status_code == 204 and again.headers["ETag"] == after.headers["ETag"]
    assert phone.state() == moved_on
    # The alarm removed on the phone: gone from this account's copy too.
    removed = phone.put(booking["uid"], before.text)
    assert removed.status_code == 204
    assert "ALARMMARKER" not in phone.get(booking["uid"]).text
    assert removed.headers["ETag"] not in (before.headers["ETag"], after.headers["ETag"])
    assert phone.state() != moved_on
    synced = requests.request("REPORT", phone.url, data=report.replace(token, moved_on[0]),
                              auth=phone.auth, timeout=30)
    assert f"{booking['uid']}.ics" in synced.text and removed.headers["ETag"] in synced.text


def assert_refused_and_unchanged(api: Api, salon: Salon, phone: Phone, booking: dict[str, Any],
                                 text: str, precondition: str = C +
                                 "valid-calendar-object-resource") -> str:
    before, state = phone.get(booking["uid"]), phone.state()
    answer = phone.put(booking["uid"], text)
    reason = refusal_reason(answer, 403, precondition)
    after = phone.get(booking["uid"])
    assert after.headers["ETag"] == before.headers["ETag"] and after.text == before.text
    assert phone.state() == state
    assert booking_of(api, salon, booking)["start"] == booking["start"]
    return reason


def test_moves_that_break_the_staff_rules_are_refused(api: Api, salon: Salon) -> None:
    booking = book(api, salon, "2026-11-30T10:00:00+01:00")
    other = book(api, salon, "2026-12-01T09:00:00+01:00")
    blocked = block(api, salon, start="2026-12-01T12:00:00+01:00",
                    end="2026-12-01T13:00:00+01:00", title="Team meeting")
    phone = Phone(writable_link(api, salon))
    assert phone.put("yoga", event_text("yoga", "20261201T150000",
                                        "20261201T160000")).status_code == 201
    uid = booking["uid"]
    reason = assert_refused_and_unchanged(api, salon, phone, booking, moved_text(
        phone, uid, cph(1, 9, 30), cph(1, 10, 15)))
    assert f"booking {other['id']}" in reason
    reason = assert_refused_and_unchanged(api, salon, phone, booking, moved_text(
        phone, uid, cph(1, 12, 30), cph(1, 13, 15)))
    assert f"blocked time {blocked['id']}" in reason
    reason = assert_refused_and_unchanged(api, salon, phone, booking, moved_text(
        phone, uid, cph(1, 15, 15), cph(1, 16)))
    assert "blocked time" in reason
    # python-caldav sees the refusal as an error.
    with pytest.raises(dav_error.DAVError):
        move_with_caldav(phone, uid, cph(1, 9, 30), cph(1, 10, 15))
    # Other edits are refused the same way.
    reason = assert_refused_and_unchanged(api, salon, phone, booking, moved_text(
        phone, uid, cph(30, 10, month=11), cph(30, 10, 45, month=11), SUMMARY="Free haircut"))
    assert "only a booking's start and end" in reason
    reason = assert_refused_and_unchanged(api, salon, phone, booking, moved_text(
        phone, uid, cph(30, 11, month=11), cph(30, 11, 45, month=11), DESCRIPTION="Pay cash"))
    assert "only a booking's start and end" in reason


def test_buffers_count_and_the_business_may_require_opening_hours(
        api: Api, live: LiveServer) -> None:
    salon = make_salon(api, buffer_after=30)
    base = f"/businesses/{salon.business}"
    booking = book(api, salon, "2026-11-30T10:00:00+01:00")
    book(api, salon, "2026-12-01T11:00:00+01:00")
    phone = Phone(writable_link(api, salon))
    # 10:00-10:45 plus a 30-minute buffer reaches into the 11:00 booking.
    reason = assert_refused_and_unchanged(api, salon, phone, booking, moved_text(
        phone, booking["uid"], cph(1, 10), cph(1, 10, 45)))
    assert "buffers included" in reason
    api.ok("PUT", f"{base}/calendars/{salon.calendar}/opening-hours", json={"intervals": [
        {"weekday": day, "opens": "09:00", "closes": "17:00"} for day in range(7)]})
    api.ok("PATCH", base, json={"calendar_moves_within_hours": True})
    reason = assert_refused_and_unchanged(api, salon, phone, booking, moved_text(
        phone, booking["uid"], cph(2, 18), cph(2, 18, 45)))
    assert "opening hours" in reason
    api.ok("PATCH", base, json={"calendar_moves_within_hours": False})
    assert phone.put(booking["uid"], moved_text(phone, booking["uid"], cph(2, 18),
                                                cph(2, 18, 45))).status_code == 204
    assert booking_of(api, salon, booking)["start"] == "2026-12-02T18:00:00+01:00"


def test_moves_across_dst_and_into_the_repeated_hour(api: Api, salon: Salon) -> None:
    booking = book(api, salon, "2027-03-26T10:00:00+01:00")
    phone = Phone(writable_link(api, salon))
    # Across the spring change: the same wall-clock time, one hour less of offset.
    move_with_caldav(phone, booking["uid"], cph(29, 10, month=3, year=2027),
                     cph(29, 10, 45, month=3, year=2027))
    assert booking_of(api, salon, booking)["start"] == "2027-03-29T10:00:00+02:00"
    # Into the hour the clocks repeat (31 October 2027, 02:00-03:00 twice): the second 02:30,
    # sent as UTC, is kept as that instant.
    second = dt.datetime(2027, 10, 31, 1, 30, tzinfo=UTC)
    text = moved_text(phone, booking["uid"], second, second + dt.timedelta(minutes=45))
    assert phone.put(booking["uid"], text).status_code == 204
    moved = booking_of(api, salon, booking)
    assert dt.datetime.fromisoformat(moved["start"]) == second
    assert moved["start"].endswith("+01:00")
    # The first 02:30 by its local time: TZID wall-clock times mean the first of the two.
    move_with_caldav(phone, booking["uid"], cph(31, 2, 30, month=10, year=2027).replace(fold=0),
                     cph(31, 3, 15, month=10, year=2027))
    moved = booking_of(api, salon, booking)
    assert dt.datetime.fromisoformat(moved["start"]) == dt.datetime(2027, 10, 31, 0, 30,
                                                                    tzinfo=UTC)
    # A time the spring change skips does not exist: refused, nothing changed.
    skipped = moved_text(phone, booking["uid"], cph(1, 9, month=3, year=2027),
                         cph(1, 9, 45, month=3, year=2027)).replace(
        "20270301T090000", "20270328T023000")
    answer = phone.put(booking["uid"], skipped)
    assert answer.status_code in (400, 403), answer.text
    assert booking_of(api, salon, booking)["start"] == moved["start"]


# --- deletes -------------------------------------------------------------------------------


def test_a_delete_cancels_only_when_the_business_allows_it(api: Api, salon: Salon) -> None:
    booking = book(api, salon, "2026-11-30T10:00:00+01:00")
    phone = Phone(writable_link(api, salon))
    state = phone.state()
    reason = refusal_reason(phone.delete(booking["uid"]), 403, D + "need-privileges")
    assert "allow" in reason or "cancel" in reason
    assert booking_of(api, salon, booking)["status"] == "confirmed"
    assert phone.state() == state
    api.ok("PATCH", f"/businesses/{salon.business}", json={"allow_cancel_from_calendar": True})
    stale = phone.delete(booking["uid"], **{"If-Match": '"not-the-etag"'})
    assert stale.status_code == 412
    phone.calendar.event_by_uid(booking["uid"]).delete()
    assert booking_of(api, salon, booking)["status"] == "cancelled"
    last = [c for c in changes(api, salon) if c["uid"] == booking["uid"]][-1]
    assert last["action"] == "delete" and last["actor"] == f"link:{phone.link['id']}"
    assert phone.get(booking["uid"]).status_code == 404


def test_blocked_time_made_in_the_booking_system_stays_there(api: Api, salon: Salon) -> None:
    blocked = block(api, salon, start="2026-12-01T12:00:00+01:00",
                    end="2026-12-01T13:00:00+01:00", title="Team meeting")
    phone = Phone(writable_link(api, salon))
    assert phone.delete(blocked["uid"]).status_code == 403
    answer = phone.put(blocked["uid"], event_text(blocked["uid"], "20261201T140000",
                                                  "20261201T150000"))
    assert answer.status_code == 403
    assert requests.request("MKCALENDAR", phone.url + "new/", auth=phone.auth,
                            timeout=30).status_code == 403
    assert requests.delete(phone.url, auth=phone.auth, timeout=30).status_code == 403


# --- concurrency ---------------------------------------------------------------------------


def test_concurrent_phone_and_api_writes_never_overlap(api: Api, salon: Salon) -> None:
    base = f"/businesses/{salon.business}"
    phone = Phone(writable_link(api, salon))
    for round_ in range(4):
        day = 7 + round_
        booking = book(api, salon, f"2026-12-{day:02d}T08:00:00+01:00")
        text = moved_text(phone, booking["uid"], cph(day, 12), cph(day, 12, 45))
        barrier = threading.Barrier(2)
        results: dict[str, int] = {}

        def from_phone() -> None:
            barrier.wait()
            results["phone"] = phone.put(booking["uid"], text).status_code

        def from_api() -> None:
            barrier.wait()
            results["api"] = Api(api.base).post(f"{base}/bookings", json={
                "calendar_id": salon.calendar, "service_id": salon.service,
                "start": f"2026-12-{day:02d}T12:15:00+01:00"}).status_code

        threads = [threading.Thread(target=from_phone), threading.Thread(target=from_api)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(results.values()) in ([201, 403], [204, 409]), results
        page = api.ok("GET", f"{base}/bookings", params={
            "start": f"2026-12-{day:02d}T00:00:00+01:00",
            "end": f"2026-12-{day:02d}T23:59:00+01:00", "status": "confirmed"})
        spans = sorted((dt.datetime.fromisoformat(b["start"]), dt.datetime.fromisoformat(
            b["end"])) for b in page["items"])
        # The phone won: its move alone; the API won: the booking stayed, the new one beside.
        assert len(spans) == (1 if results["phone"] == 204 else 2), (results, spans)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), spans
        moved = booking_of(api, salon, booking)["start"]
        assert moved == (f"2026-12-{day:02d}T12:00:00+01:00" if results["phone"] == 204
                         else booking["start"])


# --- hostile bodies ------------------------------------------------------------------------


def test_hostile_bodies_are_refused_and_nothing_is_stored(
        api: Api, salon: Salon, live: LiveServer) -> None:
    phone = Phone(writable_link(api, salon))
    state = phone.state()
    good = event_text("h-1", "20261201T120000", "20261201T130000")
    hostile = {
        "malformed": good.replace("END:VEVENT\r\n", ""),
        "not text": b"\xff\xfe\x00BEGIN:VCALENDAR",
        "binary noise": bytes(range(256)) * 4,
        "no dtstart": good.replace("DTSTART;TZID=Europe/Copenhagen:20261201T120000\r\n", ""),
        "end before start": good.replace("DTEND;TZID=Europe/Copenhagen:20261201T130000",
                                         "DTEND;TZID=Europe/Copenhagen:20261201T110000"),
        "bad tzid": good.replace("TZID=Europe/Copenhagen", "TZID=Mars/Olympus_Mons"),
        "10k instances": good.replace("SUMMARY", "RRULE:FREQ=DAILY;COUNT=10000\r\nSUMMARY"),
        "secondly": good.replace("SUMMARY", "RRULE:FREQ=SECONDLY\r\nSUMMARY"),
        "never occurs": good.replace("SUMMARY",
                                     "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30\r\nSUMMARY"),
        "two uids": good.replace("END:VCALENDAR", good.split("VERSION:2.0\r\n")[1]
                                 .split("END:VCALENDAR")[0].replace("UID:h-1", "UID:h-2")
                                 + "END:VCALENDAR").replace("END:VCALENDAR\r\nBEGIN", "BEGIN"),
        "a todo": good.replace("VEVENT", "VTODO"),
        "year 9999": good.replace("20261201T130000", "99991201T130000"),
        "uid mismatch": good.replace("UID:h-1", "UID:h-9"),
        "huge": good.replace("SUMMARY:Lunch", "SUMMARY:" + "x" * (live.runtime.config
                                                                 .max_body_bytes + 10)),
    }
    for name, body in hostile.items():
        answer = phone.put("h-1", body)
        assert 400 <= answer.status_code < 500, (name, answer.status_code, answer.text[:300])
        assert "Traceback" not in answer.text
        assert phone.get("h-1").status_code == 404, name
    assert phone.state() == state
    items = api.ok("GET", f"/businesses/{salon.business}/blocked-times")["items"]
    assert items == []
    # The same body, made sound, is accepted: the refusals above were about what they hold.
    assert phone.put("h-1", good).status_code == 201


def test_a_long_event_is_kept_without_widening_range_queries(
        api: Api, salon: Salon, live: LiveServer) -> None:
    """A year-long timed event (python-caldav's own tests send one) is accepted; it blocks in
    its middle and is found there by a time-range query, while the calendar's longest span
    (the bound of every range query) stays as it was."""
    base = f"/businesses/{salon.business}"
    api.ok("PUT", f"{base}/calendars/{salon.calendar}/opening-hours", json={"intervals": [
        {"weekday": day, "opens": "08:00", "closes": "18:00"} for day in range(7)]})
    phone = Phone(writable_link(api, salon))
    span = longest_span(live, salon)
    assert phone.put("sabbatical", event_text("sabbatical", "20261210T080000",
                                              "20271210T090000", "Sabbatical")
                     ).status_code == 201
    assert api.post(f"{base}/bookings", json={
        "calendar_id": salon.calendar, "service_id": salon.service,
        "start": "2027-06-15T10:00:00+02:00", "source": "online"}).status_code == 409
    busy = make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar],
                     profile="busy")
    account = busy["caldav"]
    client = caldav.DAVClient(url=account["server"], username=account["username"],
                              password=account["password"])
    found = client.principal().calendars()[0].search(
        start=dt.datetime(2027, 6, 15, tzinfo=UTC), end=dt.datetime(2027, 6, 16, tzinfo=UTC),
        event=True)
    assert [str(e.icalendar_component["SUMMARY"]) for e in found] == ["Busy"]
    assert longest_span(live, salon) == span < 14 * 86400


def longest_span(live: LiveServer, salon: Salon) -> int:
    with live.runtime.db.read() as session:
        calendar = session.get(Calendar, salon.calendar)
        assert calendar is not None
        return calendar.max_span_seconds


def test_mangled_bodies_never_fail_the_server(api: Api, salon: Salon) -> None:
    """Seeded random damage to a good body (lines dropped, swapped, cut, bytes flipped): every
    answer is a 2xx or a 4xx, never a 5xx; a 4xx stores nothing."""
    import random

    phone = Phone(writable_link(api, salon))
    good = event_text("m-0", "20261201T120000", "20261201T130000",
                      extra="RRULE:FREQ=WEEKLY;BYDAY=TU;UNTIL=20270601T000000Z\r\n"
                            "EXDATE;TZID=Europe/Copenhagen:20261208T120000\r\n")
    lines = good.split("\r\n")
    rng = random.Random(20261124)
    for number in range(1, 121):
        uid = f"m-{number}"
        mangled = [line.replace("m-0", uid) for line in lines]
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(mangled))
            action = rng.choice(("drop", "swap", "cut", "flip", "repeat"))
            if action == "drop":
                del mangled[at]
            elif action == "swap":
                other = rng.randrange(len(mangled))
                mangled[at], mangled[other] = mangled[other], mangled[at]
            elif action == "cut":
                mangled[at] = mangled[at][:rng.randrange(len(mangled[at]) + 1)]
            elif action == "repeat":
                mangled.insert(at, mangled[at])
            elif mangled[at]:
                spot = rng.randrange(len(mangled[at]))
                mangled[at] = mangled[at][:spot] + chr(rng.randrange(32, 127)) + \
                    mangled[at][spot + 1:]
        answer = phone.put(uid, "\r\n".join(mangled))
        assert answer.status_code < 500, (number, answer.status_code, answer.text[:300])
        stored = phone.get(uid).status_code
        assert stored == (200 if answer.status_code < 300 else 404), (number, answer.text[:300])

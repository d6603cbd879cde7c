"""Writable CalDAV accounts, the later parts: UIDs scoped to the calendar (no existence oracle
across businesses), alarms that advance the account's sync token, overridden instances and
open-ended or RDATE events of personal events, and personal calendars made by MKCALENDAR.

Over real HTTP on SQLite and PostgreSQL with python-caldav (raw requests where a status or a
byte is checked). The server runs on the injected clock (support.NOW, late November 2026), so
the literal dates below all lie in its future."""

from __future__ import annotations

from support import Api, Salon, book, make_link, make_salon
from test_caldav_writable import (  # noqa: F401  (fixtures)
    CPH, Phone, api, event_text, live, refusal_reason, salon, writable_link,
)

C = "{urn:ietf:params:xml:ns:caldav}"


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


"""Issue 12, item 9: erasing a client rewrites every free-text field of their bookings that may
hold personal data (location: a home visit's location is the client's address; notes), so no
full feed, CalDAV copy, API answer or render cache still holds it; other clients' bookings keep
theirs. Nothing of the client reaches a log either."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from caldav_helpers import capture_logs, make_world, serving, signed_in
from server.db.models import RenderedItem
from support import book

SECRETS = {"name": "Xenia Markerson", "email": "xenia.marker@example.org",
           "phone": "4599887766", "address": "Markerstrasse 17",
           "client notes": "AllergicToMarkers"}
BOOKING_SECRETS = {"location": "Markervej 9 homevisit", "notes": "BookingNoteMarker"}
OTHER_LOCATION = "Salon chair 2"
QUERY = ('<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>'
         '<C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR">'
         '<C:comp-filter name="VEVENT"/></C:comp-filter></C:filter></C:calendar-query>')


def test_erasure_rewrites_every_free_text_field_everywhere(tmp_path: Path,
                                                          database_url: str) -> None:
    with serving(tmp_path, database_url) as live, capture_logs() as logs:
        world = make_world(live)
        api, business = world.api, world.salon.business
        client = api.ok("POST", f"/businesses/{business}/clients", 201, json={
            "name": SECRETS["name"], "email": SECRETS["email"], "phone": SECRETS["phone"],
            "address": SECRETS["address"], "notes": SECRETS["client notes"]})
        booking = book(api, world.salon, "2026-12-01T10:00", client_id=client["id"],
                       **BOOKING_SECRETS)
        later = book(api, world.salon, "2026-12-03T10:00", client_id=client["id"],
                     location=BOOKING_SECRETS["location"])
        other = book(api, world.salon, "2026-12-02T10:00", client_id=world.salon.client,
                     location=OTHER_LOCATION, notes="Other notes")
        item = f"{world.calendar}{booking['uid']}.ics"

        def outputs() -> dict[str, str]:
            seen = {
                "feed": api.get(world.link["feed_url"],
                                headers={"Accept-Encoding": "identity"}).text,
                "caldav item": signed_in(world, "GET", item).text,
                "caldav query": signed_in(world, "REPORT", world.calendar, QUERY,
                                          Depth="1").text,
                "api booking": api.get(f"/businesses/{business}/bookings/{booking['id']}").text,
                "api later": api.get(f"/businesses/{business}/bookings/{later['id']}").text,
                "api client": api.get(f"/businesses/{business}/clients/{client['id']}").text,
            }
            # The render cache, read straight from the database after the reads filled it.
            with live.runtime.db.read() as session:
                seen["render cache"] = "\n".join(
                    session.execute(select(RenderedItem.text)).scalars())
            return seen

        before = outputs()
        for what in ("feed", "caldav item", "caldav query", "api booking", "render cache"):
            for secret in BOOKING_SECRETS.values():
                assert secret in before[what].replace("\r\n ", ""), (what, secret)
        api.ok("POST", f"/businesses/{business}/clients/{client['id']}/erase")
        after = outputs()
        secrets = [*SECRETS.values(), *BOOKING_SECRETS.values()]
        leaks = [(what, secret) for what, text in after.items() for secret in secrets
                 if secret.lower() in text.replace("\r\n ", "").lower()]
        assert leaks == []
        for what in ("feed", "caldav query", "render cache"):
            assert OTHER_LOCATION in after[what].replace("\r\n ", ""), what
        assert booking["uid"] in after["feed"]  # the booking stays, anonymous
        kept = api.ok("GET", f"/businesses/{business}/bookings/{other['id']}")
        assert (kept["location"], kept["notes"]) == (OTHER_LOCATION, "Other notes")
    text = logs.text()
    assert [secret for secret in secrets if secret in text] == []

"""The owner's calendar user addresses (server/caldav/owner.py), the former names of our copies
and a copy marked cancelled (server/caldav/copies.py): pure functions."""

from __future__ import annotations

import icalendar
import pytest

from server.caldav import copies, owner


def test_addresses_compare_mailto_case_insensitively() -> None:
    assert owner.normal("MAILTO:Anna.Berg@Salon.Example ") == "anna.berg@salon.example"
    assert owner.normal("mailto:anna%40salon.example") == "anna@salon.example"
    assert owner.normal("urn:uuid:AB-12") == "urn:uuid:ab-12"


def test_hrefs_become_absolute_bounded_and_unique() -> None:
    found = owner.from_hrefs(["mailto:a@b.example", "/principals/anna/", "mailto:a@b.example",
                              "", "x" * 400], "https://dav.example/principals/anna/")
    assert found == ["mailto:a@b.example", "https://dav.example/principals/anna/"]
    assert len(owner.from_hrefs([f"mailto:{n}@b.example" for n in range(50)], "https://d/")) \
        == owner.MAX_ADDRESSES


def test_the_user_name_stands_in_without_a_mail_address() -> None:
    assert owner.owner_addresses(None, "Anna@Example.com") == {"anna@example.com"}
    assert owner.owner_addresses([], "anna@example.com") == {"anna@example.com"}
    assert owner.owner_addresses(["https://d/anna/"], "anna@example.com") == {
        "https://d/anna/", "anna@example.com"}
    assert owner.owner_addresses(["mailto:Anna.Berg@Salon.Example", "urn:uuid:1"],
                                 "anna@example.com") == {"anna.berg@salon.example",
                                                         "urn:uuid:1"}
    assert owner.owner_addresses(None, "anna") == frozenset()


def test_stored_addresses_round_trip_and_survive_garbage() -> None:
    assert owner.load(owner.stored(["mailto:a@b.example"])) == ["mailto:a@b.example"]
    assert owner.stored(None) is None and owner.load(None) is None
    assert owner.load("{not json") is None and owner.load('{"a": 1}') is None


def test_former_names_differ_from_current_ones_and_read_back_as_ours() -> None:
    secret = b"k" * 32
    former = copies.former_copy_name(secret, 5, "booking", 7)
    assert former != copies.copy_name(secret, copies.owner_key(3, "anna@example.com"),
                                      "booking", 7)
    assert former == copies.former_copy_name(secret, 5, "booking", 7)
    assert former != copies.former_copy_name(secret, 6, "booking", 7)
    assert copies.tag_of_name(former) == "booking:7"


def test_a_copy_marked_cancelled_is_free_without_reminders() -> None:
    text = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "BEGIN:VEVENT", "UID:x",
        "DTSTAMP:20300101T000000Z", "DTSTART:20300110T090000Z", "DTEND:20300110T100000Z",
        "X-BOOKINGCAL-ITEM:booking:7/v1", "BEGIN:VALARM", "ACTION:DISPLAY",
        "TRIGGER:-PT15M", "DESCRIPTION:x", "END:VALARM", "END:VEVENT", "END:VCALENDAR"]) + "\r\n"
    [event] = icalendar.Calendar.from_ical(copies.cancelled_text(text)).walk("VEVENT")
    assert (str(event["STATUS"]), str(event["TRANSP"]), event["SEQUENCE"]) == (
        "CANCELLED", "TRANSPARENT", 1)
    assert not event.subcomponents and copies.tag_of(event["X-BOOKINGCAL-ITEM"]) == "booking:7"
    for bad in ("not a calendar", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"):
        with pytest.raises(ValueError):
            copies.cancelled_text(bad)


def test_our_uid_names_our_copy_whatever_its_resource_name() -> None:
    name = copies.copy_name(b"k" * 32, copies.owner_key(3, "anna@example.com"), "booking", 7)
    stem = name.removesuffix(copies.SUFFIX)
    assert copies.key_of_uid(stem) == name
    assert copies.key_of_uid(copies.next_name(name).removesuffix(copies.SUFFIX)) == name
    assert copies.key_of_uid("a-phone-uid@example.com") is None and copies.key_of_uid(None) is None

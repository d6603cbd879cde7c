"""Pure parts of issue 14/19's read path: item ETags as a view stamp and a sequence (the
listing's string building gives exactly `item_etag`; every part of the view changes the
stamp), a link's view applied to texts, and the instant from which the time alone changes a
slots answer (server/slotcache.first_change, checked against the refusal rule itself by
property)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from server.publishing.etags import etag_maker, etags_of, item_etag
from server.publishing.link_views import LinkView, link_view, with_alarms
from server.publishing.slotcache import SlotCache, SlotEntry, first_change

UTC = dt.timezone.utc
BASE = dt.datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # the functions take time as an argument


@given(st.lists(st.tuples(st.integers(1, 10**9), st.integers(0, 10**12)), max_size=50),
       st.sampled_from(["booking", "blocked"]), st.sampled_from(["full", "limited", "busy"]))
def test_listing_etags_are_item_etags(items: list[tuple[int, int]], kind: str,
                                      profile: str) -> None:
    expected = [item_etag("e1", kind, i, seq, profile) for i, seq in items]
    assert etags_of("e1", kind, profile, items) == expected
    maker = etag_maker("e1", kind, profile)
    assert [maker(i, seq) for i, seq in items] == expected
    for etag in expected:
        assert etag.startswith('"') and etag.endswith('"') and not etag.startswith('W/')


def test_every_part_of_the_view_changes_the_stamp() -> None:
    base = item_etag("epoch1", "booking", 7, 42, "full")
    view = LinkView(15, {3: " – Anna"})
    variants = [
        item_etag("epoch2", "booking", 7, 42, "full"),
        item_etag("epoch1", "booking", 7, 43, "full"),
        item_etag("epoch1", "booking", 7, 42, "limited"),
        item_etag("epoch1", "booking", 7, 42, with_alarms("full", 2)),
        item_etag("epoch1", "booking", 7, 42, "full" + view.key("booking", 3)),
        item_etag("epoch1", "blocked", 7, 42, "full" + view.key("blocked", 3)),
        item_etag("epoch1", "blocked", 7, 42,
                  "full" + LinkView(None, {3: " – Bo"}).key("blocked", 3)),
        item_etag("epoch1", "booking", 7, 42, "full" + LinkView(30).key("booking", 3)),
        item_etag("epoch1", "booking", 7, 42, "full" + LinkView(0).key("booking", 3)),
    ]
    assert len({base, *variants}) == len(variants) + 1
    # The item id is named by the href, not written into the ETag (ids count every business).
    assert base == item_etag("epoch1", "booking", 8, 42, "full")
    assert base == f'"{base.strip(chr(34)).split("-")[0]}-42"'


def test_a_view_names_blocked_time_and_alarms_bookings_only_where_asked() -> None:
    class Named:
        def __init__(self, id: int, name: str) -> None:
            self.id, self.name = id, name

    calendars = [Named(1, "Anna  Berg"), Named(2, "Bo")]
    assert link_view("set", "full", None, False, calendars).names == {1: " – Anna Berg",
                                                                      2: " – Bo"}
    assert link_view("all", "limited", 5, False, calendars).reminder == 5
    assert link_view("calendar", "full", None, False, calendars).names == {}
    assert link_view("set", "busy", None, False, calendars).names == {}
    writable = link_view("set", "full", 10, True, calendars)
    assert writable.reminder is None and writable.names == {}
    view = LinkView(None, {1: " – Anna"})
    text = "BEGIN:VEVENT\r\nSUMMARY:Lunch\r\nUID:x\r\nEND:VEVENT\r\n"
    assert "SUMMARY:Lunch – Anna\r\n" in view.apply("blocked", 1, text)
    assert view.apply("blocked", 2, text) == text and view.apply("booking", 1, text) == text
    assert "TRIGGER:-PT10M" in LinkView(10).apply("booking", 1, text)


def _open(start: dt.datetime, now: dt.datetime, notice: dt.timedelta,
          horizon: dt.timedelta) -> bool:
    """The refusal rule of server/domain/availability.refusals for notice and horizon."""
    return not (start < now + notice) and not (start > now + horizon)


@settings(max_examples=300)
@given(st.lists(st.integers(0, 5 * 24 * 60), max_size=30), st.integers(0, 600),
       st.integers(1, 3), st.integers(0, 24 * 60), st.integers(0, 10**6))
def test_first_change_is_the_first_instant_the_time_alone_changes_the_slots(
        starts: list[int], notice_minutes: int, horizon_days: int, now_minutes: int,
        micros: int) -> None:
    notice, horizon = dt.timedelta(minutes=notice_minutes), dt.timedelta(days=horizon_days)
    now = BASE + dt.timedelta(minutes=now_minutes, microseconds=micros)
    candidates = [BASE + dt.timedelta(minutes=m) for m in starts]
    midnight = BASE + dt.timedelta(days=2)
    until = first_change(candidates, notice, horizon, now, midnight)
    assert now < until <= midnight

    def answer(at: dt.datetime) -> list[bool]:
        return [_open(c, at, notice, horizon) for c in candidates]

    tick = dt.timedelta(microseconds=1)
    assert answer(until - tick) == answer(now)  # holds to the end
    if until < midnight:
        assert answer(until) != answer(now)  # and no longer


def test_the_slot_cache_is_bounded_and_serves_only_its_key_and_time() -> None:
    cache = SlotCache(max_entries=2)
    entry = SlotEntry("k", b"body", '"e"', BASE, BASE + dt.timedelta(hours=1))
    cache.put(1, "ics", entry)
    assert cache.get(1, "ics", "k", BASE) is entry
    assert cache.get(1, "ics", "k", BASE + dt.timedelta(minutes=59)) is entry
    assert cache.get(1, "ics", "k", BASE + dt.timedelta(hours=1)) is None
    assert cache.get(1, "ics", "k", BASE - dt.timedelta(seconds=1)) is None
    assert cache.get(1, "ics", "other", BASE) is None
    assert cache.get(1, "json", "k", BASE) is None
    cache.put(2, "ics", entry)
    cache.put(3, "ics", entry)
    assert len(cache) == 2 and cache.get(1, "ics", "k", BASE) is None

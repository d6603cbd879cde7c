"""render_event (our writer) gives exactly the bytes of render_event_with_icalendar (icalendar's
component tree) for every kind of view: hostile and non-ASCII text, lines long enough to fold
(escapes and multi-byte characters at the fold), all-day, RRULE and EXDATE, every zone, and the
repeated autumn hour (an instant written in UTC)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo, available_timezones

from hypothesis import given, settings
from hypothesis import strategies as st

from server.publishing.ical import (
    RENDER_VERSION, render_event, render_event_with_icalendar, with_alarm, with_summary_suffix,
)
from server.redaction import EventView

UTC = dt.timezone.utc
ZONES = sorted(available_timezones() - {"localtime", "Factory"})
COMMON = ["Europe/Copenhagen", "America/New_York", "UTC", "Etc/UTC", "Australia/Lord_Howe",
          "Asia/Kolkata", "Pacific/Chatham", "America/St_Johns", "Etc/GMT+5"]
# Characters that matter to escaping and folding, mixed with anything else.
SPECIAL = st.sampled_from(list(",;:\\\"^\n\r\t NnæøåÆØÅ€中文💇‍♀️🇩🇰𝄞\x07\x1b\x7f\u2028\ufeff")
                          + ["\\N", "\r\n", "\\n", "\\,"])
TEXT = st.lists(st.one_of(SPECIAL, st.characters(codec="utf-8")), max_size=160).map("".join)
LONG = st.builds(lambda unit, n: (unit * n)[:9_000], TEXT.filter(bool),
                 st.integers(min_value=1, max_value=400))
RULES = ["FREQ=WEEKLY;BYDAY=TU,MO;COUNT=5", "FREQ=DAILY;INTERVAL=2", "FREQ=MONTHLY;BYMONTHDAY=-1",
         "FREQ=WEEKLY;UNTIL=20271231T230000Z;BYDAY=MO,WE,FR", "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
         "FREQ=WEEKLY;WKST=SU;BYDAY=SU,SA;INTERVAL=3", "FREQ=DAILY;UNTIL=20270101"]
LOCAL = st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2099, 12, 31))
STAMP = st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2099, 12, 31),
                     timezones=st.just(UTC))


@st.composite
def views(draw: st.DrawFn) -> EventView:
    tzid = draw(st.one_of(st.sampled_from(COMMON), st.sampled_from(ZONES)))
    all_day = draw(st.booleans())
    start = draw(LOCAL)
    end = start + draw(st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=40)))

    def instant(local: dt.datetime) -> dt.datetime | None:
        """None, the first or the second of two equal wall-clock times (fold=1: the autumn
        hour's second pass, which the writer must give in UTC)."""
        how = draw(st.sampled_from(["none", "first", "second"]))
        if how == "none" or all_day:
            return None
        return local.replace(tzinfo=ZoneInfo(tzid), fold=int(how == "second")).astimezone(UTC)

    rrule = draw(st.one_of(st.none(), st.sampled_from(RULES)))
    exdates = tuple(draw(st.lists(LOCAL, max_size=4)))
    return EventView(
        uid=draw(st.one_of(st.uuids().map(str), TEXT.filter(bool))),
        summary=draw(st.one_of(TEXT, LONG)), description=draw(st.one_of(st.none(), TEXT, LONG)),
        location=draw(st.one_of(st.none(), TEXT)), tzid=tzid, all_day=all_day,
        start_local=start, end_local=end, start_utc=instant(start), end_utc=instant(end),
        rrule=rrule, exdates=exdates if rrule else (), sequence=draw(st.integers(0, 10**6)),
        created=draw(STAMP), last_modified=draw(STAMP))


@settings(max_examples=1500, deadline=None)
@given(views())
def test_the_fast_writer_gives_icalendars_bytes(view: EventView) -> None:
    assert render_event(view) == render_event_with_icalendar(view)


@settings(max_examples=600, deadline=None)
@given(views(), st.integers(min_value=0, max_value=40320))
def test_a_links_alarm_added_on_the_way_out_gives_icalendars_bytes(view: EventView,
                                                                    minutes: int) -> None:
    """The alarm `with_alarm` adds to our text is what icalendar's tree writes with an Alarm
    component (its text the summary, folded and escaped alike)."""
    assert with_alarm(render_event(view), minutes) == render_event_with_icalendar(view, minutes)


@settings(max_examples=600, deadline=None)
@given(views(), st.one_of(TEXT, LONG))
def test_an_employee_suffix_added_on_the_way_out_is_the_renders_own(view: EventView,
                                                                      name: str) -> None:
    """Blocked time in a feed of several calendars names its employee: the summary spliced by
    `with_summary_suffix` is what render_event (hence icalendar) writes for that summary."""
    suffix = " – " + name
    named = dataclasses.replace(view, summary=view.summary + suffix)
    assert with_summary_suffix(render_event(view), suffix) == render_event(named)
    assert render_event(named) == render_event_with_icalendar(named)


def test_the_repeated_autumn_hour_and_folding_by_hand() -> None:
    """The examples the property must cover, spelled out: 02:30 on 31 October 2027 in
    Copenhagen twice (CEST, then CET), and a line folded at a backslash escape."""
    local = dt.datetime(2027, 10, 31, 2, 30)
    second = local.replace(tzinfo=ZoneInfo("Europe/Copenhagen"), fold=1).astimezone(UTC)
    stamp = dt.datetime(2027, 1, 1, tzinfo=UTC)
    view = EventView(uid="u", summary="x" * 65 + ",y", description="Æ" * 80, location=None,
                     tzid="Europe/Copenhagen", all_day=False, start_local=local,
                     end_local=local + dt.timedelta(minutes=30), start_utc=second,
                     end_utc=second + dt.timedelta(minutes=30), rrule=None, exdates=(),
                     sequence=1, created=stamp, last_modified=stamp)
    text = render_event(view)
    assert text == render_event_with_icalendar(view)
    assert "DTSTART:20271031T013000Z" in text  # the second 02:30, exactly
    assert "\r\n \\,y" in text  # the escape moved whole to the next line
    assert RENDER_VERSION == 4  # the bytes did not change, so neither did the version

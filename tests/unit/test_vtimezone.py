"""VTIMEZONEs from server.publishing.vtimezone, read back by icalendar, by vobject (Radicale's parser) and by
a strict RFC 5545 reading, give tzdata's UTC offset at every sampled instant for 40 years."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from functools import lru_cache

import pytest
import vobject
import vobject.icalendar
from dateutil.rrule import rrulestr
from dateutil.tz import tzoffset
from dateutil.tz.tz import _tzicalvtz
from icalendar import Calendar, Event, Timezone, TimezoneDaylight, TimezoneStandard

from server.domain.timeutil import zone
from server.publishing import vtimezone
from server.publishing.vtimezone import build_vtimezone, vtimezone_text

UTC = dt.timezone.utc
ZONES = ["Europe/Copenhagen", "America/New_York", "Europe/London", "Australia/Sydney",
         "America/Sao_Paulo", "Asia/Tokyo", "UTC", "Europe/Moscow"]
FIRST_YEARS = [2000, 2010, 2020, 2026]
# Harder cases: negative DST (Dublin), rules reaching into the next month (Cairo), Ramadan
# breaks as runs of RDATEs (Casablanca), explicit predictions to 2086 (Gaza), midnight changes.
MORE = [("Europe/Dublin", 2000), ("Africa/Cairo", 2020), ("Africa/Casablanca", 2010),
        ("Asia/Gaza", 2020), ("America/Havana", 2010), ("America/Santiago", 2000)]
SPAN = 40  # years sampled after first_year


@pytest.fixture(autouse=True)
def _vobject_registry_restored() -> Iterator[None]:
    """vobject registers every VTIMEZONE it reads under its TZID for the whole process and
    keeps using it; these tests read zones valid from other first years. Without this, a CalDAV
    test run later in the same process (a server thread: Radicale reads with vobject) saw this
    module's zones instead of the ones its items carry."""
    registry = vars(vobject.icalendar)["__tzidMap"]
    saved = dict(registry)
    yield
    registry.clear()
    registry.update(saved)


# ------------------------------------------------------------------ what tzdata says


@lru_cache(maxsize=None)
def transitions(tzid: str, start: int, end: int) -> tuple[dt.datetime, ...]:
    """UTC instants in [start, end) (years) at which zoneinfo's offset changes: 3-hour samples,
    bisected to the minute (independent of the module's own scan)."""
    tz = zone(tzid)
    step = dt.timedelta(hours=3)
    at, end_at = dt.datetime(start, 1, 1, tzinfo=UTC), dt.datetime(end, 1, 1, tzinfo=UTC)
    found: list[dt.datetime] = []
    offset = at.astimezone(tz).utcoffset()
    while at < end_at:
        later = at + step
        if later.astimezone(tz).utcoffset() != offset:
            low, high = at, later
            while high - low > dt.timedelta(minutes=1):
                middle = low + (high - low) / 2
                middle = middle.replace(second=0, microsecond=0)
                if middle <= low:
                    break
                if middle.astimezone(tz).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            found.append(high)
            offset = later.astimezone(tz).utcoffset()
        at = later
    return tuple(found)


def sample_instants(tzid: str, first_year: int) -> list[dt.datetime]:
    """Every 7 days at 00:00 and 12:00 local time from 1 January of first_year for 40 years,
    and one hour either side of every change in that time and in 2060."""
    tz = zone(tzid)
    instants: set[dt.datetime] = set()
    day = dt.date(first_year, 1, 1)
    while day.year < first_year + SPAN:
        for hour in (0, 12):
            local = dt.datetime(day.year, day.month, day.day, hour, tzinfo=tz)
            instant = local.astimezone(UTC)
            if instant.astimezone(tz).replace(tzinfo=None) == local.replace(tzinfo=None):
                instants.add(instant)  # skip wall times the clocks jump over
        day += dt.timedelta(days=7)
    changes = transitions(tzid, first_year, first_year + SPAN) + transitions(tzid, 2060, 2061)
    for change in changes:
        instants.update((change - dt.timedelta(hours=1), change + dt.timedelta(hours=1)))
    start = dt.datetime(first_year, 1, 1, tzinfo=tz)
    return sorted(i for i in instants if i >= start)


def expected(tzid: str, instant: dt.datetime) -> dt.timedelta:
    offset = instant.astimezone(zone(tzid)).utcoffset()
    assert offset is not None
    return offset


# ------------------------------------------------------------------ three readers


def wrap(vtimezone: str) -> str:
    return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + vtimezone \
        + "END:VCALENDAR\r\n"


def parsed(text: str) -> Timezone:
    timezone = Calendar.from_ical(wrap(text)).walk("VTIMEZONE")
    assert len(timezone) == 1
    return timezone[0]  # type: ignore[no-any-return]


class StrictReading:
    """RFC 5545 read literally from icalendar's parse: every onset (DTSTART, RRULE occurrences
    with UNTIL in UTC, RDATEs) is a UTC instant; an instant's offset is TZOFFSETTO of the latest
    onset at or before it."""

    def __init__(self, text: str, horizon: int) -> None:
        onsets: list[tuple[dt.datetime, dt.timedelta]] = []
        for component in parsed(text).walk():
            if not isinstance(component, (TimezoneStandard, TimezoneDaylight)):
                continue
            offset_from = component["TZOFFSETFROM"].td
            offset_to = component["TZOFFSETTO"].td
            start = component["DTSTART"].dt
            assert start.tzinfo is None, "DTSTART in a VTIMEZONE is local time"
            starts = [start]
            rdates = component.get("RDATE", [])
            for rdate in rdates if isinstance(rdates, list) else [rdates]:
                starts += [leaf.dt for leaf in rdate.dts]
            if "RRULE" in component and start < dt.datetime(horizon - 1, 1, 1):
                local = tzoffset(None, offset_from)
                rule = rrulestr(component["RRULE"].to_ical().decode(),
                                dtstart=start.replace(tzinfo=local))
                limit = dt.datetime(horizon, 1, 1, tzinfo=UTC)
                occurrences = list(rule.between(start.replace(tzinfo=local), limit, inc=True))
                assert occurrences and occurrences[0].replace(tzinfo=None) == start, \
                    "DTSTART must be the rule's first occurrence"
                starts += [o.replace(tzinfo=None) for o in occurrences[1:]]
            onsets += [((local - offset_from).replace(tzinfo=UTC), offset_to) for local in starts]
        onsets.sort()
        assert len({at for at, _ in onsets}) == len(onsets), "two observances start at once"
        self.onsets = onsets

    def offset(self, instant: dt.datetime) -> dt.timedelta:
        before = [offset for at, offset in self.onsets if at <= instant]
        assert before, f"{instant} is before every observance"
        return before[-1]


def icalendar_tzinfo(text: str) -> dt.tzinfo:
    return parsed(text).to_tz(lookup_tzid=False)


def vobject_readings(tzid: str, text: str, instants: list[dt.datetime]
                     ) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """(instant, vobject's UTC reading of its local time) for every instant: one VEVENT each
    with DTSTART;TZID=...; the second of two equal wall-clock times (which DTSTART with a TZID
    cannot name) is read through vobject's tzinfo with fold=1.

    vobject registers a VTIMEZONE under its TZID only if its offsets differ from UTC somewhere
    in 2000-2020 (`tzinfo_eq`); otherwise DTSTART;TZID= falls back to pytz's zone of that name.
    For such a text (Europe/London from 2021 on: before its first observance dateutil assumes
    the first STANDARD, +0000) the instants are read through vobject's own parse of the
    VTIMEZONE (`gettzinfo`) instead."""
    tz = zone(tzid)
    calendar = Calendar()
    calendar.add("prodid", "-//test//EN")
    calendar.add("version", "2.0")
    calendar.add_component(parsed(text))
    second_times: list[dt.datetime] = []
    firsts: list[dt.datetime] = []
    for number, instant in enumerate(instants):
        local = instant.astimezone(tz)
        if local.fold:
            second_times.append(instant)
            continue
        event = Event()
        event.add("uid", f"{number}@test")
        event.add("dtstamp", dt.datetime(2020, 1, 1, tzinfo=UTC))
        event.add("dtstart", local.replace(tzinfo=None), parameters={"TZID": tzid})
        calendar.add_component(event)
        firsts.append(instant)
    # vobject keeps the first VTIMEZONE it saw for a TZID for the life of the process.
    vobject.icalendar.registerTzid(tzid, None)
    document = vobject.readOne(calendar.to_ical().decode("utf-8"))
    own = document.vtimezone.gettzinfo()
    assert isinstance(own, _tzicalvtz)
    registered = vobject.icalendar.getTzid(tzid, False)
    if not isinstance(registered, _tzicalvtz):  # None, or pytz's zone the VEVENTs fell back to
        assert vobject.icalendar.TimezoneComponent.pickTzid(own) is None
    else:
        assert registered._tzid == tzid
        events = document.contents.get("vevent", [])
        assert len(events) == len(firsts)
        for instant, event in zip(firsts, events):
            start = event.dtstart.value
            assert start.tzinfo is registered, "vobject must use the VTIMEZONE given"
            yield instant, start.astimezone(UTC)
        firsts = []
    for instant in firsts + second_times:
        local = instant.astimezone(tz)
        yield instant, local.replace(tzinfo=own).astimezone(UTC)


# ------------------------------------------------------------------ the checks


def mismatches(found: Iterator[tuple[dt.datetime, dt.timedelta]], tzid: str) -> list[str]:
    return [f"{instant.isoformat()}: {offset} != {expected(tzid, instant)}"
            for instant, offset in found if offset != expected(tzid, instant)]


@pytest.mark.parametrize("tzid, first_year",
                         [(z, y) for z in ZONES for y in FIRST_YEARS] + MORE)
def test_every_reader_gets_tzdatas_offsets_for_forty_years(tzid: str, first_year: int) -> None:
    text = vtimezone_text(tzid, first_year)
    instants = sample_instants(tzid, first_year)
    tz = zone(tzid)

    strict = StrictReading(text, max(first_year + SPAN, 2061) + 1)
    assert not mismatches(((i, strict.offset(i)) for i in instants), tzid)

    tzinfo = icalendar_tzinfo(text)
    by_icalendar = ((i, i.astimezone(tz).replace(tzinfo=tzinfo).utcoffset()) for i in instants)
    assert not mismatches(by_icalendar, tzid)  # type: ignore[arg-type]

    readings = list(vobject_readings(tzid, text, instants))
    assert len(readings) == len(instants)
    wrong = [f"{instant.isoformat()} read as {reading.isoformat()}"
             for instant, reading in readings if reading != instant]
    assert not wrong, wrong[:10]


@pytest.mark.parametrize("tzid, first_year, local, offset", [
    ("Europe/Copenhagen", 2020, dt.datetime(2055, 7, 1, 12), 2),
    ("Europe/Copenhagen", 2020, dt.datetime(2055, 1, 1, 12), 1),
    ("America/New_York", 2000, dt.datetime(2039, 7, 4, 9), -4),
    ("America/New_York", 2000, dt.datetime(2038, 11, 7, 1, 30), -4),  # first of two 01:30s
    ("Australia/Sydney", 2010, dt.datetime(2048, 1, 15, 9), 11),
    ("Australia/Sydney", 2010, dt.datetime(2048, 7, 15, 9), 10),
    ("America/Sao_Paulo", 2000, dt.datetime(2003, 1, 15, 9), -2),
    ("America/Sao_Paulo", 2000, dt.datetime(2045, 1, 15, 9), -3),
    ("Europe/Moscow", 2000, dt.datetime(2012, 1, 15, 9), 4),
    ("Europe/Moscow", 2000, dt.datetime(2045, 7, 15, 9), 3),
])
def test_vobject_gets_years_far_beyond_the_first_two_right(
        tzid: str, first_year: int, local: dt.datetime, offset: int) -> None:
    """The regression: vobject read all but the first value of multi-value RDATEs as missing."""
    instant = (local - dt.timedelta(hours=offset)).replace(tzinfo=UTC)
    assert expected(tzid, instant) == dt.timedelta(hours=offset)
    [(_, reading)] = vobject_readings(tzid, vtimezone_text(tzid, first_year), [instant])
    assert reading == instant


@pytest.mark.parametrize("tzid", [z for z in ZONES if z != "UTC"])
def test_vobject_registers_the_vtimezone_when_it_starts_by_2000(tzid: str) -> None:
    """What server/publishing/ical.py relies on (first_year <= 2000): vobject takes the VTIMEZONE given,
    not pytz's zone (and not UTC, which it assumes for texts that look like UTC in 2000-2020)."""
    vobject.icalendar.registerTzid(tzid, None)
    vobject.readOne(wrap(vtimezone_text(tzid, 1970)))
    registered = vobject.icalendar.getTzid(tzid, False)
    assert isinstance(registered, _tzicalvtz) and registered._tzid == tzid


def test_the_vobject_harness_sees_the_multi_value_rdate_bug() -> None:
    """Guards the harness against passing vacuously: vobject misreads a zone whose observances
    list their onsets as one comma-separated RDATE each."""
    timezone = Timezone()
    timezone.add("tzid", "Europe/Copenhagen")
    for cls, month, day, offsets, name in (
            (TimezoneStandard, 10, [25, 31, 30, 29], (2, 1), "CET"),
            (TimezoneDaylight, 3, [29, 28, 27, 26], (1, 2), "CEST")):
        component = cls()
        component.add("dtstart", dt.datetime(2020, month, day[0], 3 if month == 10 else 2))
        component.add("rdate", [dt.datetime(2020 + n, month, day[n], 3 if month == 10 else 2)
                                for n in range(1, 4)])
        component.add("tzoffsetfrom", dt.timedelta(hours=offsets[0]))
        component.add("tzoffsetto", dt.timedelta(hours=offsets[1]))
        component.add("tzname", name)
        timezone.add_component(component)
    text = timezone.to_ical().decode()
    assert any(line.startswith("RDATE") and "," in line for line in text.splitlines())
    summer_2023 = dt.datetime(2023, 7, 1, 10, tzinfo=UTC)
    [(_, reading)] = vobject_readings("Europe/Copenhagen", text, [summer_2023])
    assert reading != summer_2023


# ------------------------------------------------------------------ the text itself


def unfolded(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


@pytest.mark.parametrize("first_year", FIRST_YEARS)
@pytest.mark.parametrize("tzid", ZONES + ["Etc/GMT+5", "Asia/Gaza", "America/Havana",
                                          "Europe/Dublin", "Africa/Casablanca"])
def test_text_is_plain_and_stable(tzid: str, first_year: int) -> None:
    text = vtimezone_text(tzid, first_year)
    assert text.startswith(f"BEGIN:VTIMEZONE\r\nTZID:{tzid}\r\n")
    assert text.endswith("END:VTIMEZONE\r\n")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    for line in unfolded(text):
        if line.startswith(("RDATE", "EXDATE")):
            assert "," not in line, line
        assert not line.startswith(("COMMENT", "X-")), line
    vtimezone_text.cache_clear()
    vtimezone._observances.cache_clear()  # computed afresh, the text is the same
    assert vtimezone_text(tzid, first_year) == text
    assert build_vtimezone(tzid, first_year).to_ical().decode() == text


@pytest.mark.parametrize("first_year", FIRST_YEARS)
@pytest.mark.parametrize("tzid", ZONES + ["Etc/GMT+5", "Asia/Gaza", "Africa/Casablanca"])
def test_first_observance_covers_new_year(tzid: str, first_year: int) -> None:
    timezone = build_vtimezone(tzid, first_year)
    observances = [c for c in timezone.walk() if isinstance(c, (TimezoneStandard,
                                                                 TimezoneDaylight))]
    new_year = dt.datetime(first_year, 1, 1)
    first = min(observances, key=lambda c: c["DTSTART"].dt)
    assert first["DTSTART"].dt <= new_year
    strict = StrictReading(timezone.to_ical().decode(), first_year + 1)
    instant = new_year.replace(tzinfo=zone(tzid)).astimezone(UTC)
    assert strict.offset(instant) == expected(tzid, instant)


@pytest.mark.parametrize("tzid, offset, name", [("Asia/Tokyo", "+0900", "JST"),
                                                ("UTC", "+0000", "UTC"),
                                                ("Etc/GMT+5", "-0500", "-05")])
def test_a_zone_without_changes_is_one_standard_observance(tzid: str, offset: str,
                                                           name: str) -> None:
    assert vtimezone_text(tzid, 2010) == (
        f"BEGIN:VTIMEZONE\r\nTZID:{tzid}\r\nBEGIN:STANDARD\r\nDTSTART:20100101T000000\r\n"
        f"TZNAME:{name}\r\nTZOFFSETFROM:{offset}\r\nTZOFFSETTO:{offset}\r\nEND:STANDARD\r\n"
        "END:VTIMEZONE\r\n")


def rules(text: str) -> list[tuple[str, str]]:
    """(component, RRULE) of every observance with a rule, in order."""
    found, current = [], ""
    for line in unfolded(text):
        if line in ("BEGIN:STANDARD", "BEGIN:DAYLIGHT"):
            current = line.removeprefix("BEGIN:")
        elif line.startswith("RRULE:"):
            found.append((current, line.removeprefix("RRULE:")))
    return found


def test_final_rules_repeat_forever_and_earlier_ones_end() -> None:
    assert sorted(rules(vtimezone_text("Europe/Copenhagen", 2020))) == [
        ("DAYLIGHT", "FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3"),
        ("STANDARD", "FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10")]
    assert sorted(rules(vtimezone_text("America/New_York", 2000))) == [
        ("DAYLIGHT", "FREQ=YEARLY;BYDAY=2SU;BYMONTH=3"),
        ("DAYLIGHT", "FREQ=YEARLY;UNTIL=20060402T070000Z;BYDAY=1SU;BYMONTH=4"),
        ("STANDARD", "FREQ=YEARLY;BYDAY=1SU;BYMONTH=11"),
        ("STANDARD", "FREQ=YEARLY;UNTIL=20061029T060000Z;BYDAY=-1SU;BYMONTH=10")]
    assert sorted(rules(vtimezone_text("Australia/Sydney", 2020))) == [
        ("DAYLIGHT", "FREQ=YEARLY;BYDAY=1SU;BYMONTH=10"),
        ("STANDARD", "FREQ=YEARLY;BYDAY=1SU;BYMONTH=4")]
    # Brazil ended DST in 2019: every rule ends, the last change (to -03) lasts.
    sao_paulo = vtimezone_text("America/Sao_Paulo", 2000)
    assert all("UNTIL=" in rule for _, rule in rules(sao_paulo))
    # Gaza's explicit predictions run to 2086; its rule after them: Saturday after the 4th
    # Thursday (of March and October).
    # Cairo's autumn change is at 24:00 on October's last Thursday: the Friday of Oct 26-Nov 1,
    # one rule for October and one for November 1.
    assert sorted(rule for _, rule in rules(vtimezone_text("Africa/Cairo", 2020))) == [
        "FREQ=YEARLY;BYDAY=-1FR;BYMONTH=4",
        "FREQ=YEARLY;BYDAY=FR;BYMONTHDAY=1;BYMONTH=11",
        "FREQ=YEARLY;BYDAY=FR;BYMONTHDAY=26,27,28,29,30,31;BYMONTH=10"]
    gaza = rules(vtimezone_text("Asia/Gaza", 2020))
    assert [rule for _, rule in gaza if "UNTIL" not in rule] == [
        "FREQ=YEARLY;BYDAY=SA;BYMONTHDAY=24,25,26,27,28,29,30;BYMONTH=3",
        "FREQ=YEARLY;BYDAY=SA;BYMONTHDAY=24,25,26,27,28,29,30;BYMONTH=10"]


def test_until_is_read_alike_east_and_west_of_greenwich() -> None:
    """Moscow's last +04 -> +03 autumn change under a rule (2010-10-31 03:00 local, 23:00 UTC
    the day before): dateutil reads UNTIL's digits as local time, RFC 5545 as UTC."""
    text = vtimezone_text("Europe/Moscow", 2000)
    for instant in (dt.datetime(2010, 10, 30, 22, tzinfo=UTC),
                    dt.datetime(2010, 10, 31, 0, tzinfo=UTC)):
        assert StrictReading(text, 2030).offset(instant) == expected("Europe/Moscow", instant)
        [(_, reading)] = vobject_readings("Europe/Moscow", text, [instant])
        assert reading == instant


def test_unknown_zone_and_year_out_of_range_are_refused() -> None:
    from server.errors import InvalidError
    with pytest.raises(InvalidError):
        build_vtimezone("Mars/Olympus_Mons", 2020)
    with pytest.raises(ValueError):
        build_vtimezone("Europe/Copenhagen", 10_000)

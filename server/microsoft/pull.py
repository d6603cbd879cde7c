"""Reading an Outlook calendar for the engine (server/sync/reading.py's Lister): one
`calendarView/delta` page per call. A delta read has a fixed window, chosen at its full read
(from `since`, or two years back for a whole-history read, to WINDOW_AHEAD ahead); the cursor
keeps the window's end with the delta link, and once the rolling window has moved RENEW_AFTER
past that end the cursor counts as expired: a full read with a new window reconciles. A 410
(`syncStateNotFound`) is an expired cursor too.

Graph's busy notions map onto the mirror's vocabulary (server/domain/blocking.py): showAs free ->
transparent, tentative -> the account's tentative answer, oof -> outOfOffice, workingElsewhere
-> workingLocation (never blocks), busy/unknown -> opaque; isCancelled -> gone; the account's
own response (declined, tentativelyAccepted, accepted, notResponded); private events keep no
subject."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Any, Callable

from sqlalchemy.orm import Session

from server.domain import mirrored
from server.domain.timeutil import zone as tz
from server.microsoft import copies
from server.microsoft.graph import GraphClient, GraphError
from server.sync.errors import CursorExpiredError, SyncError
from server.sync.provider import FormerIds, Page, RemoteItem, no_former_ids

UTC = dt.timezone.utc
WINDOW_AHEAD = dt.timedelta(days=400)
WINDOW_BEHIND_WHOLE = dt.timedelta(days=730)
RENEW_AFTER = dt.timedelta(days=35)  # the window is renewed monthly, well before its end
PAGE_SIZE = 200
VERSION = "v1"

RESPONSES = {"declined": "declined", "tentativelyAccepted": "tentative",
             "accepted": "accepted", "notResponded": "needsAction"}


def encode_cursor(window_end: dt.datetime, delta_link: str) -> str:
    return f"{VERSION}|{window_end.astimezone(UTC).isoformat()}|{delta_link}"


def decode_cursor(cursor: str) -> tuple[dt.datetime, str] | None:
    version, _, rest = cursor.partition("|")
    end, _, link = rest.partition("|")
    if version != VERSION or not link:
        return None
    try:
        return dt.datetime.fromisoformat(end), link
    except ValueError:
        return None


def _instant(value: dict[str, Any]) -> dt.datetime:
    moment = dt.datetime.fromisoformat(str(value["dateTime"]).rstrip("Z")[:26])
    name = str(value.get("timeZone") or "UTC")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC if name in ("UTC", "Etc/UTC") else tz(name))
    return moment.astimezone(UTC)


def parse(event: dict[str, Any], zone: str) -> mirrored.Change:
    """An Outlook event in the mirror's vocabulary: mirrored when it is not ours; for our
    copies, what the engine compares with the booking when the business applies edits made in
    Outlook (server/domain/calendar_edits.py)."""
    event_id = str(event["id"])
    if event.get("isCancelled"):
        return mirrored.Tombstone(event_id)
    start, end = _instant(event["start"]), _instant(event["end"])
    start_date = end_date = None
    if event.get("isAllDay"):
        # All-day dates are wall dates: midnight to midnight in the business's zone.
        start_date, end_date = start.date(), end.date()
        start = dt.datetime.combine(start_date, dt.time(), tzinfo=tz(zone)).astimezone(UTC)
        end = dt.datetime.combine(end_date, dt.time(), tzinfo=tz(zone)).astimezone(UTC)
    show_as = str(event.get("showAs", "busy"))
    response = (event.get("responseStatus") or {}).get("response")
    answer = RESPONSES.get(str(response)) if response else None
    if show_as == "tentative" and answer in (None, "accepted"):
        answer = "tentative"
    event_type = {"oof": "outOfOffice", "workingElsewhere": "workingLocation"}.get(
        show_as, "default")
    private = event.get("sensitivity") in ("private", "confidential")
    series = event.get("seriesMasterId")
    return mirrored.RemoteEvent(
        event_id=event_id, start_utc=start, end_utc=end, start_date=start_date,
        end_date=end_date, summary="" if private else str(event.get("subject") or ""),
        recurring_event_id=str(series) if series else None,
        transparency="transparent" if show_as == "free" else "opaque",
        status="tentative" if show_as == "tentative" else "confirmed",
        event_type=event_type, self_response=answer)


def item(event: dict[str, Any], zone: str) -> RemoteItem:
    """A delta entry in the engine's terms."""
    event_id = str(event["id"])
    if "@removed" in event:
        return RemoteItem(remote_id=event_id, cancelled=True,
                          change=mirrored.Tombstone(event_id))
    key = event.get("transactionId")
    tag = copies.tag_of(key)
    series = event.get("seriesMasterId")
    return RemoteItem(remote_id=event_id, series_id=str(series) if series else None,
                      etag=event.get("@odata.etag"), cancelled=bool(event.get("isCancelled")),
                      tag=tag, copy_key=str(key) if tag else None,
                      change=parse(event, zone) if tag is None or _timed(event) else None)


def _timed(event: dict[str, Any]) -> bool:
    """Whether a delta entry carries the event's times (a copy's, to compare with its booking)."""
    return isinstance(event.get("start"), dict) and isinstance(event.get("end"), dict) \
        and "dateTime" in event["start"] and "dateTime" in event["end"]


class MicrosoftLister:
    """The reading half of the Microsoft adapter."""

    label = "Microsoft"
    now: Callable[[], dt.datetime]

    def list_page(self, client: GraphClient, calendar: str, *, cursor: str | None,
                  page: str | None, since: dt.datetime | None, zone: str,
                  attempts: int | None) -> Page:
        """One calendarView/delta page (see the module's docstring)."""
        now = self.now()
        window_end: dt.datetime
        if cursor is not None:
            decoded = decode_cursor(cursor)
            if decoded is None or decoded[0] - now < WINDOW_AHEAD - RENEW_AFTER:
                raise CursorExpiredError("the Outlook read window moved on; reading again",
                                         410, "windowRenewal")
            window_end, link = decoded
            target = page or link
        elif page is not None:
            window_end = _window_end_of(page) or now + WINDOW_AHEAD
            target = page
        else:
            start = since if since is not None else now - WINDOW_BEHIND_WHOLE
            window_end = now + WINDOW_AHEAD
            target = (f"/me/calendars/{urllib.parse.quote(calendar, safe='')}/calendarView/"
                      "delta?" + urllib.parse.urlencode({
                          "startDateTime": _iso(start), "endDateTime": _iso(window_end)}))
        target = target.partition("#")[0]
        try:
            _, answer, _ = client.call("GET", target, attempts=attempts,
                                       headers={"Prefer": f"odata.maxpagesize={PAGE_SIZE}"})
        except GraphError as exc:
            if exc.status == 410 or exc.reason.lower() == "syncstatenotfound":
                if cursor is None:
                    raise SyncError("Outlook refused a new delta read", 410, exc.reason,
                                    scope="calendar") from exc
                raise CursorExpiredError(exc.message, 410, exc.reason) from exc
            raise
        answer = answer or {}
        items = [item(event, zone) for event in answer.get("value", [])]
        following = answer.get("@odata.nextLink")
        if following:
            return Page(items=items, next_page=_with_window(str(following), window_end))
        delta = answer.get("@odata.deltaLink")
        return Page(items=items, cursor=encode_cursor(window_end, str(delta)) if delta else None)

    def copy_id(self, secret: bytes, connection: Any, kind: str, item_id: int) -> str:
        """The deterministic transactionId of our copy."""
        return copies.copy_key(secret, connection.id, kind, item_id)

    def former_copy_ids(self, session: Session, secret: bytes, connection: Any) -> FormerIds:
        """No former naming scheme."""
        return no_former_ids

    def describe(self, error: SyncError, calendar: str, *, writing: bool) -> str:
        """What went wrong with one Outlook calendar, and what to change."""
        doing = "writing to" if writing else "reading"
        if error.status == 404:
            return (f"{doing} the Outlook calendar {calendar!r} failed: it no longer exists; "
                    "choose another calendar in the Microsoft settings")
        if error.status == 403:
            return (f"{doing} the Outlook calendar {calendar!r} failed: the account may not "
                    "use it (shared read-only?); choose a calendar it owns")
        return f"{doing} the Outlook calendar {calendar!r} failed: {error.message}"


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# A page link carries its read's window end after a '#' (never sent: requests drop fragments).
def _with_window(link: str, window_end: dt.datetime) -> str:
    return f"{link}#end={window_end.astimezone(UTC).isoformat()}"


def _window_end_of(link: str) -> dt.datetime | None:
    _, _, fragment = link.partition("#end=")
    try:
        return dt.datetime.fromisoformat(fragment) if fragment else None
    except ValueError:
        return None

"""Calendar → Private links: every calendar with its links and an "all calendars" row; create,
show again (with copy buttons and how to subscribe), rotate, revoke. Every action calls
server/domain/links.py, as the JSON API and the CLI do."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import Blueprint, redirect, request, url_for
from werkzeug.wrappers import Response

from server.admin.web import page, signed_in
from server.api.common import runtime
from server.web.incidents import status_of
from server.db.models import Link
from server.domain import links
from server.domain.businesses import get_business
from server.domain.calendars import list_calendars
from server.domain.services import list_services
from server.domain.timeutil import ago, to_local
from server.errors import BookingCalError, InvalidError
from server.publishing.linkurls import link_addresses

PROFILE_NAMES = {"full": "Full", "limited": "Without sensitive client information",
                 "busy": "Busy only", "slots": "Open times of a service (for partners)"}
REMINDER_NAMES: dict[int | None, str] = {
    None: "No reminder", 0: "At the start", 5: "5 minutes before", 10: "10 minutes before",
    15: "15 minutes before", 30: "30 minutes before", 60: "1 hour before",
    120: "2 hours before", 1440: "1 day before"}


@dataclass(frozen=True)
class LinkRow:
    link: Link
    state: str
    last_used: str
    calendars: str


@dataclass(frozen=True)
class CalendarRow:
    key: str  # "all" or the calendar id
    name: str
    links: list[LinkRow]


def valid_until(day: str, timezone: str) -> dt.datetime | None:
    """A link valid until (and including) `day` in the business's zone ends at the next
    midnight there."""
    if not day:
        return None
    try:
        date = dt.date.fromisoformat(day)
    except ValueError:
        raise InvalidError(f"'{day}' is not a date; pick one as YYYY-MM-DD",
                           field="valid_until") from None
    return dt.datetime.combine(date + dt.timedelta(days=1), dt.time(0), ZoneInfo(timezone))


def valid_until_day(expires_at: dt.datetime | None, timezone: str) -> str:
    """The last day (in the business's zone) a link works: the inverse of valid_until."""
    if expires_at is None:
        return ""
    local = to_local(expires_at, timezone) - dt.timedelta(microseconds=1)
    return local.date().isoformat()


def reminder_choice(value: str | None) -> int | None:
    """A reminder picked from the list (minutes before; "" is none): digits only, bounded."""
    value = (value or "").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 6):
        raise InvalidError("choose a reminder from the list", field="reminder")
    return int(value)


def register(bp: Blueprint) -> None:
    def links_page(status: int = 200, error: str = "") -> Response:
        rt = runtime()
        me = signed_in()
        now = rt.clock.now()
        with rt.db.read() as session:
            calendars = list_calendars(session, me.business_id)
            names = {c.id: c.name for c in calendars}
            rows: dict[str, list[LinkRow]] = {"all": []}
            rows.update({str(c.id): [] for c in calendars})
            for link in links.list_links(session, me.business_id):
                ids = links.scope_calendar_ids(session, link)
                row = LinkRow(link, links.link_state(link, now), ago(link.last_used_at, now),
                              ", ".join(names.get(i, f"#{i}") for i in ids))
                for key in (["all"] if link.scope == "all" else [str(i) for i in ids]):
                    rows.setdefault(key, []).append(row)
            table = [CalendarRow("all", "All calendars", rows["all"])] + [
                CalendarRow(str(c.id), c.name, rows[str(c.id)]) for c in calendars]
            services = [(svc.id, svc.name) for svc in list_services(session, me.business_id)
                        if svc.active]
        return page("links.html", status, rows=table, profiles=PROFILE_NAMES, error=error,
                    services=services, reminder_names=REMINDER_NAMES,
                    done=request.args.get("done", ""))

    @bp.get("/calendar/links")
    def links_list() -> Response:
        return links_page()

    @bp.post("/calendar/links")
    def links_create() -> Response:
        rt = runtime()
        me = signed_in()
        form = request.form
        target = form.get("calendar", "")
        try:
            with rt.db.write() as session:
                business = get_business(session, me.business_id)
                if target == "all":
                    scope, ids = "all", []
                elif target.isdigit():
                    scope, ids = "calendar", [int(target)]
                else:
                    raise InvalidError("choose a calendar or 'All calendars'", field="calendar")
                # "Writable (this employee's phone)" is offered on a calendar's own form only;
                # it shows everything, so it takes the full profile.
                writable = form.get("writable") == "on"
                profile = "full" if writable else form.get("profile", "")
                service = form.get("service_id", "").strip()
                if profile == "slots" and not (service.isascii() and service.isdigit()
                                               and len(service) <= 9):
                    raise InvalidError("choose the service whose open times the link shows",
                                       field="service_id")
                # Open times carry no bookings, so no reminder: the choice is left unread.
                reminder = None if profile == "slots" else reminder_choice(form.get("reminder"))
                link, _ = links.create_link(
                    session, rt.keyring, me.business_id, scope=scope, calendar_ids=ids,
                    service_id=int(service) if profile == "slots" else None,
                    profile=profile, label=form.get("label", "").strip()[:200],
                    writable=writable, reminder_minutes=reminder,
                    expires_at=valid_until(form.get("valid_until", ""), business.timezone),
                    now=rt.clock.now())
                link_id = link.id
        except BookingCalError as exc:
            return links_page(status_of(exc), exc.message)
        rt.prerender.submit(rt, me.business_id, link_id)
        return redirect(url_for("admin.link_show", link_id=link_id, done="created"), 303)

    def link_page(link_id: int, status: int = 200, error: str = "") -> Response:
        rt = runtime()
        me = signed_in()
        now = rt.clock.now()
        with rt.db.read() as session:
            business = get_business(session, me.business_id)
            link = links.get_link(session, me.business_id, link_id)
            state = links.link_state(link, now)
            where = link_addresses(rt.config, link.id, links.reveal_token(rt.keyring, link)) \
                if state == "active" else None
            calendars = [c.name for c in links.scope_calendars(session, link)] \
                if link.scope != "all" else ["All calendars"]
            return page("link_show.html", status, link=link, where=where, state=state,
                        calendars=calendars, profiles=PROFILE_NAMES, error=error,
                        reminder_names=REMINDER_NAMES,
                        until=valid_until_day(link.expires_at, business.timezone),
                        last_used=ago(link.last_used_at, now), done=request.args.get("done", ""))

    @bp.get("/calendar/links/<int:link_id>")
    def link_show(link_id: int) -> Response:
        return link_page(link_id)

    @bp.post("/calendar/links/<int:link_id>/edit")
    def link_edit(link_id: int) -> Response:
        """Label, profile, reminder and last day, through links.update_link as PATCH /links/ID. An
        unchanged day leaves the expiry as it is (one set through the API to the minute
        stays); an empty one removes it."""
        rt = runtime()
        me = signed_in()
        form = request.form
        try:
            with rt.db.write() as session:
                business = get_business(session, me.business_id)
                link = links.get_link(session, me.business_id, link_id)
                day = form.get("valid_until", "").strip()
                unchanged = day == valid_until_day(link.expires_at, business.timezone)
                reminder = form.get("reminder")  # absent: unchanged; empty: none
                minutes = reminder_choice(reminder)
                links.update_link(
                    session, me.business_id, link_id, now=rt.clock.now(),
                    label=form.get("label", "").strip()[:200],
                    profile=form.get("profile", ""),
                    reminder_minutes=minutes,
                    clear_reminder=reminder is not None and minutes is None,
                    expires_at=None if unchanged else valid_until(day, business.timezone),
                    clear_expiry=not day and not unchanged)
        except BookingCalError as exc:
            return link_page(link_id, status_of(exc), exc.message)
        rt.prerender.submit(rt, me.business_id, link_id)  # the profile may have changed
        return redirect(url_for("admin.link_show", link_id=link_id, done="edited"), 303)

    @bp.post("/calendar/links/<int:link_id>/rotate")
    def link_rotate(link_id: int) -> Response:
        rt = runtime()
        me = signed_in()
        with rt.db.write() as session:
            links.rotate_link(session, rt.keyring, me.business_id, link_id, rt.clock.now())
        return redirect(url_for("admin.link_show", link_id=link_id, done="rotated"), 303)

    @bp.post("/calendar/links/<int:link_id>/revoke")
    def link_revoke(link_id: int) -> Response:
        rt = runtime()
        me = signed_in()
        with rt.db.write() as session:
            links.revoke_link(session, me.business_id, link_id, rt.clock.now())
        return redirect(url_for("admin.links_list", done="revoked"), 303)

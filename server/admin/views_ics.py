"""Apps → Calendar links (ICS): per employee calendar, the ICS URLs it subscribes to as busy
time, each with its state (pending, ok, stale), last good read and last error; subscribing to a
new link, fetching one again, unsubscribing. Every action calls the functions the JSON API and
the CLI call (server/ics/sources.py). The URL is never shown again: only its host."""

from __future__ import annotations

from flask import Blueprint, redirect, request, url_for
from werkzeug.wrappers import Response

from server.admin.web import page, signed_in
from server.api.common import runtime
from server.web.incidents import status_of
from server.domain.calendars import list_calendars
from server.domain.timeutil import ago
from server.errors import BookingCalError
from server.ics import sources

STATES = {"pending": "waiting for the first read", "ok": "up to date",
          "stale": "stale: the last good copy keeps blocking"}


def links_page(status: int = 200, error: str = "") -> Response:
    rt = runtime()
    me = signed_in()
    now = rt.clock.now()
    with rt.db.read() as session:
        calendars = list_calendars(session, me.business_id, active_only=True)
        found = sources.statuses(session, rt.config.ics, me.business_id, now)
    by_calendar = {calendar.id: [item for item in found if item.calendar_id == calendar.id]
                   for calendar in calendars}
    synced = {item.id: ago(item.synced_at, now) for item in found}
    return page("ics.html", status, calendars=calendars, by_calendar=by_calendar,
                synced=synced, states=STATES, error=error, done=request.args.get("done", ""),
                http=rt.config.ics.allow_http)


def register(bp: Blueprint) -> None:
    @bp.get("/apps/calendar-links")
    def ics_links() -> Response:
        return links_page()

    @bp.post("/apps/calendar-links")
    def ics_add() -> Response:
        rt = runtime()
        me = signed_in()
        form = request.form
        try:
            calendar_id = int(form.get("calendar_id", "0") or 0)
        except ValueError:
            return links_page(422, "choose an employee calendar")
        try:
            with rt.db.write() as session:
                sources.add(session, rt.keyring, rt.config.ics, me.business_id, calendar_id,
                            form.get("url", ""), rt.clock.now(),
                            label=form.get("label", "").strip(),
                            block_tentative=form.get("block_tentative") == "on",
                            block_all_day=form.get("block_all_day") == "on",
                            block_out_of_office=form.get("block_out_of_office") == "on")
        except BookingCalError as exc:
            return links_page(status_of(exc), exc.message)
        return redirect(url_for("admin.ics_links", done="added"), 303)

    @bp.post("/apps/calendar-links/<int:source_id>/refresh")
    def ics_refresh(source_id: int) -> Response:
        rt = runtime()
        me = signed_in()
        try:
            with rt.db.write() as session:
                sources.refresh(session, me.business_id, source_id)
        except BookingCalError as exc:
            return links_page(status_of(exc), exc.message)
        return redirect(url_for("admin.ics_links", done="refresh"), 303)

    @bp.post("/apps/calendar-links/<int:source_id>/remove")
    def ics_remove(source_id: int) -> Response:
        rt = runtime()
        me = signed_in()
        try:
            with rt.db.write() as session:
                sources.remove(session, me.business_id, source_id)
        except BookingCalError as exc:
            return links_page(status_of(exc), exc.message)
        return redirect(url_for("admin.ics_links", done="removed"), 303)

"""Apps → Google Calendar, in the seed's order: overview → activate → connect one account (the
OAuth consent of server/google/oauth.py) → which employee calendars take part and which Google
calendar each uses → direction → hide client details → block online booking. Status per
calendar, reconnecting, changing account (disconnect, then connect). Every action calls the
functions the JSON API and the CLI call."""

from __future__ import annotations

from flask import Blueprint, g, redirect, request, url_for
from werkzeug.wrappers import Response

from server.admin.web import load_session, page, signed_in
from server.api.common import runtime
from server.web.incidents import status_of
from server.api.routes_google import status_out
from server.domain.calendars import list_calendars
from server.domain.timeutil import ago
from server.errors import BookingCalError
from server.google import oauth, settings
from server.google.disconnect import disconnect

DIRECTION_NAMES = {"both": "Both directions",
                   "to_google": "Only to Google (bookings appear in Google Calendar)",
                   "from_google": "Only from Google (Google events appear here)"}


def landing(connected: bool, message: str) -> Response | None:
    """Where Google's consent returns a signed-in admin: the Google Calendar pages."""
    g.admin = load_session(runtime())
    if g.admin is None:
        return None
    if connected:
        return redirect(url_for("admin.google_settings", done="connected"), 303)
    return google_page(400, message)


def google_page(status: int = 200, error: str = "") -> Response:
    rt = runtime()
    me = signed_in()
    now = rt.clock.now()
    with rt.db.read() as session:
        found = status_out(session, me.business_id, now)
    synced = {c.calendar_id: ago(c.synced_at, now) for c in found.calendars}
    return page("google.html", status, google=found, error=error, configured=rt.config.google
                .configured, directions=DIRECTION_NAMES, last_sync=ago(found.last_sync_at, now),
                synced=synced, done=request.args.get("done", ""))


def _start_consent() -> Response:
    rt = runtime()
    me = signed_in()
    with rt.db.write() as session:
        url = oauth.start_consent(session, rt.keyring, rt.config, me.business_id,
                                  rt.clock.now())
    return redirect(url, 303)


def register(bp: Blueprint) -> None:
    @bp.get("/apps/google")
    def google() -> Response:
        return google_page()

    @bp.get("/apps/google/activate")
    def google_activate() -> Response:
        signed_in()
        return page("google_activate.html", configured=runtime().config.google.configured)

    @bp.post("/apps/google/connect")
    def google_connect() -> Response:
        try:
            return _start_consent()
        except BookingCalError as exc:
            return google_page(status_of(exc), exc.message)

    def settings_page(status: int = 200, error: str = "") -> Response:
        rt = runtime()
        me = signed_in()
        with rt.db.read() as session:
            found = status_out(session, me.business_id, rt.clock.now())
            if not found.connected:
                return google_page(status, error) if error else \
                    redirect(url_for("admin.google"), 303)
            calendars = list_calendars(session, me.business_id, active_only=True)
        chosen = {c.calendar_id: c for c in found.calendars}
        return page("google_settings.html", status, google=found, calendars=calendars,
                    chosen=chosen, directions=DIRECTION_NAMES, error=error,
                    done=request.args.get("done", ""))

    @bp.get("/apps/google/settings")
    def google_settings() -> Response:
        return settings_page()

    @bp.post("/apps/google/settings")
    def google_settings_post() -> Response:
        rt = runtime()
        me = signed_in()
        form = request.form
        try:
            with rt.db.read() as session:
                ids = [c.id for c in list_calendars(session, me.business_id, active_only=True)]
            choices = [settings.CalendarChoice(
                calendar_id, form.get(f"google_{calendar_id}", "").strip() or "primary")
                for calendar_id in ids if form.get(f"calendar_{calendar_id}") == "on"]
            with rt.db.write() as session:
                settings.update_settings(
                    session, me.business_id, now=rt.clock.now(),
                    direction=form.get("direction", ""), calendars=choices,
                    hide_client_details=form.get("hide_client_details") == "on",
                    block_online_booking=form.get("block_online_booking") == "on")
        except BookingCalError as exc:
            return settings_page(status_of(exc), exc.message)
        return redirect(url_for("admin.google", done="saved"), 303)

    @bp.post("/apps/google/disconnect")
    def google_disconnect() -> Response:
        rt = runtime()
        me = signed_in()
        try:
            report = disconnect(rt, me.business_id, keep_copies=False)
            if request.form.get("then") == "connect":
                return _start_consent()
        except BookingCalError as exc:
            return google_page(status_of(exc), exc.message)
        return redirect(url_for("admin.google", done="disconnected",
                                deleted=report.copies_deleted), 303)

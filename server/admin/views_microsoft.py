"""Apps → Microsoft 365 / Outlook, in the Google app's order: overview → activate → connect one
account (the consent of server/microsoft/oauth.py) → which employee calendars take part and
which Outlook calendar each uses (chosen from the account's calendars) → direction → hide client
details → block online booking. Status per calendar with the last error, reconnecting, changing
account (disconnect, then connect), deactivating. Every action calls the functions the JSON API
and the CLI call."""

from __future__ import annotations

from flask import Blueprint, g, redirect, request, url_for
from werkzeug.wrappers import Response

from server.admin.web import load_session, page, signed_in
from server.api.common import runtime
from server.api.errors import status_of
from server.api.routes_microsoft import status_out
from server.domain.calendars import list_calendars
from server.domain.timeutil import ago
from server.errors import BookingCalError
from server.microsoft import connections, oauth
from server.microsoft.calendars import OutlookCalendar, outlook_calendars
from server.microsoft.disconnect import disconnect

DIRECTION_NAMES = {"both": "Both directions",
                   "to_microsoft": "Only to Outlook (bookings appear in Outlook)",
                   "from_microsoft": "Only from Outlook (Outlook events appear here)"}


FAILURES = {  # ?failed= on the Microsoft page: fixed texts, never one taken from a URL
    "denied": "Microsoft 365 / Outlook was not connected: access was not granted (a work "
              "account may need its administrator's consent). Try again.",
    "expired": "Microsoft 365 / Outlook was not connected: the sign-in with Microsoft expired "
               "or was already used. Start again.",
    "failed": "Microsoft 365 / Outlook was not connected: Microsoft refused the sign-in or "
              "could not be reached. Try again in a minute.",
}


def _failure_key(message: str) -> str:
    if "not granted" in message:
        return "denied"
    return "expired" if "expired" in message else "failed"


def landing(connected: bool, message: str) -> Response | None:
    """Where Microsoft's consent returns an admin: the Microsoft pages. Microsoft posts the
    answer from its own site (form_post), so the session cookie (SameSite=Lax) is not sent
    with it: a browser is sent on with a GET, which carries it; other clients get the plain
    answer."""
    g.admin = load_session(runtime())
    if g.admin is None:
        if request.accept_mimetypes.best_match(["text/plain", "text/html"]) != "text/html":
            return None
        if connected:
            return redirect(url_for("admin.microsoft_settings", done="ms-connected"), 303)
        return redirect(url_for("admin.microsoft", failed=_failure_key(message)), 303)
    if connected:
        return redirect(url_for("admin.microsoft_settings", done="ms-connected"), 303)
    return microsoft_page(400, message)


def microsoft_page(status: int = 200, error: str = "") -> Response:
    rt = runtime()
    me = signed_in()
    now = rt.clock.now()
    with rt.db.read() as session:
        found = status_out(session, me.business_id, now)
    synced = {c.calendar_id: ago(c.synced_at, now) for c in found.calendars}
    return page("microsoft.html", status, microsoft=found, error=error,
                configured=rt.config.microsoft.configured, directions=DIRECTION_NAMES,
                last_sync=ago(found.last_sync_at, now), synced=synced,
                done=request.args.get("done", ""))


def _start_consent() -> Response:
    rt = runtime()
    me = signed_in()
    with rt.db.write() as session:
        url = oauth.start_consent(session, rt.keyring, rt.config, me.business_id,
                                  rt.clock.now())
    return redirect(url, 303)


def _remote_calendars(business_id: int) -> tuple[list[OutlookCalendar], str]:
    """The account's Outlook calendars, or none and why (the page then takes ids as text)."""
    try:
        return outlook_calendars(runtime(), business_id), ""
    except BookingCalError as exc:
        return [], exc.message


def register(bp: Blueprint) -> None:
    @bp.get("/apps/microsoft")
    def microsoft() -> Response:
        failed = FAILURES.get(request.args.get("failed", ""), "")
        return microsoft_page(400 if failed else 200, failed)

    @bp.get("/apps/microsoft/activate")
    def microsoft_activate() -> Response:
        signed_in()
        return page("microsoft_activate.html", configured=runtime().config.microsoft.configured)

    @bp.post("/apps/microsoft/connect")
    def microsoft_connect() -> Response:
        try:
            return _start_consent()
        except BookingCalError as exc:
            return microsoft_page(status_of(exc), exc.message)

    def settings_page(status: int = 200, error: str = "") -> Response:
        rt = runtime()
        me = signed_in()
        with rt.db.read() as session:
            found = status_out(session, me.business_id, rt.clock.now())
            if not found.connected:
                return microsoft_page(status, error) if error else \
                    redirect(url_for("admin.microsoft"), 303)
            calendars = list_calendars(session, me.business_id, active_only=True)
        remote, remote_error = _remote_calendars(me.business_id)
        chosen = {c.calendar_id: c for c in found.calendars}
        return page("microsoft_settings.html", status, microsoft=found, calendars=calendars,
                    chosen=chosen, remote=remote, remote_error=remote_error,
                    directions=DIRECTION_NAMES, error=error, done=request.args.get("done", ""))

    @bp.get("/apps/microsoft/settings")
    def microsoft_settings() -> Response:
        return settings_page()

    @bp.post("/apps/microsoft/settings")
    def microsoft_settings_post() -> Response:
        rt = runtime()
        me = signed_in()
        form = request.form
        try:
            with rt.db.read() as session:
                ids = [c.id for c in list_calendars(session, me.business_id, active_only=True)]
            choices = [connections.CalendarChoice(
                calendar_id, form.get(f"outlook_{calendar_id}", "").strip())
                for calendar_id in ids if form.get(f"calendar_{calendar_id}") == "on"]
            with rt.db.write() as session:
                connections.update_settings(
                    session, me.business_id, now=rt.clock.now(),
                    direction=form.get("direction", ""), calendars=choices,
                    hide_client_details=form.get("hide_client_details") == "on",
                    block_online_booking=form.get("block_online_booking") == "on")
        except BookingCalError as exc:
            return settings_page(status_of(exc), exc.message)
        return redirect(url_for("admin.microsoft", done="ms-saved"), 303)

    @bp.post("/apps/microsoft/disconnect")
    def microsoft_disconnect() -> Response:
        rt = runtime()
        me = signed_in()
        try:
            disconnect(rt, me.business_id, keep_copies=False)
            if request.form.get("then") == "connect":
                return _start_consent()
        except BookingCalError as exc:
            return microsoft_page(status_of(exc), exc.message)
        return redirect(url_for("admin.microsoft", done="ms-disconnected"), 303)

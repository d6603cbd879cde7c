"""Apps → Other calendar (iCloud, Fastmail, Nextcloud, CalDAV): the business's CalDAV accounts
with their state and last error per calendar; connecting one (server address or domain, user
name, app-specific password: discovery finds its calendars); choosing, per employee calendar,
which of the account's calendars it takes part with, and how often the account is read;
disconnecting (our copies that have not
ended deleted there). Every action calls the functions the CLI calls (server/caldav/)."""

from __future__ import annotations

from flask import Blueprint, redirect, request, url_for
from werkzeug.wrappers import Response

from server.admin.web import page, signed_in
from server.api.common import runtime
from server.api.errors import status_of
from server.caldav import connections, discovery, intervals
from server.caldav.disconnect import disconnect
from server.caldav.status import accounts
from server.domain.calendars import list_calendars
from server.errors import BookingCalError, InvalidError


def caldav_page(status: int = 200, error: str = "") -> Response:
    rt = runtime()
    me = signed_in()
    with rt.db.read() as session:
        found = accounts(session, me.business_id, rt.clock.now(), rt.config.caldav)
    return page("caldav.html", status, accounts=found, error=error,
                enabled=rt.config.caldav.enabled, done=request.args.get("done", ""))


def _poll_seconds(typed: str) -> int:
    """The poll interval typed in the settings form (empty: the default)."""
    typed = typed.strip()
    if not typed:
        return intervals.DEFAULT
    if not typed.isdigit():
        raise InvalidError(f"the poll interval must be a whole number of seconds, not "
                           f"{typed[:20]!r}", field="poll_seconds")
    return int(typed)


def _discover(server_url: str, username: str, password: str) -> discovery.Account:
    options = runtime().config.caldav
    return discovery.discover(server_url, username, password, allow_http=options.allow_http,
                              allow_private=options.allow_private_hosts,
                              networks=options.allowed_networks,
                              timeout=options.timeout_seconds)


def register(bp: Blueprint) -> None:
    @bp.get("/apps/caldav")
    def caldav() -> Response:
        return caldav_page()

    @bp.post("/apps/caldav/connect")
    def caldav_connect() -> Response:
        rt = runtime()
        me = signed_in()
        form = request.form
        server_url, username = form.get("server_url", ""), form.get("username", "").strip()
        password = form.get("password", "")
        try:
            found = _discover(server_url, username, password)
            with rt.db.write() as session:
                row = connections.connect(
                    session, rt.keyring, me.business_id, server_url=server_url,
                    username=username, password=password, account=found, now=rt.clock.now(),
                    label=form.get("label", ""))
                number = row.id
        except BookingCalError as exc:
            return caldav_page(status_of(exc), exc.message)
        return redirect(url_for("admin.caldav_settings", account=number), 303)

    def settings_page(account: int, status: int = 200, error: str = "") -> Response:
        rt = runtime()
        me = signed_in()
        with rt.db.read() as session:
            row = connections.get_connection(session, me.business_id, account)
            server_url, username = row.server_url, row.username
            password = rt.keyring.decrypt(row.password_encrypted)
            calendars = list_calendars(session, me.business_id, active_only=True)
            [current] = [a for a in accounts(session, me.business_id, rt.clock.now(),
                                             rt.config.caldav) if a.id == account]
        try:
            remote = _discover(server_url, username, password).calendars
        except BookingCalError as exc:
            remote, error = [], error or exc.message
        chosen = {c.calendar_id: c.write_calendar for c in current.calendars}
        settings = rt.config.caldav
        return page("caldav_settings.html", status, account=current, calendars=calendars,
                    remote=remote, chosen=chosen, error=error,
                    poll_min=settings.min_poll_seconds, poll_max=settings.max_poll_seconds,
                    poll_default=settings.poll_seconds)

    @bp.get("/apps/caldav/<int:account>/settings")
    def caldav_settings(account: int) -> Response:
        try:
            return settings_page(account)
        except BookingCalError as exc:
            return caldav_page(status_of(exc), exc.message)

    @bp.post("/apps/caldav/<int:account>/settings")
    def caldav_settings_post(account: int) -> Response:
        rt = runtime()
        me = signed_in()
        form = request.form
        try:
            with rt.db.read() as session:
                ids = [c.id for c in list_calendars(session, me.business_id, active_only=True)]
            choices = [connections.CalendarChoice(calendar_id, form[f"remote_{calendar_id}"])
                       for calendar_id in ids if form.get(f"remote_{calendar_id}")]
            with rt.db.write() as session:
                connections.update_settings(
                    session, me.business_id, account, now=rt.clock.now(),
                    direction=form.get("direction") or None, calendars=choices,
                    hide_client_details=form.get("hide_client_details") == "on",
                    block_online_booking=form.get("block_online_booking") == "on",
                    poll_seconds=_poll_seconds(form.get("poll_seconds", "")),
                    settings=rt.config.caldav)
        except BookingCalError as exc:
            return settings_page(account, status_of(exc), exc.message)
        return redirect(url_for("admin.caldav", done="caldav-saved"), 303)

    @bp.post("/apps/caldav/<int:account>/disconnect")
    def caldav_disconnect(account: int) -> Response:
        rt = runtime()
        me = signed_in()
        try:
            disconnect(rt, me.business_id, account, keep_copies=False)
        except BookingCalError as exc:
            return caldav_page(status_of(exc), exc.message)
        return redirect(url_for("admin.caldav", done="caldav-disconnected"), 303)

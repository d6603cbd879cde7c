"""Apps → Sync health: every connection and synced calendar of the business (Google, Outlook,
...) with its state, last success, next try and last error, newest problems first
(server/sync/status.py), the link to fix each, the notification e-mails the SMTP server never
took (failed deliveries), and the business's stale-data policy."""

from __future__ import annotations

from flask import Blueprint, redirect, request, url_for
from werkzeug.wrappers import Response

from server.admin.web import page, signed_in
from server.api.common import runtime
from server.api.errors import status_of
from server.domain.businesses import STALE_POLICIES, get_business, update_business
from server.domain.timeutil import ago
from server.errors import BookingCalError, InvalidError
from server.sync.alerts import failed_deliveries
from server.sync.status import overview

POLICY_NAMES = {
    "offer": "Offer the times, with a warning (the data may be out of date)",
    "hide": "Hide the times of a calendar whose busy time is out of date or disconnected",
    "recheck": "Ask the calendar provider live before accepting an online booking; refuse "
               "when it cannot answer",
}
STATE_NAMES = {"ok": "ok", "stale": "out of date", "needs_reconnecting": "needs reconnecting",
               "error": "failing"}


def sync_page(status: int = 200, error: str = "") -> Response:
    rt = runtime()
    me = signed_in()
    now = rt.clock.now()
    with rt.db.read() as session:
        lines = overview(session, rt.config, now, me.business_id)
        policy = get_business(session, me.business_id).stale_policy
        undelivered = failed_deliveries(session, me.business_id)
        session.expunge_all()
    return page("sync.html", status, lines=lines, now=now, ago=ago, policy=policy,
                undelivered=undelivered,
                policies=POLICY_NAMES, states=STATE_NAMES, error=error,
                done=request.args.get("done", ""))


def register(bp: Blueprint) -> None:
    @bp.get("/sync")
    def sync() -> Response:
        return sync_page()

    @bp.post("/sync/policy")
    def sync_policy() -> Response:
        rt = runtime()
        me = signed_in()
        choice = request.form.get("stale_policy", "")
        try:
            if choice not in STALE_POLICIES:
                raise InvalidError("choose one of the policies", field="stale_policy")
            with rt.db.write() as session:
                update_business(session, me.business_id, stale_policy=choice)
        except BookingCalError as exc:
            return sync_page(status_of(exc), exc.message)
        return redirect(url_for("admin.sync", done="policy-saved"), 303)

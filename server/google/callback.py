"""GET /google/oauth/callback: where Google returns the admin after consent. The state binds
the answer to the business that started it; the page says what happened in plain words."""

from __future__ import annotations

from flask import Blueprint, Response, request

from server.errors import BookingCalError
from server.google import oauth
from server.runtime import Runtime


def _page(status: int, message: str) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")


def create_blueprint(runtime: Runtime) -> Blueprint:
    bp = Blueprint("google_oauth", __name__)

    @bp.get(oauth.CALLBACK_PATH)
    def callback() -> Response:
        state = request.args.get("state", "")
        now = runtime.clock.now()
        try:
            with runtime.db.write() as session:
                business_id, verifier = oauth.take_state(session, runtime.keyring, state, now)
            if request.args.get("error"):
                return _page(400, "Google Calendar was not connected: access was not granted. "
                                  "You can try again from the Google Calendar app.")
            tokens = oauth.exchange_code(runtime.config, request.args.get("code", ""),
                                         verifier)
            with runtime.db.write() as session:
                oauth.connect(session, runtime.keyring, business_id, tokens, now)
        except BookingCalError as exc:
            return _page(400 if exc.code != "unavailable" else 503,
                         f"Google Calendar was not connected: {exc.message}")
        return _page(200, "Google Calendar is connected. Choose the calendars that take part "
                          "in the Google Calendar settings; you can close this page.")

    return bp

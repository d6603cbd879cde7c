"""GET /google/oauth/callback: where Google returns the admin after consent. The state binds
the answer to the business that started it; the page says what happened in plain words."""

from __future__ import annotations

from typing import Callable

from flask import Blueprint, Response, request
from werkzeug.wrappers import Response as BaseResponse

from server.errors import BookingCalError
from server.google import oauth
from server.runtime import Runtime


def _page(status: int, message: str) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")


# Given (connected?, message), the page to answer with instead of the plain one, or None: the
# admin pages land a signed-in admin back on the Google Calendar page.
Landing = Callable[[bool, str], BaseResponse | None]


def create_blueprint(runtime: Runtime, landing: Landing | None = None) -> Blueprint:
    bp = Blueprint("google_oauth", __name__)

    @bp.get(oauth.CALLBACK_PATH)
    def callback() -> BaseResponse:
        status, message = _outcome()
        shown = landing(status == 200, message) if landing is not None else None
        return shown if shown is not None else _page(status, message)

    def _outcome() -> tuple[int, str]:
        state = request.args.get("state", "")
        now = runtime.clock.now()
        try:
            with runtime.db.write() as session:
                business_id, verifier = oauth.take_state(session, runtime.keyring, state, now)
            if request.args.get("error"):
                return 400, ("Google Calendar was not connected: access was not granted. "
                             "You can try again from the Google Calendar app.")
            tokens = oauth.exchange_code(runtime.config, request.args.get("code", ""),
                                         verifier)
            email = oauth.learn_account_email(runtime.config, tokens)
            with runtime.db.write() as session:
                oauth.connect(session, runtime.keyring, business_id, tokens, now, email)
        except BookingCalError as exc:
            return (400 if exc.code != "unavailable" else 503,
                    f"Google Calendar was not connected: {exc.message}")
        return 200, ("Google Calendar is connected. Choose the calendars that take part in the "
                     "Google Calendar settings; you can close this page.")

    return bp

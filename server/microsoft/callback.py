"""POST (or GET) /microsoft/oauth/callback: where Microsoft returns the admin after consent. The state
binds the answer to the business that started it; the page says what happened in plain
words (the admin pages may land a signed-in admin on their own page instead)."""

from __future__ import annotations

from typing import Callable

from flask import Blueprint, Response, request
from werkzeug.wrappers import Response as BaseResponse

from server.errors import BookingCalError
from server.microsoft import oauth
from server.runtime import Runtime

Landing = Callable[[bool, str], BaseResponse | None]


def _page(status: int, message: str) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")


def create_blueprint(runtime: Runtime, landing: Landing | None = None) -> Blueprint:
    bp = Blueprint("microsoft_oauth", __name__)

    @bp.route(oauth.CALLBACK_PATH, methods=["GET", "POST"])
    def callback() -> BaseResponse:
        status, message = _outcome()
        shown = landing(status == 200, message) if landing is not None else None
        return shown if shown is not None else _page(status, message)

    def _outcome() -> tuple[int, str]:
        now = runtime.clock.now()
        # Microsoft posts the answer (response_mode form_post); a GET carries it in the query.
        answer = {k: v for k, v in (request.form if request.method == "POST"
                                    else request.args).items()}
        try:
            with runtime.db.write() as session:
                business_id, flow = oauth.take_state(session, runtime.keyring,
                                                     answer.get("state", ""), now)
            if answer.get("error"):
                return 400, ("Microsoft 365 / Outlook was not connected: access was not "
                             "granted (a work account may need its administrator's consent). "
                             "You can try again from the Microsoft app.")
            refresh, email = oauth.exchange(runtime.config, flow, answer)
            with runtime.db.write() as session:
                oauth.complete(session, runtime.keyring, business_id, refresh, email, now)
        except BookingCalError as exc:
            return (400 if exc.code != "unavailable" else 503,
                    f"Microsoft 365 / Outlook was not connected: {exc.message}")
        return 200, ("Microsoft 365 / Outlook is connected. Choose the calendars that take "
                     "part in the Microsoft settings; you can close this page.")

    return bp

"""The admin pages under /admin/: server-rendered (Jinja2), a little plain JavaScript for the copy
buttons, no external assets. Every action calls the domain and service functions the JSON API
calls; this package only reads forms and renders pages."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from server.admin import (
    views_account, views_auth, views_availability, views_caldav, views_google, views_ics,
    views_links, views_microsoft, views_sync,
)
from server.admin.views_google import landing
from server.admin.views_microsoft import landing as microsoft_landing
from server.admin.web import guard, page, secure_headers
from server.web.incidents import log_incident, status_of
from server.errors import BookingCalError
from server.web.ratelimit import FailureLimiter

__all__ = ["create_blueprint", "landing", "microsoft_landing"]


def create_blueprint(sign_in_limit: int) -> Blueprint:
    bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates",
                   static_folder="static", static_url_path="/static")
    bp.before_request(guard)
    bp.after_request(secure_headers)

    @bp.get("/")
    def home() -> Response:
        return redirect(url_for("admin.links_list"), 303)

    @bp.errorhandler(BookingCalError)
    def domain_error(exc: BookingCalError) -> Response:
        return page("error.html", status_of(exc), message=exc.message)

    # Errors under /admin/ are pages, not the JSON API's shape: a path that is no page (the
    # catch-all route below, so routing's 404 lands here too), any other HTTP error, and an
    # unexpected one, logged with the incident id the JSON API would give.
    @bp.route("/<path:rest>", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
    def no_such_page(rest: str) -> Response:
        abort(404)

    @bp.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        message = "There is no such page here. Check the address, or start again from the " \
            "menu." if status == 404 else (exc.description or exc.name)
        return page("error.html", status, message=message, title=exc.name)

    @bp.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> Response:
        incident = log_incident(exc)
        return page("error.html", 500, title="Server error", incident=incident,
                    message="Something went wrong on the server; nothing you did caused it. "
                    "Try again in a moment. If it happens again, give the server's "
                    f"administrator the incident number {incident}: it is in the log.")

    limiter = FailureLimiter(sign_in_limit)
    views_auth.register(bp, limiter)
    views_account.register(bp, limiter)
    views_links.register(bp)
    views_google.register(bp)
    views_microsoft.register(bp)
    views_ics.register(bp)
    views_caldav.register(bp)
    views_availability.register(bp)
    views_sync.register(bp)
    return bp

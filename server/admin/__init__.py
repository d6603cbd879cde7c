"""The admin pages under /admin/: server-rendered (Jinja2), a little plain JavaScript for the copy
buttons, no external assets. Every action calls the domain and service functions the JSON API
calls; this package only reads forms and renders pages."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for
from werkzeug.wrappers import Response

from server.admin import (
    views_account, views_auth, views_availability, views_google, views_links,
)
from server.admin.views_google import landing
from server.admin.web import guard, page, secure_headers
from server.api.errors import status_of
from server.errors import BookingCalError
from server.web.ratelimit import FailureLimiter

__all__ = ["create_blueprint", "landing"]


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

    limiter = FailureLimiter(sign_in_limit)
    views_auth.register(bp, limiter)
    views_account.register(bp, limiter)
    views_links.register(bp)
    views_google.register(bp)
    views_availability.register(bp)
    return bp

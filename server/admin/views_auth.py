"""Sign-in and sign-out. The sign-in form is protected against cross-site submission with a
double-submit token (a random cookie repeated in the form), failed attempts are counted per
address (FailureLimiter, as for link tokens) and answered 429 beyond the limit."""

from __future__ import annotations

import datetime as dt
import hmac
from urllib.parse import urlsplit

from flask import Blueprint, g, redirect, request, url_for
from werkzeug.wrappers import Response

from server.admin import accounts, sessions
from server.admin.web import CSRF_FIELD, clear_cookie, page, set_cookie, signed_in
from server.api.common import runtime
from server.keys import new_token
from server.web.ratelimit import FailureLimiter

PRE_COOKIE = "bookingcal_admin_signin"


def _safe_next(target: str | None) -> str:
    """Only a path of our admin pages; anything else (another site, a scheme, a control
    character or space that would split or bend the Location header) goes home."""
    home = url_for("admin.home")
    if not target:
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith(request.script_root + "/admin/") \
            or "\\" in target or not target.isprintable() or any(c.isspace() for c in target):
        return home
    return target


def register(bp: Blueprint, limiter: FailureLimiter) -> None:
    def sign_in_page(status: int = 200, error: str = "", email: str = "") -> Response:
        token = request.cookies.get(PRE_COOKIE) or new_token(24)
        response = page("sign_in.html", status, error=error, email=email, signin_token=token,
                        next=request.values.get("next", ""), done=request.args.get("done", ""))
        set_cookie(response, PRE_COOKIE, token, 3600)
        return response

    @bp.get("/sign-in")
    def sign_in() -> Response:
        if g.admin is not None:
            return redirect(_safe_next(request.args.get("next")), 303)
        return sign_in_page()

    @bp.post("/sign-in")
    def sign_in_post() -> Response:
        rt = runtime()
        cookie = request.cookies.get(PRE_COOKIE, "")
        given = request.form.get(CSRF_FIELD, "")
        if not cookie or not given or not hmac.compare_digest(cookie, given):
            return page("error.html", 403, message="The sign-in form has expired or did not "
                        "come from this page. Reload the page and sign in again.")
        address = request.remote_addr or "?"
        if limiter.blocked(address):
            response = page("sign_in.html", 429, error="Too many failed sign-ins from this "
                            "address. Wait an hour, or ask another admin to check the account.",
                            email="", signin_token=cookie, next="")
            response.headers["Retry-After"] = "3600"
            return response
        email = request.form.get("email", "")
        # Decided before the session row is written, so nothing can fail between the two.
        target = _safe_next(request.form.get("next"))
        now = rt.clock.now()
        with rt.db.write() as session:
            user = accounts.check_password(session, email, request.form.get("password", ""),
                                           now)
            token = None if user is None else sessions.start(
                session, rt.keyring, user, now, dt.timedelta(hours=rt.config.admin_session_hours))
        if token is None:
            limiter.failed(address)
            return sign_in_page(401, "The e-mail address or the password is wrong.", email)
        response = redirect(target, 303)
        set_cookie(response, sessions.COOKIE, token, rt.config.admin_session_hours * 3600)
        clear_cookie(response, PRE_COOKIE)
        return response

    @bp.post("/sign-out")
    def sign_out() -> Response:
        rt = runtime()
        signed_in()
        with rt.db.write() as session:
            sessions.end(session, rt.keyring, request.cookies.get(sessions.COOKIE, ""))
        response = redirect(url_for("admin.sign_in", done="signed-out"), 303)
        clear_cookie(response, sessions.COOKIE)
        return response

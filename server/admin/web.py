"""What every admin page shares: who is signed in, the CSRF check on every form, rendering with
the navigation, and plain-words errors. A signed-out request is sent to the sign-in page (GET) or
refused with 403 (anything that changes something)."""

from __future__ import annotations

from typing import Any

from flask import abort, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from server.admin import sessions
from server.api.common import runtime
from server.runtime import Runtime

CSRF_FIELD = "csrf_token"
# Endpoints open without a session: the sign-in form and the static files.
OPEN_ENDPOINTS = {"admin.sign_in", "admin.sign_in_post", "admin.static"}


def signed_in() -> sessions.SignedIn:
    found: sessions.SignedIn | None = g.get("admin")
    if found is None:  # the guard runs first; this is only reached by a programming error
        abort(403)
    return found


def load_session(rt: Runtime) -> sessions.SignedIn | None:
    token = request.cookies.get(sessions.COOKIE, "")
    if not token:
        return None
    with rt.db.read() as session:
        return sessions.find(session, rt.keyring, token, rt.clock.now())


def guard() -> Response | None:
    """Runs before every admin request."""
    rt = runtime()
    g.admin = load_session(rt)
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if g.admin is None:
        if request.method in ("GET", "HEAD"):
            here = request.full_path if request.query_string else request.path
            return redirect(url_for("admin.sign_in", next=request.script_root + here), 303)
        return page("error.html", 403, message="You are signed out. Sign in and try again.")
    if request.method not in ("GET", "HEAD") and \
            not sessions.csrf_matches(g.admin, request.form.get(CSRF_FIELD, "")):
        return page("error.html", 403, message="This form has expired or did not come from "
                    "these pages. Reload the page and try again.")
    return None


def secure_headers(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self' " + form_targets() + "; frame-ancestors 'none'; base-uri 'none'")
    return response


def form_targets() -> str:
    """Where forms may send the browser: our pages and Google's and Microsoft's consent pages
    (a form posts to us, we answer with a redirect there; CSP checks redirects of form
    submissions too)."""
    config = runtime().config
    origins = []
    for url in (config.google.auth_url, config.microsoft.authority):
        scheme, _, rest = url.partition("://")
        if rest and f"{scheme}://{rest.split('/', 1)[0]}" not in origins:
            origins.append(f"{scheme}://{rest.split('/', 1)[0]}")
    return " ".join(origins)


def set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    """HttpOnly, SameSite=Lax, Secure when public_url is https, for the whole public path (the
    Google callback outside /admin/ reads the session too)."""
    config = runtime().config
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="Lax",
                        path=config.public_path + "/",
                        secure=config.public_url.startswith("https://"))


def clear_cookie(response: Response, name: str) -> None:
    config = runtime().config
    response.delete_cookie(name, path=config.public_path + "/", httponly=True, samesite="Lax",
                           secure=config.public_url.startswith("https://"))


def page(template: str, status: int = 200, **context: Any) -> Response:
    response = Response(render_template(template, me=g.get("admin"), csrf_field=CSRF_FIELD,
                                        **context), status=status, mimetype="text/html")
    return response

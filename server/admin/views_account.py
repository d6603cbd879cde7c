"""Account: the business's admin accounts, changing one's own password (the current one is
needed, and the account's other browsers are signed out), removing another account (never the
last one; server/admin/accounts.py, as `bookingcal admin remove-user`). Wrong current passwords
count towards the sign-in limit of the address."""

from __future__ import annotations

from flask import Blueprint, redirect, request, url_for
from werkzeug.wrappers import Response

from server.admin import accounts, sessions
from server.admin.web import page, signed_in
from server.api.common import runtime
from server.web.incidents import status_of
from server.domain.timeutil import ago
from server.errors import BookingCalError, ConflictError, InvalidError
from server.web.ratelimit import FailureLimiter


def register(bp: Blueprint, limiter: FailureLimiter) -> None:
    def account_page(status: int = 200, error: str = "") -> Response:
        rt = runtime()
        me = signed_in()
        now = rt.clock.now()
        with rt.db.read() as session:
            users = [(user, ago(user.last_sign_in_at, now))
                     for user in accounts.list_users(session, me.business_id)]
        return page("account.html", status, users=users, error=error,
                    done=request.args.get("done", ""))

    @bp.get("/account")
    def account() -> Response:
        return account_page()

    @bp.post("/account/password")
    def account_password() -> Response:
        rt = runtime()
        me = signed_in()
        form = request.form
        address = request.remote_addr or "?"
        if limiter.blocked(address):
            response = account_page(429, "Too many wrong passwords from this address. Wait "
                                    "an hour and try again.")
            response.headers["Retry-After"] = "3600"
            return response
        try:
            if form.get("new_password", "") != form.get("repeat_password", ""):
                raise InvalidError("the new password and its repetition differ; type them "
                                   "again", field="repeat_password")
            with rt.db.write() as session:
                accounts.change_password(session, me.user_id, form.get("current_password", ""),
                                         form.get("new_password", ""))
                sessions.end_others(session, rt.keyring, me.business_id, me.user_id,
                                    request.cookies.get(sessions.COOKIE, ""))
        except BookingCalError as exc:
            if isinstance(exc, accounts.WrongPasswordError):
                limiter.failed(address)
            return account_page(status_of(exc), exc.message)
        return redirect(url_for("admin.account", done="password-changed"), 303)

    @bp.post("/account/users/<int:user_id>/remove")
    def account_remove(user_id: int) -> Response:
        rt = runtime()
        me = signed_in()
        try:
            if user_id == me.user_id:
                raise ConflictError("you cannot remove your own account here; another admin "
                                    "can, or `bookingcal admin remove-user`")
            with rt.db.write() as session:
                accounts.remove_user(session, me.business_id, user_id)
        except BookingCalError as exc:
            return account_page(status_of(exc), exc.message)
        return redirect(url_for("admin.account", done="user-removed"), 303)

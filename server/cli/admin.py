"""`bookingcal admin ...`: accounts of the admin pages: create, reset password, list, remove."""

from __future__ import annotations

import sys

import click

from server.cli.common import open_runtime, user_errors


@click.group("admin")
def admin_group() -> None:
    """Accounts for the admin pages under /admin/."""


@admin_group.command("create-user")
@click.option("--business", "business_id", type=int, required=True,
              help="The business the account manages.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
@click.argument("email")
@click.pass_context
@user_errors
def admin_create_user(ctx: click.Context, business_id: int, email: str,
                      password_stdin: bool) -> None:
    """Make an admin account for the admin pages; the password is asked for.

    \b
    Example:
      bookingcal admin create-user --business 1 owner@salon.example
    """
    from server.admin.accounts import create_user

    runtime = open_runtime(ctx, need_schema=True)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with runtime.db.write() as session:
        user = create_user(session, business_id, email, password, runtime.clock.now())
        click.echo(f"admin account {user.email} created for business {business_id}; sign in at "
                   f"{runtime.config.public_link('/admin/')}")


@admin_group.command("reset-password")
@click.option("--business", "business_id", type=int, required=True)
@click.option("--password-stdin", is_flag=True,
              help="Read the new password from the first line of standard input.")
@click.argument("email")
@click.pass_context
@user_errors
def admin_reset_password(ctx: click.Context, business_id: int, email: str,
                         password_stdin: bool) -> None:
    """Set a forgotten admin password (the new one is asked for) and sign the account out
    everywhere."""
    from server.admin.accounts import reset_password

    runtime = open_runtime(ctx, need_schema=True)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    with runtime.db.write() as session:
        user = reset_password(session, business_id, email, password)
        click.echo(f"new password set for {user.email}; every session of it is signed out")


@admin_group.command("list-users")
@click.option("--business", "business_id", type=int, required=True)
@click.pass_context
@user_errors
def admin_list_users(ctx: click.Context, business_id: int) -> None:
    """The admin accounts of a business: address, when made, last sign-in (UTC)."""
    from server.admin.accounts import list_users

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.read() as session:
        users = list_users(session, business_id)
    if not users:
        click.echo(f"business {business_id} has no admin account (bookingcal admin create-user)")
    for user in users:
        last = user.last_sign_in_at.strftime("%Y-%m-%d %H:%M") if user.last_sign_in_at \
            else "never"
        click.echo(f"{user.email}\tmade {user.created_at:%Y-%m-%d}\tlast sign-in {last}")


@admin_group.command("remove-user")
@click.option("--business", "business_id", type=int, required=True)
@click.argument("email")
@click.pass_context
@user_errors
def admin_remove_user(ctx: click.Context, business_id: int, email: str) -> None:
    """Remove an admin account and sign it out; never the business's last one."""
    from server.admin.accounts import find_user, remove_user

    runtime = open_runtime(ctx, need_schema=True)
    with runtime.db.write() as session:
        removed = remove_user(session, business_id, find_user(session, business_id, email).id)
    click.echo(f"admin account {removed} removed from business {business_id}")


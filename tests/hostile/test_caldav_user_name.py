"""Issue 12, item 11: the CalDAV user name must be the token's own `link-<id>`; any other name
(someone else's link, nothing, 10,000 characters, bytes that are not UTF-8) is answered exactly
like a wrong password, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import caldav
import pytest
from caldav.lib import error as dav_error

from caldav_helpers import basic, dav, make_world, serving, signed_in
from support import make_link

PROPFIND = '<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop></D:propfind>'


def test_only_the_links_own_user_name_signs_in(tmp_path: Path, database_url: str) -> None:
    with serving(tmp_path, database_url) as live:
        world = make_world(live)
        other = make_link(world.api, world.salon.business)
        assert signed_in(world, "PROPFIND", world.principal, PROPFIND,
                         Depth="0").status_code == 207
        # Clients vary the case of what the user types; the name is still that link's.
        assert dav(live, "PROPFIND", world.principal, PROPFIND, user=world.user.upper(),
                   password=world.token, Depth="0").status_code == 207
        wrong_password = dav(live, "PROPFIND", world.principal, PROPFIND, user=world.user,
                             password="bcl_" + "x" * 32, Depth="0")
        assert wrong_password.status_code == 401
        names: list[str | bytes] = [
            "nobody", "", f"link-{other['id']}", f"{world.user}0", f"x{world.user}",
            "link-999999", "a" * 10_000, "ünïcødé", b"link-\xff", f"{world.user} ",
            f"{world.user}:"]
        for name in names:
            for path in ("/dav/", world.principal, world.calendar):
                response = dav(live, "PROPFIND", path, PROPFIND, user=name,
                               password=world.token, Depth="1")
                assert response.status_code == 401, (repr(name)[:40], path,
                                                      response.status_code)
                assert response.content == wrong_password.content
                assert response.headers["WWW-Authenticate"] == \
                    wrong_password.headers["WWW-Authenticate"]
                assert b"multistatus" not in response.content
        # Another link's user name with this link's token opens neither principal.
        response = dav(live, "GET", f"/dav/link-{other['id']}/", user=f"link-{other['id']}",
                       password=world.token)
        assert response.status_code == 401


def test_the_caldav_library_needs_the_right_user_name(tmp_path: Path) -> None:
    with serving(tmp_path, f"sqlite:///{tmp_path}/db.sqlite3") as live:
        world = make_world(live)
        account = world.link["caldav"]
        right = caldav.DAVClient(url=account["server"], username=account["username"],
                                 password=account["password"])
        assert [c.get_display_name() for c in right.principal().calendars()] == ["Anna Berg"]
        for name in ("whoever", "link-0"):
            client = caldav.DAVClient(url=account["server"], username=name,
                                      password=account["password"])
            with pytest.raises(dav_error.AuthorizationError):
                client.principal()


def test_a_wrong_user_name_does_not_count_as_a_guessed_token(tmp_path: Path) -> None:
    """The token is known and valid; a misspelt user name must not lock the address out."""
    with serving(tmp_path, f"sqlite:///{tmp_path}/db.sqlite3",
                 extra="[links]\nfailed_attempts_per_hour = 2\n") as live:
        world = make_world(live)
        for _ in range(5):
            assert dav(live, "PROPFIND", world.principal, PROPFIND, user="typo",
                       password=world.token, Depth="0").status_code == 401
        assert signed_in(world, "PROPFIND", world.principal, PROPFIND,
                         Depth="0").status_code == 207
        header = basic(world.user, world.token)
        assert dav(live, "GET", world.principal, Authorization=header).status_code != 429

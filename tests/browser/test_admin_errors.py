"""Errors under /admin/ are HTML pages, not the JSON API's shape: a page that does not exist is a
404 page, an unexpected failure a 500 page with the incident id that the log holds (the JSON
API keeps its JSON errors)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Iterator

import pytest
import requests
from sqlalchemy import update

from admin_site import AdminSite, serve_admin, sign_in
from server.db.models import Link
from support import assert_error, make_link


@pytest.fixture
def site(tmp_path: Path, database_url: str) -> Iterator[AdminSite]:
    found = serve_admin(tmp_path, database_url)
    try:
        yield found
    finally:
        found.stop()


def is_page(answer: requests.Response, status: int) -> str:
    assert answer.status_code == status, (answer.status_code, answer.text)
    assert answer.headers["Content-Type"].startswith("text/html"), answer.headers
    assert answer.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert "<h1>" in answer.text and "Traceback" not in answer.text
    return answer.text


def test_a_page_that_does_not_exist_is_an_html_404(site: AdminSite) -> None:
    browser, _ = sign_in(site)
    for path in ("/no/such/page", "/calendar/links/not-a-number", "/static/missing.css"):
        text = is_page(browser.get(site.admin + path, timeout=20), 404)
        assert "There is no such page here" in text, path
    assert "Sign out" in text  # the page keeps the menu of a signed-in admin
    # An unknown form target is refused the same way (with the session's CSRF token).
    token = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert token
    posted = browser.post(site.admin + "/no/such/form", data={"csrf_token": token.group(1)},
                          timeout=20)
    assert "There is no such page here" in is_page(posted, 404)
    # Signed out, an unknown page leads to the sign-in page like any other: it tells nothing.
    outside = requests.get(site.admin + "/no/such/page", timeout=20, allow_redirects=False)
    assert outside.status_code == 303 and "/admin/sign-in" in outside.headers["Location"]
    # The JSON API keeps its own shape.
    assert_error(requests.get(site.live.url + "/api/v1/no/such", timeout=20), 404, "not_found")


def test_an_unexpected_error_is_an_html_500_with_the_logged_incident(
        site: AdminSite, caplog: pytest.LogCaptureFixture) -> None:
    made = make_link(site.api, site.salon.business, label="Front desk")
    # The stored token can no longer be decrypted (key files not restored with the database).
    with site.live.runtime.db.write() as session:
        session.execute(update(Link).where(Link.id == made["id"]).values(
            token_encrypted="v1:not-a-token"))
    browser, _ = sign_in(site)
    with caplog.at_level(logging.ERROR, logger="server.web.incidents"):
        text = is_page(browser.get(f"{site.admin}/calendar/links/{made['id']}", timeout=20), 500)
    found = re.search(r'<code id="incident">([0-9a-f]{12})</code>', text)
    assert found and "Something went wrong on the server" in text
    incident = found.group(1)
    logged = [r.getMessage() for r in caplog.records if "unexpected error" in r.getMessage()]
    assert logged == [f"unexpected error, incident {incident}: KeyFileError"]
    # The same failure through the JSON API: its JSON shape, its own incident.
    body = assert_error(site.api.get(f"/businesses/{site.salon.business}/links/{made['id']}"),
                        500, "internal")
    assert body["details"]["incident"] != incident

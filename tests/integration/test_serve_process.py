"""`bookingcal serve --demo` as an operator runs it: the installed console script in its own
process, on a free loopback port, with a configuration in a temporary folder and no
BOOKINGCAL_* variables, so the host key file is generated under data/keys/host.key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import requests

from server import __version__
from server.ops.demo import DEMO_NAME
from processes import BOOKINGCAL, Output, Running, clean_environ, free_port, wait_healthy
from support import Api

START_SECONDS = 90  # first run: key files, migration, ~500 demo bookings


@dataclass
class Served:
    url: str
    port: int
    folder: Path
    running: Running

    @property
    def output(self) -> Output:
        return self.running.output

    @property
    def host_key_file(self) -> Path:
        return (self.folder / "data" / "keys" / "host.key").resolve()

    def host_key(self) -> str:
        return self.host_key_file.read_text(encoding="ascii").strip()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    assert BOOKINGCAL.is_file(), f"console script {BOOKINGCAL} is not installed"
    folder = tmp_path_factory.mktemp("serve")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    (folder / "bookingcal.toml").write_text(
        'data_dir = "data"\n'
        f'public_url = "{url}/"\n'
        '\n[server]\n'
        'host = "127.0.0.1"\n'
        f'port = {port}\n'
        'threads = 4\n', encoding="utf-8")
    running = Running([str(BOOKINGCAL), "--config", str(folder / "bookingcal.toml"), "serve",
                       "--demo"], cwd=folder, env=clean_environ())
    try:
        wait_healthy(url, running, START_SECONDS)
        yield Served(url, port, folder, running)
    finally:
        running.stop()


def test_banner_names_the_address_and_the_host_key_file(served: Served) -> None:
    # The banner is printed before the port is bound; the reader thread may lag a little.
    assert served.output.wait_for("  database:", timeout=10), served.output.text
    text = served.output.text
    assert "Loading the demo business (first run)" in text
    assert f"bookingcal {__version__} serving on http://127.0.0.1:{served.port}/ " \
           f"(public address {served.url}/)" in text
    assert f"API document: {served.url}/api/v1/openapi.json" in text
    assert f"health:       {served.url}/healthz" in text
    assert f"host API key: in {served.host_key_file}" in text
    assert "Traceback" not in text
    # The generated key file holds a real secret, readable by its owner only.
    assert len(served.host_key()) >= 40
    assert served.host_key_file.stat().st_mode & 0o077 == 0


def test_openapi_document_needs_no_key(served: Served) -> None:
    with requests.Session() as session:
        response = session.get(f"{served.url}/api/v1/openapi.json", timeout=10)
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("application/json")
        document = response.json()
        assert document["info"]["version"] == __version__
        assert "/api/v1/businesses" in document["paths"]
        # ... while the API itself does.
        assert session.get(f"{served.url}/api/v1/businesses", timeout=10).status_code == 401


def test_host_key_file_lists_the_demo_business(served: Served) -> None:
    api = Api(served.url, key=served.host_key())
    try:
        items = api.ok("GET", "/businesses")["items"]
        assert [(b["name"], b["timezone"]) for b in items] == [(DEMO_NAME, "Europe/Copenhagen")]
        calendars = api.ok("GET", f"/businesses/{items[0]['id']}/calendars")["items"]
        assert len(calendars) == 3
    finally:
        api.session.close()
    wrong = Api(served.url, key=served.host_key() + "x")
    try:
        assert wrong.get("/businesses").status_code == 401
    finally:
        wrong.session.close()


def test_metrics_are_labelled_with_route_templates(served: Served) -> None:
    api = Api(served.url, key=served.host_key())
    try:
        [business] = api.ok("GET", "/businesses")["items"]
        business_id = business["id"]
        api.ok("GET", f"/businesses/{business_id}/calendars")
        assert api.get(f"/businesses/{business_id}/no-such-thing/424242").status_code == 404
        response = api.get(f"{served.url}/metrics")
    finally:
        api.session.close()
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    text = response.text
    samples = re.findall(r'^bookingcal_http_requests_total\{([^}]*)\} (\S+)$', text, re.M)
    assert samples, text
    routes = {re.search(r'route="([^"]*)"', labels).group(1)  # type: ignore[union-attr]
              for labels, _ in samples}
    assert "/api/v1/businesses" in routes
    assert "/api/v1/businesses/<int:business_id>/calendars" in routes
    assert "/healthz" in routes
    assert "<unmatched>" in routes
    assert 'method="GET",route="/api/v1/businesses/<int:business_id>/calendars",' \
           'status="200"' in text
    # No label anywhere carries a raw id or the requested path.
    for route in routes:
        assert not re.search(r"/\d+(/|$)", route), route
    assert f"/businesses/{business_id}/" not in text
    assert "424242" not in text and "no-such-thing" not in text
    assert "bookingcal_http_request_duration_seconds_bucket" in text


def test_the_demo_admin_printed_at_start_signs_in(served: Served) -> None:
    assert served.output.wait_for("  sign in as ", timeout=10), served.output.text
    found = re.search(r"Admin pages: (\S+)\n  sign in as (\S+) with (\S+)", served.output.text)
    assert found, served.output.text
    admin, email, password = found.groups()
    assert admin == f"{served.url}/admin/"
    with requests.Session() as browser:
        form = browser.get(f"{admin}sign-in", timeout=10)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert form.status_code == 200 and token, form.text
        answer = browser.post(f"{admin}sign-in", timeout=20, allow_redirects=False, data={
            "csrf_token": token.group(1), "email": email, "password": password + "x"})
        assert answer.status_code != 303  # a wrong password does not open it
        form = browser.get(f"{admin}sign-in", timeout=10)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token, form.text
        answer = browser.post(f"{admin}sign-in", timeout=20, allow_redirects=False, data={
            "csrf_token": token.group(1), "email": email, "password": password})
        assert answer.status_code == 303, answer.text
        links = browser.get(f"{admin}calendar/links", timeout=10)
        assert links.status_code == 200 and "Anna Berg" in links.text, links.text[:500]

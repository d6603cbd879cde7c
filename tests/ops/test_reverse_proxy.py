"""bookingcal behind nginx as shipped (contrib/nginx/bookingcal.conf, placeholders filled in):
TLS with a self-signed certificate, public_url with a sub-path. Through nginx with real clients
(requests, the caldav library): links and redirects are https with public_url's host and path,
CalDAV discovery and sync and a feed work; forwarded headers are believed from nginx only; and
after the run neither nginx's logs nor the app's hold a token or a client's data."""

from __future__ import annotations

import datetime as dt
import http.client
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import caldav
import pytest
import requests

from deployment import Deployment, session_for, start_deployment
from support import Api, book, local_iso, make_link, make_salon, monday_after_next

CLIENT = {"name": "Karoline Østergaard-Sekret", "email": "karoline.sekret@example.org",
          "phone": "+45 31 41 59 26"}
NOTES = "Allergic to peanut-marker-xyz"


@dataclass
class World:
    deployment: Deployment
    api: Api
    link: dict[str, object]
    token: str
    secrets: list[str]  # what no log may hold


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    deployment = start_deployment(tmp_path_factory.mktemp("proxy"))
    api = deployment.api()
    try:
        salon = make_salon(api)
        client = api.ok("POST", f"/businesses/{salon.business}/clients", 201, json=CLIENT)["id"]
        # The server process runs on the real clock: a booking in the week after next.
        book(api, salon, local_iso(monday_after_next() + dt.timedelta(days=1), 10),
             client_id=client, notes=NOTES)
        link = make_link(api, salon.business, profile="full")
        token = str(link["token"])
        yield World(deployment, api, link, token,
                    [token, *CLIENT.values(), "Østergaard", "31 41 59 26", NOTES,
                     "Jens Hansen", "jens@example.com"])
    finally:
        api.session.close()
        deployment.stop()


def test_links_and_redirects_are_https_below_public_url(world: World) -> None:
    public = world.deployment.public_url
    assert public.startswith("https://localhost:") and public.endswith("/calendar/")
    assert world.link["feed_url"] == f"{public}feeds/{world.token}.ics"
    assert world.link["webcal_url"] == "webcal://" + public.split("://", 1)[1] + \
        f"feeds/{world.token}.ics"
    assert world.link["caldav"] == {"server": f"{public}dav/", "username": f"link-{world.link['id']}",
                                    "password": world.token}
    with session_for(world.deployment) as session:
        # Clients look for /.well-known/caldav at the host's root, asked here by address.
        for path in ("/.well-known/caldav", "/calendar/.well-known/caldav"):
            response = session.get(world.deployment.url + path, allow_redirects=False,
                                   timeout=10)
            assert response.status_code == 301, (path, response.status_code)
            assert response.headers["Location"] == f"{public}dav/"
            assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        # Plain HTTP is only a redirect to https.
        plain = requests.get(f"http://127.0.0.1:{world.deployment.nginx.http_port}"
                             "/calendar/healthz", allow_redirects=False, timeout=10)
        assert plain.status_code == 301
        assert plain.headers["Location"] == "https://127.0.0.1/calendar/healthz"


def test_a_feed_through_the_proxy(world: World) -> None:
    with session_for(world.deployment) as session:
        response = session.get(str(world.link["feed_url"]), timeout=10)
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("text/calendar")
        assert response.headers["Content-Encoding"] == "gzip"  # once, by the app
        assert "BEGIN:VCALENDAR" in response.text and "Haircut" in response.text
        assert CLIENT["name"] in response.text  # the full profile, unharmed by the proxy
        etag = response.headers["ETag"]
        again = session.get(str(world.link["feed_url"]), headers={"If-None-Match": etag},
                            timeout=10)
        assert again.status_code == 304 and again.content == b""
        # What the access log must mask: a query string, a percent-encoded feed path.
        assert session.get(f"{world.link['feed_url']}?refresh=now", timeout=10).status_code \
            in (200, 304, 400, 404)
        assert session.get(f"{world.deployment.url}/calendar/healthz",
                           params={"who": CLIENT["email"]}, timeout=10).status_code == 200
    # Sent as is (requests would decode %66 to "f"): the app decodes it and serves the feed.
    context = ssl.create_default_context(cafile=str(world.deployment.cert))
    raw = http.client.HTTPSConnection("127.0.0.1", world.deployment.nginx.https_port,
                                      timeout=10, context=context)
    raw.request("GET", f"/calendar/%66eeds/{world.token}.ics")
    assert _status(raw.getresponse()) == 200
    raw.close()


def test_caldav_discovery_and_sync_through_the_proxy(world: World) -> None:
    account = world.link["caldav"]
    assert isinstance(account, dict)
    public = world.deployment.public_url
    host_root = public.split("/calendar/", 1)[0]
    with caldav.DAVClient(url=f"{host_root}/.well-known/caldav", username=account["username"],
                          password=account["password"],
                          ssl_verify_cert=str(world.deployment.cert)) as client:
        principal = client.principal()
        assert str(principal.url).startswith(f"{public}dav/")
        [calendar] = principal.calendars()
        assert str(calendar.url).startswith(f"{public}dav/")
        assert calendar.get_display_name() == "Anna Berg"
        events = calendar.objects_by_sync_token(load_objects=True)
        assert len(list(events)) == 1
        [event] = calendar.objects_by_sync_token(load_objects=True)
        assert CLIENT["name"] in str(event.data)
        unchanged = calendar.objects_by_sync_token(sync_token=events.sync_token,
                                                   load_objects=True)
        assert list(unchanged) == []


def _status(response: http.client.HTTPResponse) -> int:
    response.read()
    return response.status


def test_forwarded_headers_are_believed_from_nginx_only(world: World) -> None:
    """metrics.allow is 127.0.0.1 only, and nginx runs on 127.0.0.1. Another loopback address
    (127.0.0.2) plays a client on the internet."""
    deployment = world.deployment
    [port] = deployment.servers
    forged = {"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "https",
              "X-Forwarded-Host": "evil.example", "Forwarded": "for=127.0.0.1"}
    # Straight at the app, from 127.0.0.2: the forged headers are not believed.
    direct = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                        source_address=("127.0.0.2", 0))
    direct.request("GET", "/calendar/metrics", headers=forged)
    assert _status(direct.getresponse()) == 403
    direct.request("GET", "/.well-known/caldav", headers=forged)
    answer = direct.getresponse()
    assert _status(answer) == 301
    assert answer.getheader("Location") == f"{deployment.public_url}dav/"
    direct.close()

    context = ssl.create_default_context(cafile=str(deployment.cert))
    # Through nginx from 127.0.0.2: nginx replaces the forged X-Forwarded-For with the real
    # address, which the app believes (so: refused).
    outside = http.client.HTTPSConnection("127.0.0.1", deployment.nginx.https_port, timeout=10,
                                          context=context, source_address=("127.0.0.2", 0))
    outside.request("GET", "/calendar/metrics", headers=forged)
    assert _status(outside.getresponse()) == 403
    outside.close()
    # Through nginx from 127.0.0.1: the app believes nginx's header (so: allowed).
    inside = http.client.HTTPSConnection("127.0.0.1", deployment.nginx.https_port, timeout=10,
                                         context=context)
    inside.request("GET", "/calendar/metrics")
    response = inside.getresponse()
    body = response.read().decode()
    assert response.status == 200 and "bookingcal_http_requests_total" in body
    inside.close()


def test_zz_no_log_holds_a_token_or_client_data(world: World) -> None:
    """Last in this file: stops the processes so that every log line is written."""
    world.deployment.stop()
    access = world.deployment.nginx.access_log.read_text(encoding="utf-8")
    nginx_logs = world.deployment.nginx.logs()
    app_logs = world.deployment.app_logs()
    # The logs recorded the run (so the checks below look at something) ...
    assert "GET /calendar/feeds/<masked> HTTP/1.1\" 200" in access, access
    assert "GET /calendar/feeds/<masked> HTTP/1.1\" 304" in access
    assert "PROPFIND /calendar/dav/" in access or "PROPFIND /.well-known/caldav" in access
    assert "GET <encoded path masked> HTTP/1.1\" 200" in access
    assert "POST /calendar/api/v1/businesses/" in access
    assert "GET /calendar/healthz?<query masked> HTTP/1.1\" 200" in access
    assert "127.0.0.2" in access  # the forged X-Forwarded-For did not replace the address
    assert "GET /feeds/<token>.ics 200" in app_logs, app_logs
    assert "GET /feeds/<token>.ics 304" in app_logs
    # ... and holds no secret and no client data.
    for secret in world.secrets:
        assert secret not in nginx_logs, secret
        assert secret not in app_logs, secret
    assert "Authorization" not in nginx_logs and "Basic " not in nginx_logs
    assert "refresh=now" not in nginx_logs
    assert "Traceback" not in app_logs


def test_shipped_file_is_the_one_tested() -> None:
    """The rendered file differs from the shipped one only in the placeholders."""
    from deployment import SHIPPED_NGINX, render_nginx

    shipped = SHIPPED_NGINX.read_text(encoding="utf-8")
    rendered = render_nginx(https_port=8443, http_port=8080, upstreams=[6000], cert=Path("/c"),
                            key=Path("/k"), logs=Path("/l"))
    changed = [(a, b) for a, b in zip(shipped.splitlines(), rendered.splitlines()) if a != b]
    assert len(shipped.splitlines()) == len(rendered.splitlines())
    assert changed
    assert all("PLACEHOLDER" in a or "127.0.0.1:5232" in a or a.lstrip().startswith("#")
               for a, _ in changed), changed

"""server/ics/fetch.py against real servers on loopback: https with the certificate verified
for the host (the connection pinned to the checked address), a certificate not trusted
refused with a clear error, gzip inflated, an unconditional then a conditional GET, a
redirect loop bounded, a server that never answers cut off within the limits."""

from __future__ import annotations

import ipaddress
import ssl

import pytest

from fakes.ics_server import IcsServer
from fakes.microsoft_tls import certificate
from ics_world import calendar_text
from server.config import IcsConfig
from server.ics.fetch import FetchError, fetch

SETTINGS = IcsConfig(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),),
                     allow_http=True, timeout_seconds=1, total_seconds=3,
                     max_bytes=1024 * 1024)
BODY = calendar_text()


def trusting() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate()[0]))


def test_https_verified_conditional_and_gzip() -> None:
    with IcsServer(tls=True) as server:
        server.put("/a.ics", BODY)
        first = fetch(server.url("/a.ics"), SETTINGS, tls=trusting())
        assert first.status == 200 and first.body.decode() == BODY and first.etag
        assert server.hits("/a.ics")[0]["accept_encoding"] == "gzip"
        again = fetch(server.url("/a.ics"), SETTINGS, tls=trusting(), etag=first.etag,
                      last_modified=first.last_modified)
        assert again.status == 304 and again.body == b""
        with pytest.raises(FetchError, match="certificate of 127.0.0.1 is not valid") as caught:
            fetch(server.url("/a.ics"), SETTINGS)  # the system's trust: self-signed refused
        assert not caught.value.transient


def test_https_only_unless_configured() -> None:
    with IcsServer() as server:
        server.put("/a.ics", BODY)
        strict = IcsConfig(allowed_networks=SETTINGS.allowed_networks)
        with pytest.raises(FetchError, match="only https://"):
            fetch(server.url("/a.ics"), strict)
        with pytest.raises(FetchError, match="loopback"):
            fetch(server.url("/a.ics"), IcsConfig(allow_http=True))


def test_redirect_loops_and_hangs_are_bounded() -> None:
    with IcsServer() as server:
        server.set_mode("/loop.ics", "redirect", "/loop.ics")
        with pytest.raises(FetchError, match="redirected more than 5 times"):
            fetch(server.url("/loop.ics"), SETTINGS)
        assert len(server.hits("/loop.ics")) == 6
        server.set_mode("/slow.ics", "hang")
        with pytest.raises(FetchError, match="did not answer") as caught:
            fetch(server.url("/slow.ics"), SETTINGS)
        assert caught.value.transient
        server.set_mode("/big.ics", "huge")
        with pytest.raises(FetchError, match="larger than 1 MB"):
            fetch(server.url("/big.ics"), SETTINGS)

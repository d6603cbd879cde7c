"""WSGI middleware. Each wraps an application and does one thing.

Routes are identified by the template that matched (set in the environ by the router as
`bookingcal.route`), never by the raw path: later paths carry secret tokens."""

from __future__ import annotations

import ipaddress
import logging
import time
from typing import Any, Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
from werkzeug.middleware.proxy_fix import ProxyFix

from server.config import Network

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ROUTE_KEY = "bookingcal.route"
UNMATCHED = "<unmatched>"
access_log = logging.getLogger("bookingcal.access")


def client_in(environ: dict[str, Any], networks: tuple[Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(environ.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in networks)


class TrustedProxy:
    """Believe X-Forwarded-For/Proto/Host only from configured proxy addresses; strip them from
    anyone else, so a client cannot forge its address or the public scheme."""

    FORWARDED = ("HTTP_FORWARDED", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO",
                 "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_PREFIX")

    def __init__(self, app: WSGIApp, proxies: tuple[Network, ...]) -> None:
        self.app = app
        self.proxies = proxies
        self.trusting = ProxyFix(app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=0)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        if self.proxies and client_in(environ, self.proxies):
            return self.trusting(environ, start_response)
        for key in self.FORWARDED:
            environ.pop(key, None)
        return self.app(environ, start_response)


class PublicPrefix:
    """Serve below `public_url`'s sub-path: a request for <prefix>/x reaches the app as /x with
    SCRIPT_NAME <prefix>, so every URL the app builds carries the prefix. The prefix comes from
    configuration, never from a client header."""

    def __init__(self, app: WSGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if self.prefix and (path == self.prefix or path.startswith(self.prefix + "/")):
            environ["SCRIPT_NAME"] = self.prefix
            environ["PATH_INFO"] = path[len(self.prefix):] or "/"
        return self.app(environ, start_response)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("bookingcal_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=self.registry)
        self.duration = Histogram("bookingcal_http_request_duration_seconds",
                                  "Time to answer, by route", ["route"], registry=self.registry)
        self.feed_bodies = Counter("bookingcal_feed_bodies", "Feed bodies sent, by where they "
                                   "came from: hit (the body cache), miss (rendered, then "
                                   "cached), uncached (rendered, too big for the cache)",
                                   ["result"], registry=self.registry)


class AccessLog:
    """One log line and one metrics sample per request: method, route template, status,
    duration. No path, query string, header or body, so no token and no client data."""

    def __init__(self, app: WSGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        started = time.perf_counter()
        status_seen = ["500"]

        def recording_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            status_seen[0] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)

        body = self.app(environ, recording_start_response)
        try:
            yield from body
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            elapsed = time.perf_counter() - started
            method = environ.get("REQUEST_METHOD", "?")
            if method not in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
                              "PROPFIND", "PROPPATCH", "REPORT", "MKCALENDAR", "MKCOL"):
                method = "other"
            route = environ.get(ROUTE_KEY, UNMATCHED)
            self.metrics.requests.labels(method, route, status_seen[0]).inc()
            self.metrics.duration.labels(route).observe(elapsed)
            access_log.info("%s %s %s %.1fms", method, route, status_seen[0], elapsed * 1000)

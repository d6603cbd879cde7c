"""create_app(runtime): composes the WSGI application. Nothing runs at import time."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, g, request
from flask_openapi3 import Info, OpenAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from server import __version__
from server import admin
from server.api import body
from server.api import errors as api_errors
from server.api.auth import authenticate
from server.api.routes_availability import PUBLIC_ENDPOINTS
from server.api.routes_availability import bp as availability_bp
from server.api.routes_bookings import bp as bookings_bp
from server.api.routes_caldav import bp as caldav_bp
from server.api.routes_catalog import bp as catalog_bp
from server.api.routes_google import bp as google_bp
from server.api.routes_ics import bp as ics_bp
from server.api.routes_microsoft import bp as microsoft_bp
from server.api.routes_links import bp as links_bp
from server.api.routes_tenancy import bp as tenancy_bp
from server.api.schemas.base import ErrorResponse
from server import logsafety
from server.publishing import feeds
from server.publishing.dav_mount import DavMount
from server.db.probe import DatabaseProbe
from server.errors import BookingCalError
from server.google import callback as google_callback
from server.microsoft import callback as microsoft_callback
from server.microsoft import subscriptions as microsoft_subscriptions
from server.google import channels as google_channels
from server.runtime import Runtime
from server.web.ratelimit import FailureLimiter
from server.web.shield import Shield
from server.sync.metrics import SyncHealthCollector
from server.web.middleware import (
    ROUTE_KEY, AccessLog, Metrics, PublicPrefix, TrustedProxy, WSGIApp, client_in,
)

API_PREFIX = "/api/v1"


def create_flask_app(runtime: Runtime, metrics: Metrics, limiter: FailureLimiter) -> OpenAPI:
    config = runtime.config
    probe = DatabaseProbe(runtime.db)
    app = OpenAPI(
        __name__,
        info=Info(title="bookingcal API", version=__version__,
                  description="Manage businesses, calendars, clients, services, opening hours, "
                              "bookings and blocked time. Errors share one shape: "
                              "{\"error\": {status, code, message, details}}."),
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        doc_prefix=API_PREFIX, doc_url="/openapi.json", doc_ui=False,
        validation_error_status=422,
        validation_error_callback=api_errors.from_validation,
    )
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.extensions["bookingcal"] = runtime
    # The document route is registered by hand since the UI (and its CDN assets) is off.
    app.add_url_rule(API_PREFIX + "/openapi.json", "openapi_json",
                     lambda: Response(json.dumps(app.api_doc), mimetype="application/json"))
    for blueprint in (tenancy_bp, catalog_bp, bookings_bp, links_bp, google_bp, microsoft_bp,
                      ics_bp, caldav_bp):
        app.register_api(blueprint)
    app.register_api(availability_bp)
    app.register_blueprint(google_callback.create_blueprint(runtime, admin.landing))
    app.register_blueprint(microsoft_callback.create_blueprint(runtime, admin.microsoft_landing))
    app.register_blueprint(microsoft_subscriptions.create_blueprint(runtime))
    app.register_blueprint(admin.create_blueprint(config.admin_sign_in_attempts))
    app.register_blueprint(google_channels.create_blueprint(runtime))

    @app.before_request
    def _before() -> Response | None:
        rule = request.url_rule
        request.environ[ROUTE_KEY] = rule.rule if rule is not None else "<unmatched>"
        if request.path.startswith(API_PREFIX + "/") and rule is not None \
                and rule.endpoint != "openapi_json":
            if rule.endpoint in PUBLIC_ENDPOINTS and "Authorization" not in request.headers:
                g.caller = None  # public: the route answers what anyone may see
            else:
                g.caller = authenticate(runtime)
            if request.method in ("POST", "PUT", "PATCH") and request.content_length != 0 \
                    and (request.content_length or request.headers.get("Transfer-Encoding")):
                if not request.is_json:
                    return api_errors.error_response(
                        415, "unsupported_media_type",
                        "send the body as JSON with 'Content-Type: application/json'")
                try:
                    parsed = request.get_json(force=False, silent=False)
                except RecursionError:
                    return api_errors.error_response(400, "bad_request", body.depth_message())
                except HTTPException as exc:
                    if exc.code == 413:
                        raise
                    return api_errors.error_response(
                        400, "bad_request", "the body is not valid JSON; check quotes, commas "
                        "and brackets")
                if body.too_deep(parsed):
                    return api_errors.error_response(400, "bad_request", body.depth_message())
                if not isinstance(parsed, dict):
                    # Every body is an object; flask-openapi3 would read a string as JSON again.
                    return api_errors.error_response(
                        422, "invalid", "the body must be a JSON object ({...})",
                        {"errors": [{"field": "", "message": "expected a JSON object"}]})
        return None

    @app.get("/healthz", responses={
        200: {"description": "The database answers",
              "content": {"application/json": {"schema": {
                  "type": "object", "properties": {"status": {"type": "string"}},
                  "required": ["status"]}}}},
        503: ErrorResponse})
    def healthz() -> Response:
        problem = probe.check()
        if problem is not None:
            return api_errors.error_response(503, "unavailable", problem)
        return Response('{"status": "ok"}', mimetype="application/json")

    @app.get("/metrics", responses={
        200: {"description": "Prometheus metrics",
              "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}},
        403: ErrorResponse, 404: ErrorResponse})
    def metrics_view() -> Response:
        if not config.metrics_enabled:
            return api_errors.error_response(404, "not_found", "metrics are disabled")
        if not client_in(request.environ, config.metrics_allow):
            return api_errors.error_response(403, "forbidden",
                                             "metrics.allow does not include this address")
        return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    app.register_error_handler(BookingCalError, api_errors.from_domain)
    app.register_error_handler(ValidationError, api_errors.from_validation)
    app.register_error_handler(HTTPException, api_errors.from_http)
    app.register_error_handler(Exception, api_errors.from_unexpected)
    return app


def create_app(runtime: Runtime) -> WSGIApp:
    """The whole WSGI application, as `bookingcal serve` runs it."""
    logsafety.install()
    metrics = Metrics()
    if runtime.config.metrics_enabled:
        metrics.registry.register(SyncHealthCollector(runtime))
    # One count of unknown link tokens per address, whether tried on feeds or CalDAV, on the
    # runtime's clock (tests move it instead of waiting).
    limiter = FailureLimiter(runtime.config.failed_link_limit,
                             clock=lambda: runtime.clock.now().timestamp())
    app: Any = create_flask_app(runtime, metrics, limiter).wsgi_app
    app = DavMount(app, runtime, limiter)
    app = feeds.FeedMount(app, runtime, limiter, metrics.feed_bodies)
    app = AccessLog(app, metrics)
    app = PublicPrefix(app, runtime.config.public_path)
    app = TrustedProxy(app, runtime.config.trusted_proxies)
    # Outermost: nothing escapes to waitress, which would log the path (a feed's token).
    return Shield(app)

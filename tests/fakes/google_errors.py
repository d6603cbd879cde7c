"""Google's JSON error shape for API errors and the OAuth error shape for the token endpoint."""

from __future__ import annotations

from typing import Any

# Canonical status names Google puts in ``error.status`` (410 has none; it is left out).
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message", "errors": [...], "status"}}``."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        domain: str = "global",
        location: str | None = None,
        location_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.domain = domain
        self.location = location
        self.location_type = location_type
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        detail: dict[str, Any] = {"domain": self.domain, "reason": self.reason, "message": self.message}
        if self.location is not None:
            detail["location"] = self.location
            detail["locationType"] = self.location_type or "parameter"
        error: dict[str, Any] = {"code": self.code, "message": self.message, "errors": [detail]}
        if self.code in _STATUS:
            error["status"] = _STATUS[self.code]
        return {"error": error}


class OAuthError(Exception):
    """A token-endpoint error: ``{"error": "invalid_grant", "error_description": ...}``."""

    def __init__(self, code: int, error: str, description: str) -> None:
        super().__init__(f"{code} {error}: {description}")
        self.code = code
        self.error = error
        self.description = description

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "error_description": self.description}


# ------------------------------------------------------------------ common API errors


def bad_request(message: str, reason: str = "invalid", *, location: str | None = None) -> ApiError:
    return ApiError(400, reason, message, location=location)


def required(message: str) -> ApiError:
    return ApiError(400, "required", message)


def not_found() -> ApiError:
    return ApiError(404, "notFound", "Not Found")


def writer_access_required() -> ApiError:
    return ApiError(403, "requiredAccessLevel", "You need to have writer access to this calendar.")


def deleted() -> ApiError:
    return ApiError(410, "deleted", "Resource has been deleted")


def full_sync_required() -> ApiError:
    return ApiError(410, "fullSyncRequired", "Sync token is no longer valid, a full sync is required.")


def duplicate() -> ApiError:
    return ApiError(409, "duplicate", "The requested identifier already exists.")


def precondition_failed() -> ApiError:
    return ApiError(412, "conditionNotMet", "Precondition Failed", location="If-Match", location_type="header")


def login_required() -> ApiError:
    return ApiError(
        401,
        "required",
        "Request is missing required authentication credential. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential. "
        "See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        location="Authorization",
        location_type="header",
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
    )


def invalid_credentials() -> ApiError:
    return ApiError(
        401,
        "authError",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential. "
        "See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        location="Authorization",
        location_type="header",
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
    )


def insufficient_scopes() -> ApiError:
    return ApiError(
        403,
        "insufficientPermissions",
        "Request had insufficient authentication scopes.",
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="insufficient_scope"'},
    )


def backend_error(code: int = 500) -> ApiError:
    if code == 503:
        return ApiError(503, "backendError", "The service is currently unavailable.")
    return ApiError(code, "backendError", "Backend Error")


def rate_limited_429(retry_after: int | None) -> ApiError:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return ApiError(429, "rateLimitExceeded", "Rate Limit Exceeded", domain="usageLimits", headers=headers)


def usage_limit_403(reason: str) -> ApiError:
    messages = {
        "rateLimitExceeded": "Rate Limit Exceeded",
        "userRateLimitExceeded": "User Rate Limit Exceeded",
        "quotaExceeded": "Calendar usage limits exceeded.",
    }
    return ApiError(403, reason, messages[reason], domain="usageLimits")

"""Businesses and their API keys."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint

from server.api.auth import caller
from server.api.common import reply, responses, runtime, tag
from server.api.schemas.paths import BusinessPath, KeyPath
from server.api.schemas.tenancy import (
    ApiKeyCreated, ApiKeyIn, ApiKeyList, ApiKeyOut, BusinessIn, BusinessList, BusinessOut,
    BusinessPatch,
)
from server.domain import businesses

bp = APIBlueprint("tenancy", __name__, url_prefix="/api/v1",
                  abp_tags=[tag("businesses", "Tenants and their API keys")],
                  abp_security=[{"bearer": []}])


@bp.post("/businesses", responses=responses(BusinessOut, 201))
def create_business(body: BusinessIn) -> Response:
    """Create a business (host key only)."""
    rt = runtime()
    caller().require_host()
    with rt.db.write() as session:
        business = businesses.create_business(session, name=body.name, timezone=body.timezone,
                                              now=rt.clock.now())
        return reply(BusinessOut.model_validate(business), 201)


@bp.get("/businesses", responses=responses(BusinessList))
def list_businesses() -> Response:
    """Every business for the host key; the caller's own for a business key."""
    with runtime().db.read() as session:
        items = businesses.list_businesses(session, only=caller().business_id)
        return reply(BusinessList(items=[BusinessOut.model_validate(b) for b in items]))


@bp.get("/businesses/<int:business_id>", responses=responses(BusinessOut))
def get_business(path: BusinessPath) -> Response:
    caller().require_business(path.business_id)
    with runtime().db.read() as session:
        return reply(BusinessOut.model_validate(
            businesses.get_business(session, path.business_id)))


@bp.patch("/businesses/<int:business_id>", responses=responses(BusinessOut))
def update_business(path: BusinessPath, body: BusinessPatch) -> Response:
    caller().require_business(path.business_id)
    with runtime().db.write() as session:
        changes = body.model_dump(exclude_unset=True)
        if "live_check_max_age_seconds" in changes \
                and changes["live_check_max_age_seconds"] is None:  # back to the default
            del changes["live_check_max_age_seconds"]
            changes["default_live_check_max_age"] = True
        business = businesses.update_business(session, path.business_id, **changes)
        return reply(BusinessOut.model_validate(business))


@bp.delete("/businesses/<int:business_id>", responses=responses(None, 204))
def delete_business(path: BusinessPath) -> Response:
    """Delete a business and everything it owns (host key only)."""
    caller().require_host()
    with runtime().db.write() as session:
        businesses.delete_business(session, path.business_id)
    return reply(None)


@bp.post("/businesses/<int:business_id>/keys", responses=responses(ApiKeyCreated, 201))
def create_key(path: BusinessPath, body: ApiKeyIn) -> Response:
    """Issue a business key (host key only); the secret is in this answer and nowhere else."""
    rt = runtime()
    caller().require_host()
    with rt.db.write() as session:
        key, secret = businesses.create_api_key(session, rt.keyring, path.business_id,
                                                label=body.label, now=rt.clock.now())
        return reply(ApiKeyCreated(key=secret, **ApiKeyOut.model_validate(key).model_dump()),
                     201)


@bp.get("/businesses/<int:business_id>/keys", responses=responses(ApiKeyList))
def list_keys(path: BusinessPath) -> Response:
    caller().require_business(path.business_id)
    with runtime().db.read() as session:
        businesses.get_business(session, path.business_id)
        return reply(ApiKeyList(items=[ApiKeyOut.model_validate(k) for k in
                                       businesses.list_api_keys(session, path.business_id)]))


@bp.delete("/businesses/<int:business_id>/keys/<int:key_id>", responses=responses(None, 204))
def revoke_key(path: KeyPath) -> Response:
    """Revoke a business key; it is refused from the next request on."""
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.write() as session:
        businesses.revoke_api_key(session, path.business_id, path.key_id, rt.clock.now())
    return reply(None)

"""Helpers the route modules share."""

from __future__ import annotations

from flask import Response, current_app
from flask_openapi3 import Tag
from pydantic import BaseModel

from server.api.schemas.base import ErrorResponse
from server.runtime import Runtime

ERRORS = {status: ErrorResponse for status in (400, 401, 403, 404, 409, 413, 415, 422, 503)}


def runtime() -> Runtime:
    return current_app.extensions["bookingcal"]


def reply(model: BaseModel | None, status: int = 200) -> Response:
    if model is None:
        return Response(status=204)
    return Response(model.model_dump_json(), status=status, mimetype="application/json")


def responses(ok: type[BaseModel] | None, status: int = 200) -> dict:
    found: dict[int, type[BaseModel] | None] = dict(ERRORS)
    found[status] = ok
    return found


def tag(name: str, description: str) -> Tag:
    return Tag(name=name, description=description)

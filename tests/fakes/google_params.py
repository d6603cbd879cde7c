"""Typed, strictly validated query parameters and the ``fields`` partial-response selector."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from .google_errors import ApiError
from .google_time import parse_rfc3339

# System parameters every Google API accepts; they never change what a list returns.
SYSTEM = frozenset({"alt", "fields", "prettyPrint", "quotaUser", "userIp", "key", "access_token", "oauth_token",
                    "$.xgafv", "callback", "upload_protocol", "uploadType"})


def invalid_parameter(name: str, message: str) -> ApiError:
    return ApiError(400, "invalidParameter", message, location=name, location_type="parameter")


class Params:
    """The query string of one request (``parse_qs`` shape: name -> values)."""

    def __init__(self, query: dict[str, list[str]]) -> None:
        self.query = query
        alt = self.value("alt")
        if alt not in (None, "json"):
            raise invalid_parameter("alt", f"Invalid value '{alt}'. Values must be one of: json.")

    def has(self, name: str) -> bool:
        return name in self.query

    def value(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def values(self, name: str) -> list[str]:
        return list(self.query.get(name, []))

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.value(name)
        if value is None:
            return default
        if value.lower() not in ("true", "false"):
            raise invalid_parameter(name, f"Invalid boolean value: '{value}'.")
        return value.lower() == "true"

    def integer(self, name: str, default: int, minimum: int | None = None) -> int:
        value = self.value(name)
        if value is None:
            return default
        if not re.fullmatch(r"-?\d+", value):
            raise invalid_parameter(
                name, f"Invalid value '{value}'. Values must match the following regular expression: '-?\\d+'"
            )
        number = int(value)
        if minimum is not None and number < minimum:
            raise invalid_parameter(name, f"Invalid value '{value}'. Values must be within the range: [{minimum}, ]")
        return number

    def enum(self, name: str, allowed: tuple[str, ...]) -> str | None:
        value = self.value(name)
        if value is not None and value not in allowed:
            raise invalid_parameter(name, f"Invalid value '{value}'. Values must be one of: {', '.join(allowed)}.")
        return value

    def timestamp(self, name: str) -> dt.datetime | None:
        value = self.value(name)
        if value is None:
            return None
        try:
            return parse_rfc3339(value, require_offset=True)
        except ValueError:
            raise ApiError(400, "badRequest", "Bad Request") from None

    def fingerprint(self, *, exclude: frozenset[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return tuple(sorted((k, tuple(v)) for k, v in self.query.items() if k not in exclude and k not in SYSTEM))


# --------------------------------------------------------------------- fields=


def _parse_fields(spec: str) -> dict[str, Any]:
    """``items(id,status),nextPageToken`` -> ``{"items": {"id": {}, "status": {}}, "nextPageToken": {}}``;
    an empty dict means "the whole value"."""
    pos = 0

    def parse_list(closing: str | None) -> dict[str, Any]:
        nonlocal pos
        tree: dict[str, Any] = {}
        while pos < len(spec):
            match = re.compile(r"\s*([A-Za-z0-9_$*.#]+(?:/[A-Za-z0-9_$*.#]+)*)\s*").match(spec, pos)
            if match is None:
                raise ValueError(spec)
            path = match.group(1).split("/")
            pos = match.end()
            sub: dict[str, Any] = {}
            if pos < len(spec) and spec[pos] == "(":
                pos += 1
                sub = parse_list(")")
            node = tree
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = _union(node.get(path[-1]), sub)
            if pos < len(spec) and spec[pos] == ",":
                pos += 1
                continue
            if closing is not None and pos < len(spec) and spec[pos] == closing:
                pos += 1
                return tree
            if pos < len(spec):
                raise ValueError(spec)
        if closing is not None:
            raise ValueError(spec)
        return tree

    return parse_list(None)


def _union(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    if old is None:
        return new
    if not old or not new:
        return {}
    merged = dict(old)
    for key, value in new.items():
        merged[key] = _union(merged.get(key), value)
    return merged


def _select(value: Any, tree: dict[str, Any]) -> Any:
    if not tree:
        return value
    if isinstance(value, list):
        return [_select(item, tree) for item in value]
    if not isinstance(value, dict):
        return value
    if "*" in tree:
        return {k: _select(v, tree["*"]) for k, v in value.items()}
    return {k: _select(value[k], sub) for k, sub in tree.items() if k in value}


def apply_fields(body: Any, spec: str | None) -> Any:
    """Google's partial response (``fields=``); a malformed selector is a 400."""
    if not spec:
        return body
    try:
        tree = _parse_fields(spec)
    except ValueError:
        raise invalid_parameter("fields", f"Invalid field selection {spec}") from None
    return _select(body, tree)

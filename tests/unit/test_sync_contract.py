"""The sync engine's own rules, apart from any provider: how errors are scoped, that an
adapter's errors are the engine's kinds, and that the layers point one way (the domain never
imports the engine, the engine never imports a provider, the API or the admin pages)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from server.google.api import GoogleError, QuotaError, ReconnectError, RetryableError
from server.sync import errors

SERVER = Path(__file__).resolve().parents[2] / "server"


@pytest.mark.parametrize(("error", "scope"), [
    (errors.RetryableError("503", 503), errors.CONNECTION),
    (errors.PauseError("quota", 403), errors.CONNECTION),
    (errors.ReconnectError("grant"), errors.CONNECTION),
    (errors.SyncError("gone", 404), errors.CALENDAR),
    (errors.SyncError("forbidden", 403), errors.CALENDAR),
    (errors.SyncError("bad", 400), errors.ITEM),
    (errors.SyncError("precondition", 412), errors.ITEM),
    (errors.SyncError("told so", 400, scope=errors.CALENDAR), errors.CALENDAR),
])
def test_each_error_concerns_the_connection_a_calendar_or_an_item(
        error: errors.SyncError, scope: str) -> None:
    assert errors.scope_of(error) == scope


def test_google_errors_are_the_engines_kinds() -> None:
    assert isinstance(RetryableError("503", 503), errors.RetryableError)
    assert isinstance(QuotaError("quota", 403), errors.PauseError)
    assert isinstance(ReconnectError("grant"), errors.ReconnectError)
    assert errors.stops_connection(QuotaError("quota", 403))
    assert errors.stops_connection(ReconnectError("grant"))
    assert not errors.stops_connection(GoogleError("gone", 404))


def imports(package: str) -> set[str]:
    """Every `server.*` module imported anywhere in server/<package>/ (or the module)."""
    folder = SERVER / package
    files = sorted(folder.rglob("*.py")) if folder.is_dir() else [SERVER / f"{package}.py"]
    found: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("server.")}


@pytest.mark.parametrize(("package", "never"), [
    ("domain", ("server.sync", "server.google", "server.api", "server.admin")),
    ("sync", ("server.google", "server.api", "server.admin", "server.gcal_bridge",
              "server.cli")),
])
def test_lower_layers_never_import_higher_ones(package: str, never: tuple[str, ...]) -> None:
    found = {name for name in imports(package) if name.startswith(never)}
    assert found == set()

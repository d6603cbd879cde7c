"""Schemathesis against the live server, on SQLite and PostgreSQL (issue 12, item 13): requests
generated from our own OpenAPI document, with the host key, to every operation — once with
generated path ids and once with the ids of a real business — must get no 5xx, a status the
document lists and a body its schema accepts. Bounded (a few examples per operation,
derandomized, no example database) so that it takes about a minute per database and does not
flake."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance, status_code_conformance,
)

from support import HOST_KEY, Api, LiveServer, make_runtime, make_salon, start_server

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
EXAMPLES = 6


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    live = start_server(make_runtime(tmp_path, database_url), threads=2)
    yield live
    live.stop()


def failures_of(operation: Any, base_url: str, fixed: dict[str, Any]) -> list[str]:
    """What the checks found for up to EXAMPLES generated requests to one operation."""
    found: list[str] = []
    session = requests.Session()
    strategy = operation.as_strategy(headers={"Authorization": f"Bearer {HOST_KEY}"},
                                     path_parameters=fixed or None)

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: Any) -> None:
        # Sent with plain requests: schemathesis' own transport inspects urllib3's pools, which
        # urllib3-future (a dependency of caldav) replaces.
        response = session.request(**case.as_transport_kwargs(base_url=base_url), timeout=10)
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, BaseExceptionGroup) as exc:  # what the checks found
            found.append(f"{operation.label}: {response.status_code}: "
                         f"{' '.join(str(exc).split())[:600]}")

    run()
    return found


def test_schemathesis_finds_no_server_error_and_no_mismatch(server: LiveServer) -> None:
    api = Api(server.url)
    salon = make_salon(api)
    booking = api.ok("POST", f"/businesses/{salon.business}/bookings", 201, json={
        "calendar_id": salon.calendar, "service_id": salon.service, "client_id": salon.client,
        "start": "2026-12-01T10:00"})
    blocked = api.ok("POST", f"/businesses/{salon.business}/blocked-times", 201, json={
        "calendar_id": salon.calendar, "start": "2026-12-02T10:00", "end": "2026-12-02T11:00"})
    real = {"business_id": salon.business, "calendar_id": salon.calendar,
            "service_id": salon.service, "client_id": salon.client,
            "booking_id": booking["id"], "blocked_id": blocked["id"]}
    document = requests.get(server.url + "/api/v1/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40
    # The real ids first: generated ids are small numbers, and DELETE may remove the business.
    for operation in operations:
        names = {p.name for p in operation.path_parameters}
        if operation.method.upper() != "DELETE" and names and names <= set(real) \
                and "erase" not in operation.path:
            failures += failures_of(operation, server.url, {n: real[n] for n in names})
    for operation in operations:
        failures += failures_of(operation, server.url, {})
    assert failures == [], "\n".join(failures)

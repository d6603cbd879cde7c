"""Calendar links: ICS URLs an employee calendar subscribes to as busy time (server/ics/):
add, list with their state, ask for a refresh, remove."""

from __future__ import annotations

import dataclasses

from flask import Response
from flask_openapi3 import APIBlueprint

from server.api.auth import caller
from server.api.common import reply, responses, runtime, tag
from server.api.schemas.ics import (
    IcsSourceIn, IcsSourceList, IcsSourceOut, IcsSourcePath, IcsSourcesQuery,
)
from server.api.schemas.paths import BusinessPath
from server.domain.businesses import get_business
from server.ics import sources

bp = APIBlueprint("ics", __name__,
                  url_prefix="/api/v1/businesses/<int:business_id>/ics-sources",
                  abp_tags=[tag("ics", "Calendar links (ICS URLs) as busy time")],
                  abp_security=[{"bearer": []}])


def _one(business_id: int, source_id: int) -> IcsSourceOut:
    rt = runtime()
    with rt.db.read() as session:
        found = [item for item in sources.statuses(session, rt.config.ics, business_id,
                                                   rt.clock.now()) if item.id == source_id]
    return IcsSourceOut(**dataclasses.asdict(found[0]))


@bp.get("", responses=responses(IcsSourceList))
def list_sources(path: BusinessPath, query: IcsSourcesQuery) -> Response:
    """The business's calendar links with their state, last good read and last error."""
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.read() as session:
        get_business(session, path.business_id)
        found = sources.statuses(session, rt.config.ics, path.business_id, rt.clock.now(),
                                 query.calendar_id)
    return reply(IcsSourceList(items=[IcsSourceOut(**dataclasses.asdict(item))
                                      for item in found]))


@bp.post("", responses=responses(IcsSourceOut, 201))
def add(path: BusinessPath, body: IcsSourceIn) -> Response:
    """Subscribe an employee calendar to an ICS URL; the bridge reads it at its next pass."""
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.write() as session:
        source_id = sources.add(
            session, rt.keyring, rt.config.ics, path.business_id, body.calendar_id, body.url,
            rt.clock.now(), label=body.label, interval_seconds=body.interval_seconds,
            block_out_of_office=body.block_out_of_office, block_tentative=body.block_tentative,
            block_all_day=body.block_all_day).id
    return reply(_one(path.business_id, source_id), 201)


@bp.post("/<int:source_id>/refresh", responses=responses(IcsSourceOut))
def refresh(path: IcsSourcePath) -> Response:
    """Fetch the link at the bridge's next pass, whatever its interval."""
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.write() as session:
        sources.refresh(session, path.business_id, path.source_id)
    return reply(_one(path.business_id, path.source_id))


@bp.delete("/<int:source_id>", responses=responses(None, 204))
def remove(path: IcsSourcePath) -> Response:
    """Unsubscribe: the link and the busy time mirrored from it go."""
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.write() as session:
        sources.remove(session, path.business_id, path.source_id)
    return reply(None)

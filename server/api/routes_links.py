"""Private links: create, list, show again, change, rotate, revoke."""

from __future__ import annotations

import datetime as dt

from flask import Response
from flask_openapi3 import APIBlueprint
from sqlalchemy.orm import Session

from server.api.auth import caller
from server.api.common import reply, responses, runtime, tag
from server.api.schemas.links import (
    CaldavAccount, LinkIn, LinkList, LinkOut, LinkPatch, LinkPath, LinkQuery, LinkShown,
)
from server.api.schemas.paths import BusinessPath
from server.db.models import Link
from server.domain import links
from server.publishing.linkurls import link_addresses

bp = APIBlueprint("links", __name__, url_prefix="/api/v1/businesses/<int:business_id>",
                  abp_tags=[tag("links", "Private links: ICS feeds and CalDAV accounts")],
                  abp_security=[{"bearer": []}])


def link_out(session: Session, link: Link, now: dt.datetime) -> LinkOut:
    return LinkOut(id=link.id, scope=link.scope, calendar_ids=links.scope_calendar_ids(
        session, link), profile=link.profile, label=link.label,
        reminder_minutes=link.reminder_minutes, service_id=link.service_id,
        expires_at=link.expires_at,
        revoked_at=link.revoked_at, last_used_at=link.last_used_at, created_at=link.created_at,
        active=links.link_state(link, now) == "active", writable=link.writable)


def link_shown(session: Session, link: Link, token: str, now: dt.datetime) -> LinkShown:
    where = link_addresses(runtime().config, link.id, token)
    return LinkShown(**link_out(session, link, now).model_dump(), token=token,
                     feed_url=where.feed_url, webcal_url=where.webcal_url,
                     freebusy_url=where.freebusy_url,
                     caldav=CaldavAccount(server=where.caldav_server,
                                          username=where.caldav_username,
                                          password=where.caldav_password))


@bp.post("/links", responses=responses(LinkShown, 201))
def create_link(path: BusinessPath, body: LinkIn) -> Response:
    """Create a link; the answer holds its feed URL (https and webcal) and CalDAV account."""
    rt = runtime()
    caller().require_business(path.business_id)
    now = rt.clock.now()
    with rt.db.write() as session:
        link, token = links.create_link(session, rt.keyring, path.business_id, now=now,
                                        **body.model_dump())
        answer, link_id = reply(link_shown(session, link, token, now), 201), link.id
    # committed: its feed is rendered in the background
    rt.prerender.submit(rt, path.business_id, link_id)
    return answer


@bp.get("/links", responses=responses(LinkList))
def list_links(path: BusinessPath, query: LinkQuery) -> Response:
    rt = runtime()
    caller().require_business(path.business_id)
    now = rt.clock.now()
    with rt.db.read() as session:
        items = links.list_links(session, path.business_id, calendar_id=query.calendar_id,
                                 include_revoked=query.include_revoked)
        return reply(LinkList(items=[link_out(session, link, now) for link in items]))


@bp.get("/links/<int:link_id>", responses=responses(LinkShown))
def show_link(path: LinkPath) -> Response:
    """Show a link again, with its token and addresses."""
    rt = runtime()
    caller().require_business(path.business_id)
    now = rt.clock.now()
    with rt.db.read() as session:
        link = links.get_link(session, path.business_id, path.link_id)
        return reply(link_shown(session, link, links.reveal_token(rt.keyring, link), now))


@bp.patch("/links/<int:link_id>", responses=responses(LinkOut))
def update_link(path: LinkPath, body: LinkPatch) -> Response:
    rt = runtime()
    caller().require_business(path.business_id)
    given = body.model_dump(exclude_unset=True)
    now = rt.clock.now()
    with rt.db.write() as session:
        link = links.update_link(session, path.business_id, path.link_id, now=now,
                                 label=given.get("label"), profile=given.get("profile"),
                                 expires_at=given.get("expires_at"),
                                 reminder_minutes=given.get("reminder_minutes"),
                                 clear_reminder="reminder_minutes" in given
                                 and given["reminder_minutes"] is None,
                                 clear_expiry="expires_at" in given
                                 and given["expires_at"] is None)
        answer = reply(link_out(session, link, now))
    if "profile" in given:
        rt.prerender.submit(rt, path.business_id, path.link_id)
    return answer


@bp.post("/links/<int:link_id>/rotate", responses=responses(LinkShown))
def rotate_link(path: LinkPath) -> Response:
    """Issue a new token for the link; the old one stops working at once."""
    rt = runtime()
    caller().require_business(path.business_id)
    now = rt.clock.now()
    with rt.db.write() as session:
        link, token = links.rotate_link(session, rt.keyring, path.business_id, path.link_id,
                                        now)
        return reply(link_shown(session, link, token, now))


@bp.delete("/links/<int:link_id>", responses=responses(None, 204))
def revoke_link(path: LinkPath) -> Response:
    """Revoke a link: its feed and CalDAV account answer 404/401 from the next request on."""
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.write() as session:
        links.revoke_link(session, path.business_id, path.link_id, rt.clock.now())
    return reply(None)

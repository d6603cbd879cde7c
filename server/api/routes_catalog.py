"""Calendars (with opening hours and their change journal), services and clients."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint

from server.api.auth import caller
from server.api.common import reply, responses, runtime, tag
from server.api.convert import (
    calendar_out, client_out, decode_cursor, encode_cursor, exceptions_out,
)
from server.api.schemas.base import ErrorResponse
from server.api.schemas.calendars import (
    CalendarIn, CalendarList, CalendarOut, CalendarPatch, ChangeOut, ChangesOut, ExceptionIn,
    ExceptionList, PersonalCalendarList, PersonalCalendarOut, PersonalCalendarPatch,
    PersonalCalendarPath, WeeklyHoursIn, WeeklyHoursOut, WeeklyIntervalOut,
)
from server.api.schemas.catalog import (
    ClientIn, ClientList, ClientOut, ClientPatch, EraseOut, ServiceIn, ServiceList, ServiceOut,
    ServicePatch,
)
from server.api.schemas.paths import (
    BusinessPath, CalendarPath, ChangesQuery, ClientPath, ExceptionPath, PageQuery, ServicePath,
)
from server.db.models import PersonalCalendar
from server.domain import (
    calendars, clients, hours, journal, personal_calendars, republish, services,
)
from server.errors import InvalidError, NotFoundError

bp = APIBlueprint("catalog", __name__, url_prefix="/api/v1/businesses/<int:business_id>",
                  abp_tags=[tag("catalog", "Calendars, opening hours, services and clients")],
                  abp_security=[{"bearer": []}])


# --- calendars ------------------------------------------------------------------------------

@bp.post("/calendars", responses=responses(CalendarOut, 201))
def create_calendar(path: BusinessPath, body: CalendarIn) -> Response:
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.write() as session:
        calendar = calendars.create_calendar(session, path.business_id, now=rt.clock.now(),
                                             **body.model_dump())
        return reply(calendar_out(calendar, journal.epoch(session)), 201)


@bp.get("/calendars", responses=responses(CalendarList))
def list_calendars(path: BusinessPath) -> Response:
    caller().require_business(path.business_id)
    with runtime().db.read() as session:
        epoch = journal.epoch(session)
        return reply(CalendarList(items=[calendar_out(c, epoch) for c in
                                         calendars.list_calendars(session, path.business_id)]))


@bp.get("/calendars/<int:calendar_id>", responses=responses(CalendarOut))
def get_calendar(path: CalendarPath) -> Response:
    caller().require_business(path.business_id)
    with runtime().db.read() as session:
        return reply(calendar_out(calendars.get_calendar(session, path.business_id,
                                                         path.calendar_id),
                                  journal.epoch(session)))


@bp.patch("/calendars/<int:calendar_id>", responses=responses(CalendarOut))
def update_calendar(path: CalendarPath, body: CalendarPatch) -> Response:
    """Change a calendar; `active: false` removes it from every link and copy."""
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.write() as session:
        calendar = calendars.update_calendar(session, path.business_id, path.calendar_id,
                                             now=rt.clock.now(),
                                             **body.model_dump(exclude_unset=True))
        answer = calendar_out(calendar, journal.epoch(session))
    republish.run(rt.db, "calendar", path.calendar_id, rt.clock.now())
    return reply(answer)


@bp.delete("/calendars/<int:calendar_id>", responses=responses(None, 204))
def delete_calendar(path: CalendarPath) -> Response:
    """Delete a calendar; its bookings stay on record."""
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.write() as session:
        calendars.delete_calendar(session, path.business_id, path.calendar_id, rt.clock.now())
    return reply(None)


@bp.get("/calendars/<int:calendar_id>/changes",
        responses={**responses(ChangesOut), 410: ErrorResponse})
def calendar_changes(path: CalendarPath, query: ChangesQuery) -> Response:
    """What changed since a sync token, from the journal (410 when the token is too old)."""
    caller().require_business(path.business_id)
    with runtime().db.read() as session:
        calendar = calendars.get_calendar(session, path.business_id, path.calendar_id,
                                          include_deleted=True)
        since = (journal.parse_token(query.since, journal.epoch(session))
                 if query.since else calendar.journal_floor)
        found = journal.changes_since(session, calendar, since)
        return reply(ChangesOut(calendar_id=calendar.id, token=found.token, changes=[
            ChangeOut(seq=c.seq, kind=c.kind, id=c.item_id, uid=c.item_uid, action=c.action,
                      actor=c.actor)
            for c in found.changes]))


def _personal_out(found: PersonalCalendar) -> PersonalCalendarOut:
    return PersonalCalendarOut(id=found.id, calendar_id=found.calendar_id, slug=found.slug,
                               name=found.name, blocks=found.blocks, colour=found.colour,
                               created_at=found.created_at)


@bp.get("/calendars/<int:calendar_id>/personal-calendars",
        responses=responses(PersonalCalendarList))
def list_personal_calendars(path: CalendarPath) -> Response:
    """Calendars the employee's phone made beside this calendar (MKCALENDAR)."""
    caller().require_business(path.business_id)
    with runtime().db.read() as session:
        calendars.get_calendar(session, path.business_id, path.calendar_id)
        return reply(PersonalCalendarList(items=[_personal_out(found) for found in
                                                 personal_calendars.list_for(
                                                     session, path.business_id,
                                                     path.calendar_id)]))


@bp.patch("/calendars/<int:calendar_id>/personal-calendars/<int:personal_id>",
          responses=responses(PersonalCalendarOut))
def update_personal_calendar(path: PersonalCalendarPath,
                             body: PersonalCalendarPatch) -> Response:
    """Change the personal calendar's name, colour (null removes it) and whether its events
    block booking; the name and colour are checked as a phone's PROPPATCH is, and nothing
    changes when one of them is refused."""
    rt = runtime()
    caller().require_business(path.business_id)
    given = body.model_fields_set
    if "name" in given and body.name is None:
        raise InvalidError("a personal calendar's name cannot be null; give a name",
                           field="name")
    with rt.db.write() as session:
        found = personal_calendars.get(session, path.business_id, path.personal_id)
        if found.calendar_id != path.calendar_id:
            raise NotFoundError(f"personal calendar {path.personal_id} does not belong to "
                                f"calendar {path.calendar_id}")
        if "name" in given or "colour" in given:
            found = personal_calendars.describe(
                session, path.business_id, found.id, name=body.name, colour=body.colour,
                remove_colour="colour" in given and body.colour is None)
        if body.blocks is not None:
            found = personal_calendars.set_blocks(session, path.business_id, found.id,
                                                  body.blocks, rt.clock.now())
        return reply(_personal_out(found))


@bp.get("/calendars/<int:calendar_id>/opening-hours", responses=responses(WeeklyHoursOut))
def get_opening_hours(path: CalendarPath) -> Response:
    caller().require_business(path.business_id)
    with runtime().db.read() as session:
        rows = hours.get_weekly(session, path.business_id, path.calendar_id)
        calendar = calendars.get_calendar(session, path.business_id, path.calendar_id)
        return reply(WeeklyHoursOut(calendar_id=calendar.id, timezone=calendar.timezone,
                                    intervals=[WeeklyIntervalOut.model_validate(r)
                                               for r in rows]))


@bp.put("/calendars/<int:calendar_id>/opening-hours", responses=responses(WeeklyHoursOut))
def set_opening_hours(path: CalendarPath, body: WeeklyHoursIn) -> Response:
    """Replace the weekly schedule (local time of the calendar's zone)."""
    caller().require_business(path.business_id)
    with runtime().db.write() as session:
        rows = hours.set_weekly(session, path.business_id, path.calendar_id, [
            hours.Interval(i.weekday, i.opens, i.closes) for i in body.intervals])
        calendar = calendars.get_calendar(session, path.business_id, path.calendar_id)
        return reply(WeeklyHoursOut(calendar_id=calendar.id, timezone=calendar.timezone,
                                    intervals=[WeeklyIntervalOut.model_validate(r)
                                               for r in rows]))


@bp.get("/calendars/<int:calendar_id>/opening-exceptions", responses=responses(ExceptionList))
def list_exceptions(path: CalendarPath) -> Response:
    caller().require_business(path.business_id)
    with runtime().db.read() as session:
        rows = hours.list_exceptions(session, path.business_id, path.calendar_id)
        return reply(ExceptionList(items=exceptions_out(rows)))


@bp.put("/calendars/<int:calendar_id>/opening-exceptions/<day>",
        responses=responses(ExceptionList))
def set_exception(path: ExceptionPath, body: ExceptionIn) -> Response:
    """Set one date's hours; no intervals means closed all day."""
    caller().require_business(path.business_id)
    with runtime().db.write() as session:
        rows = hours.set_exception(session, path.business_id, path.calendar_id, path.day,
                                   intervals=[(i.opens, i.closes) for i in body.intervals],
                                   note=body.note)
        return reply(ExceptionList(items=exceptions_out(rows)))


@bp.delete("/calendars/<int:calendar_id>/opening-exceptions/<day>",
           responses=responses(None, 204))
def delete_exception(path: ExceptionPath) -> Response:
    caller().require_business(path.business_id)
    with runtime().db.write() as session:
        hours.delete_exception(session, path.business_id, path.calendar_id, path.day)
    return reply(None)


# --- services -------------------------------------------------------------------------------

@bp.post("/services", responses=responses(ServiceOut, 201))
def create_service(path: BusinessPath, body: ServiceIn) -> Response:
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.write() as session:
        service = services.create_service(session, path.business_id, now=rt.clock.now(),
                                          **body.model_dump())
        return reply(ServiceOut.model_validate(service), 201)


@bp.get("/services", responses=responses(ServiceList))
def list_services(path: BusinessPath) -> Response:
    caller().require_business(path.business_id)
    with runtime().db.read() as session:
        return reply(ServiceList(items=[ServiceOut.model_validate(s) for s in
                                        services.list_services(session, path.business_id)]))


@bp.get("/services/<int:service_id>", responses=responses(ServiceOut))
def get_service(path: ServicePath) -> Response:
    caller().require_business(path.business_id)
    with runtime().db.read() as session:
        return reply(ServiceOut.model_validate(
            services.get_service(session, path.business_id, path.service_id)))


@bp.patch("/services/<int:service_id>", responses=responses(ServiceOut))
def update_service(path: ServicePath, body: ServicePatch) -> Response:
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.write() as session:
        service = services.update_service(session, path.business_id, path.service_id,
                                          now=rt.clock.now(),
                                          **body.model_dump(exclude_unset=True))
        answer = ServiceOut.model_validate(service)
    # The new name reaches every booking's copies, batch by batch, after the rename commits.
    republish.run(rt.db, "service", path.service_id, rt.clock.now())
    return reply(answer)


@bp.delete("/services/<int:service_id>", responses=responses(None, 204))
def delete_service(path: ServicePath) -> Response:
    caller().require_business(path.business_id)
    with runtime().db.write() as session:
        services.delete_service(session, path.business_id, path.service_id)
    return reply(None)


# --- clients --------------------------------------------------------------------------------

@bp.post("/clients", responses=responses(ClientOut, 201))
def create_client(path: BusinessPath, body: ClientIn) -> Response:
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.write() as session:
        client = clients.create_client(session, path.business_id, now=rt.clock.now(),
                                       **body.model_dump())
        return reply(client_out(client), 201)


@bp.get("/clients", responses=responses(ClientList))
def list_clients(path: BusinessPath, query: PageQuery) -> Response:
    caller().require_business(path.business_id)
    after = int(decode_cursor(query.cursor, int)[0]) if query.cursor else 0  # type: ignore
    with runtime().db.read() as session:
        items = clients.list_clients(session, path.business_id, limit=query.limit + 1,
                                     after_id=after)
        more = len(items) > query.limit
        items = items[:query.limit]
        return reply(ClientList(items=[client_out(c) for c in items],
                                next_cursor=encode_cursor(items[-1].id) if more else None))


@bp.get("/clients/<int:client_id>", responses=responses(ClientOut))
def get_client(path: ClientPath) -> Response:
    caller().require_business(path.business_id)
    with runtime().db.read() as session:
        return reply(client_out(clients.get_client(session, path.business_id, path.client_id)))


@bp.patch("/clients/<int:client_id>", responses=responses(ClientOut))
def update_client(path: ClientPath, body: ClientPatch) -> Response:
    """Change a client; every booking of theirs is re-published."""
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.write() as session:
        client = clients.update_client(session, path.business_id, path.client_id,
                                       now=rt.clock.now(), **body.model_dump(exclude_unset=True))
        return reply(client_out(client))


@bp.post("/clients/<int:client_id>/erase", responses=responses(EraseOut))
def erase_client(path: ClientPath) -> Response:
    """Erase a client (data-protection request): their data, and the notes of their bookings,
    become a neutral placeholder everywhere, copies included."""
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.write() as session:
        count = clients.erase_client(session, path.business_id, path.client_id,
                                     rt.clock.now())
        client = clients.get_client(session, path.business_id, path.client_id)
        return reply(EraseOut(client=client_out(client), bookings_rewritten=count))


@bp.delete("/clients/<int:client_id>", responses=responses(None, 204))
def delete_client(path: ClientPath) -> Response:
    """Delete a client without bookings (with bookings: erase instead)."""
    caller().require_business(path.business_id)
    with runtime().db.write() as session:
        clients.delete_client(session, path.business_id, path.client_id)
    return reply(None)

"""The Outlook calendars of a business's connected Microsoft account (GET /me/calendars), for
choosing where each employee calendar writes and which one it reads: their ids are long opaque
strings nobody types."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from server.db.models import MicrosoftConnection
from server.errors import ConflictError, NotFoundError, UnavailableError
from server.microsoft.graph import GraphClient
from server.runtime import Runtime
from server.sync.errors import ReconnectError, SyncError

MAX_CALENDARS = 200  # one page: Graph's default for /me/calendars is 10, $top up to 999


@dataclass(frozen=True)
class OutlookCalendar:
    id: str
    name: str
    can_edit: bool
    default: bool


def outlook_calendars(runtime: Runtime, business_id: int,
                      client: GraphClient | None = None) -> list[OutlookCalendar]:
    """The account's calendars, its default one first; a clear error when they cannot be
    read."""
    with runtime.db.read() as session:
        connection = session.execute(select(MicrosoftConnection).where(
            MicrosoftConnection.business_id == business_id)).scalar_one_or_none()
        if connection is None:
            raise NotFoundError(f"business {business_id} has no Microsoft account connected")
        if connection.status == "needs_reconnect":
            raise ConflictError("Microsoft no longer accepts the connection; reconnect it first")
        token = runtime.keyring.decrypt(connection.refresh_token_encrypted)
    client = client or GraphClient(runtime.config.microsoft, token)
    try:
        _, answer, _ = client.call(
            "GET", f"/me/calendars?$select=id,name,canEdit,isDefaultCalendar&$top={MAX_CALENDARS}",
            attempts=2)
    except ReconnectError as exc:
        raise ConflictError("Microsoft refused the connection; reconnect it") from exc
    except SyncError as exc:
        raise UnavailableError(f"the Outlook calendars could not be read ({exc.message}); try "
                               "again in a minute") from exc
    found = [OutlookCalendar(str(c.get("id")), str(c.get("name") or "(no name)"),
                             bool(c.get("canEdit", True)), bool(c.get("isDefaultCalendar")))
             for c in (answer or {}).get("value", []) if isinstance(c, dict) and c.get("id")]
    return sorted(found, key=lambda c: (not c.default, c.name.lower()))

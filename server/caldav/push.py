"""Writing our copies to a CalDAV calendar for the engine (server/sync/writing.py's Writer):
one PUT or DELETE per write, under the copy's deterministic name.

A create is `PUT <name>.ics` with `If-None-Match: *`; answered 412, the resource is ours
already (a create retried after a kill, or a copy restored), so its ETag is read and it is
written over with `If-Match`. An update is a PUT with `If-Match` on the ETag our last write got
back; 412 (someone changed or deleted the copy) reads the current ETag and writes ours over it,
or creates it again when it is gone (the booking system is the source of truth). A PUT answered
without an ETag (some servers change what they store) has its ETag read by a PROPFIND. A delete
of what is gone (404, 410) is done. A 403 is a read-only calendar (recorded on the calendar);
transient failures are retried by the client, at most `attempts` calls.

A server that will not take a deleted UID again (Nextcloud keeps deleted events in a trash bin
and answers the create 400 "Deleted calendar object with uid already exists"; RFC 4791's
no-uid-conflict precondition says the same, with 403 or 409) gets the copy under the next
generation's name and UID (server/caldav/copies.py: stable per item and generation); the new
name is returned and recorded, so the copy stays one.

A server that refuses to delete our copy (403: Nextcloud when its trash bin will not take it,
a resource the server locked) gets the copy overwritten as cancelled and transparent instead
(`If-Match` on the ETag just read): it blocks no one's time, calendar apps show it cancelled,
and it counts as deleted. When the server refuses that too, the item's error says to delete
the copy by hand (or empty the trash); it backs off on its own while the calendar's other
copies go on, and is given up after item_errors.GIVE_UP_AFTER attempts."""

from __future__ import annotations

import logging
from typing import Any

from caldav.lib import error as dav_error

from server.caldav import copies, dav
from server.caldav.client import Answer, CalDAVClient, classify
from server.redaction import EventView
from server.sync import item_errors
from server.sync.errors import ITEM, SyncError
from server.sync.writing import Write, WriteResult

log = logging.getLogger(__name__)
BATCH_LIMIT = 20
ICS = "text/calendar; charset=utf-8"
CONFLICT_ROUNDS = 3  # someone editing the copy between our ETag read and our PUT, at most
RENAMES = 3  # fresh names tried for one write when the server refuses deleted UIDs
UID_REFUSALS = (400, 403, 409)


def refuses_uid(answer: Answer) -> bool:
    """Whether a refused create means "this UID exists, or existed and was deleted"."""
    if answer.status not in UID_REFUSALS:
        return False
    text = answer.body.lower()
    return b"no-uid-conflict" in text or (b"uid" in text and b"exist" in text)


class UidRefused(Exception):
    """A create refused because the server keeps the UID of a deleted event."""


class CalDAVWriter:
    """The writing half of the CalDAV adapter."""

    batch_limit = BATCH_LIMIT

    def copy_body(self, view: EventView, *, remote_id: str, item_ref: str, copy_version: int,
                  reminders: bool) -> str:
        """Our copy as an iCalendar resource (server/caldav/copies.py)."""
        return copies.copy_text(view, remote_id=remote_id, item_ref=item_ref,
                                copy_version=copy_version, reminders=reminders)

    def write_batch(self, client: CalDAVClient, writes: list[Write], attempts: int | None
                    ) -> dict[tuple[str, int], WriteResult]:
        """Each write on its own (see the module's docstring); one failing does not stop the
        others, except a refused password, which stops the batch."""
        assert len(writes) <= BATCH_LIMIT
        results: dict[tuple[str, int], WriteResult] = {}
        for write in writes:
            key = (write.kind, write.item_id)
            try:
                results[key] = self._write(client, write, attempts)
            except SyncError as exc:
                results[key] = WriteResult(error=exc)
                if exc.status == 401:
                    for rest in writes:
                        results.setdefault((rest.kind, rest.item_id), WriteResult(error=exc))
                    break
        return results

    def _write(self, client: CalDAVClient, write: Write, attempts: int | None) -> WriteResult:
        url = dav.resource_url(write.remote_calendar, write.remote_id)
        if write.body is None:
            deleted = client.call("DELETE", url, what="deleting a copy",
                                  ok=frozenset({403, 404, 410}), attempts=attempts)
            if deleted.status == 403:
                self._cancel_instead(client, write, url, attempts)
            return WriteResult()
        create = not write.exists or write.copy_deleted
        etag = None if create else write.etag
        name, body, rounds, renames = write.remote_id, str(write.body), 0, 0
        while rounds < CONFLICT_ROUNDS:
            try:
                answer = self._put(client, url, body, etag, create or etag is None, attempts)
            except UidRefused:
                if renames >= RENAMES:
                    raise SyncError("the CalDAV server refused every fresh UID for this copy",
                                    400, "uidConflict") from None
                renames += 1
                name = copies.next_name(name)
                url, body = dav.resource_url(write.remote_calendar, name), \
                    copies.with_uid(body, name)
                create, etag = True, None
                continue
            if answer is not None:
                return WriteResult(etag=answer,
                                   remote_id=name if name != write.remote_id else None)
            # 412: it exists (a create) or changed or vanished (an update): look, then write
            # over what is there, or create it again.
            rounds += 1
            etag = dav.resource_etag(client, url, attempts)
            create = etag is None
        raise SyncError("the CalDAV copy kept changing while it was written", 412,
                        "preconditionFailed")

    @staticmethod
    def _cancel_instead(client: CalDAVClient, write: Write, url: str,
                        attempts: int | None) -> None:
        """The server refused to delete our copy: overwrite it as cancelled and free (it
        blocks nothing and shows as cancelled), or raise the error a person acts on."""
        for _ in range(CONFLICT_ROUNDS):
            found = client.call("GET", url, what="reading a copy",
                                ok=frozenset({403, 404, 410}), attempts=attempts)
            if found.status in (404, 410):
                return  # gone after all
            if found.status == 403:
                break
            try:
                text = copies.cancelled_text(found.body.decode("utf-8"))
            except ValueError:
                break
            headers = {"Content-Type": ICS}
            etag = dav.normal_etag(found.headers.get("etag"))
            if etag:
                headers["If-Match"] = etag
            answer = client.call("PUT", url, body=text, headers=headers,
                                 what="marking a copy cancelled",
                                 ok=frozenset({403, 412}), attempts=attempts)
            if answer.status == 412:
                continue  # changed between our read and our write: read it again
            if answer.status == 403:
                break
            log.info("a CalDAV server refused to delete a copy; it was marked cancelled")
            return
        raise SyncError(
            f"the CalDAV server {client.host} refused to delete our copy of {write.kind} "
            f"{write.item_id} ({write.remote_id}) and to mark it cancelled: delete it by hand "
            "in the calendar, or empty the calendar's trash if the server keeps one",
            403, "deleteRefused", scope=ITEM, give_up_after=item_errors.GIVE_UP_AFTER)

    @staticmethod
    def _put(client: CalDAVClient, url: str, body: Any, etag: str | None, create: bool,
             attempts: int | None) -> str | None:
        """One conditional PUT; its new ETag, or None on 412. A create refused for its UID
        raises UidRefused."""
        headers = {"Content-Type": ICS}
        if create:
            headers["If-None-Match"] = "*"
        elif etag:
            headers["If-Match"] = etag
        what = "writing a copy"
        answer = client.call("PUT", url, body=str(body), headers=headers, what=what,
                             ok=frozenset({412, *(UID_REFUSALS if create else ())}),
                             attempts=attempts)
        if answer.status == 412:
            return None
        if answer.status in UID_REFUSALS:
            if refuses_uid(answer):
                raise UidRefused()
            raise classify(answer.status, client.host, what,
                           preconditions=dav_error.parse_preconditions(answer.body))
        found = dav.normal_etag(answer.headers.get("etag"))
        if found:
            return found
        return dav.resource_etag(client, url, attempts)  # answered without an ETag

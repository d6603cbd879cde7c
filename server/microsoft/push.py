"""Writing our copies to Outlook for the engine (server/sync/writing.py's Writer): `$batch`
requests of at most 20 parts. A create is a POST with our deterministic transactionId (Graph
answers a retried create with the event it made, so a retry never duplicates); an update is a
PATCH with `If-Match` on the etag our last write got back (412: someone changed the copy; we read
its current etag and write ours over it, the booking system being the source of truth; 404: the
copy was deleted, it is created again); a delete of what is gone counts as done. Parts failing
transiently (429 with Retry-After, 424, 5xx) are sent again, alone, in a later `$batch`, at most
`attempts` calls in all."""

from __future__ import annotations

import urllib.parse
from dataclasses import replace
from typing import Any

from server.microsoft import copies
from server.microsoft.graph import TRANSIENT, GraphClient, GraphError, classify
from server.sync.errors import RetryableError, SyncError
from server.sync.writing import Write, WriteResult

BATCH_LIMIT = 20
RETRIED = TRANSIENT | {424}
ATTEMPTS = 3


def _quoted(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _part(number: int, item: Write, etag: str | None = None) -> dict[str, Any]:
    """The $batch part of one write (`etag` overrides the recorded one after a 412)."""
    if item.body is None:
        return {"id": str(number), "method": "DELETE",
                "url": f"/me/events/{_quoted(item.remote_id)}"}
    body = {k: v for k, v in item.body.items() if k != copies.REPEATING}
    if not item.exists or item.copy_deleted:
        return {"id": str(number), "method": "POST",
                "url": f"/me/calendars/{_quoted(item.remote_calendar)}/events",
                "headers": {"Content-Type": "application/json"},
                "body": {**body, "transactionId": item.copy_key}}
    headers = {"Content-Type": "application/json"}
    if etag or item.etag:
        headers["If-Match"] = str(etag or item.etag)
    return {"id": str(number), "method": "PATCH",
            "url": f"/me/events/{_quoted(item.remote_id)}", "headers": headers, "body": body}


def _answer(status: int, body: Any) -> WriteResult:
    payload = body if isinstance(body, dict) else {}
    return WriteResult(etag=payload.get("@odata.etag"), remote_id=payload.get("id"))


class MicrosoftWriter:
    """The writing half of the Microsoft adapter."""

    batch_limit = BATCH_LIMIT

    def copy_body(self, view: Any, *, remote_id: str, item_ref: str, copy_version: int,
                  reminders: bool) -> dict[str, Any]:
        """Our copy as a Graph event (server/microsoft/copies.py)."""
        return copies.event_body(view, item_ref=item_ref, copy_version=copy_version,
                                 reminders=reminders)

    def write_batch(self, client: GraphClient, writes: list[Write], attempts: int | None
                    ) -> dict[tuple[str, int], WriteResult]:
        """Send the writes in $batch requests (see the module's docstring)."""
        assert len(writes) <= BATCH_LIMIT
        results: dict[tuple[str, int], WriteResult] = {}
        pending: dict[int, tuple[Write, str | None]] = {}
        for number, write in enumerate(writes):
            if write.body is not None and write.body.get(copies.REPEATING):
                results[(write.kind, write.item_id)] = WriteResult(error=SyncError(
                    str(write.body[copies.REPEATING]), 400, "repeatingNotSupported"))
            else:
                pending[number] = (write, None)
        calls = 0
        limit = max(1, attempts or ATTEMPTS)
        while pending:
            calls += 1
            parts = [_part(number, write, etag) for number, (write, etag) in pending.items()]
            try:
                _, answer, _ = client.call("POST", "/$batch", body={"requests": parts},
                                           attempts=1)
            except SyncError as exc:  # the whole request failed
                if isinstance(exc, RetryableError) and calls < limit \
                        and (exc.retry_after or 0) <= 60:
                    client.sleep(exc.retry_after or 1.0)
                    continue
                for write, _ in pending.values():
                    results[(write.kind, write.item_id)] = WriteResult(error=exc)
                return results
            again: dict[int, tuple[Write, str | None]] = {}
            wait = 0.0
            for response in (answer or {}).get("responses", []):
                number = int(response["id"])
                write, _ = pending[number]
                status = int(response.get("status", 500))
                body = response.get("body")
                key = (write.kind, write.item_id)
                if status < 300:
                    results[key] = _answer(status, body)
                    continue
                if write.body is None and status in (404, 410):
                    results[key] = WriteResult()  # already gone: done
                    continue
                if write.body is not None and status == 404 and write.exists:
                    # Deleted in Outlook: created again (its transactionId keeps it single).
                    again[number] = (replace(write, copy_deleted=True), None)
                    continue
                if status == 412:
                    again[number] = (write, self._current_etag(client, write))
                    continue
                headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
                try:
                    retry_after = float(headers["retry-after"]) if "retry-after" in headers \
                        else None
                except ValueError:
                    retry_after = None
                error = classify(status, body, retry_after)
                if status in RETRIED and calls < limit:
                    again[number] = (write, None)
                    wait = max(wait, retry_after or 0.0)
                    continue
                if status == 424:
                    error = RetryableError("a Microsoft Graph batch part depended on a failed "
                                           "one", 424, "FailedDependency")
                results[key] = WriteResult(error=error)
            missing = set(pending) - {int(r["id"]) for r in (answer or {}).get("responses", [])}
            for number in missing:
                write, _ = pending[number]
                results[(write.kind, write.item_id)] = WriteResult(error=RetryableError(
                    "Microsoft Graph left a batch part unanswered", 502))
            if again and calls >= limit:
                for write, _ in again.values():
                    results[(write.kind, write.item_id)] = WriteResult(error=RetryableError(
                        "Microsoft Graph kept failing this write", 503))
                break
            if again and wait:
                client.sleep(min(wait, 60.0))
            pending = again
        return results

    @staticmethod
    def _current_etag(client: GraphClient, write: Write) -> str | None:
        """The etag of a copy someone changed (after a 412); None if it cannot be read."""
        try:
            _, event, _ = client.call("GET", f"/me/events/{_quoted(write.remote_id)}",
                                      attempts=1)
        except GraphError:
            return None
        return (event or {}).get("@odata.etag")

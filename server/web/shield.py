"""The outermost WSGI layer: whatever escapes the application becomes our incident-id 500 if no
byte was sent yet, or a cut connection if some were, logged under the incident id only (never
the path, which may hold a feed token). Without it waitress logs "Exception while serving
<path>" with a traceback and answers its own 500, or ends a broken chunked body as if whole."""

from __future__ import annotations

import sys
from typing import Any, Callable, Iterable, Iterator

from server.web.incidents import incident_body, log_incident
from server.web.middleware import WSGIApp


class StreamCut(Exception):
    """A response body failed after its first bytes were sent. Raised to the server so that it
    closes the connection without ending the body: the client sees a broken response, not a
    short one that looks complete. server/logsafety.py turns the server's line about it into
    one naming only the incident."""

    def __init__(self, incident: str) -> None:
        super().__init__(f"response cut short, incident {incident}")
        self.incident = incident


class Shield:
    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        try:
            body = self.app(environ, start_response)
        except Exception as exc:
            return self._incident(start_response, exc, sys.exc_info())
        return self._guarded(body, start_response)

    @staticmethod
    def _incident(start_response: Callable[..., Any], exc: Exception, exc_info: Any
                  ) -> list[bytes]:
        body = incident_body(log_incident(exc))
        # exc_info lets this replace a status the application had set but not yet sent.
        start_response("500 Internal Server Error",
                       [("Content-Type", "application/json"),
                        ("Content-Length", str(len(body)))], exc_info)
        return [body]

    def _guarded(self, body: Iterable[bytes], start_response: Callable[..., Any]
                 ) -> Iterator[bytes]:
        sent = False
        try:
            iterator = iter(body)
            while True:
                try:
                    chunk = next(iterator)
                except StopIteration:
                    return
                except Exception as exc:
                    if not sent:
                        yield from self._incident(start_response, exc, sys.exc_info())
                        return
                    raise StreamCut(log_incident(exc)) from None
                sent = sent or bool(chunk)
                yield chunk
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:  # the answer is complete; only the log hears of it
                    log_incident(exc)

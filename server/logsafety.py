"""Keeps secrets out of every log line of the process, whoever writes it (our modules, waitress,
SQLAlchemy, Radicale): link tokens (bcl_...), feed paths (/feeds/<token>.ics), HTTP
credentials, and the request path that waitress puts in its "... while serving <path>" lines.
A log-record factory, so it applies to every logger and every handler; installed once per
process by create_app()."""

from __future__ import annotations

import logging
import re
from typing import Any, Callable

from server.web.shield import StreamCut

TOKEN = re.compile(r"bcl_[A-Za-z0-9_\-]+")
# A feed path, but not the route template "/feeds/<token>.ics" of the access log.
FEED_PATH = re.compile(r"/feeds/(?!<token>)[^\s'\"<>]+")
CREDENTIALS = re.compile(r"(?i)\b(basic|bearer|digest)\s+[A-Za-z0-9+/=._~\-]{8,}")
SERVING = re.compile(r" while serving .*", re.DOTALL)
REDACTED = "<redacted>"
_formatter = logging.Formatter()


def redact(text: str) -> str:
    """`text` without tokens, feed paths and credentials."""
    text = FEED_PATH.sub("/feeds/" + REDACTED, text)
    text = TOKEN.sub("bcl_" + REDACTED, text)
    return CREDENTIALS.sub(lambda match: f"{match.group(1)} {REDACTED}", text)


def _make_safe(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: keep nothing of its arguments
        message, record.args = str(record.msg), ()
    safe = redact(message)
    if record.name.startswith("waitress"):
        # waitress names the request path (a feed's holds its token): say only what happened.
        safe = SERVING.sub(" while serving a request", safe)
        cut = record.exc_info[1] if record.exc_info else None
        if isinstance(cut, StreamCut):
            # Already logged by the shield under its incident id, with the cause.
            safe = f"response cut short after its first bytes, connection closed ({cut})"
            record.exc_info, record.exc_text = None, None
    if safe != message:
        record.msg, record.args = safe, ()
    if record.exc_info and record.exc_info[1] is not None:
        text = _formatter.formatException(record.exc_info)
        cleaned = redact(text)
        if cleaned != text:
            record.exc_text = cleaned


def install() -> None:
    """Wrap the log-record factory (once per process)."""
    previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
    if getattr(previous, "bookingcal_safe", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _make_safe(record)
        return record

    factory.bookingcal_safe = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)

"""The wire format of ``POST /batch/calendar/v3``: multipart/mixed of application/http parts."""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import re
import secrets
from dataclasses import dataclass

from .google_errors import ApiError
from .google_wire import REASONS, Request, Response

MAX_PARTS = 50
# Outer headers that do not apply to the parts (Google: "except for the Content- headers").
_NOT_INHERITED = ("content-", "host", "transfer-encoding", "connection", "expect")


@dataclass(frozen=True)
class BatchPart:
    content_id: str | None
    request: Request


@dataclass(frozen=True)
class BatchRecord:
    """One batch as the fake saw it: parts in request order, and the order it ran them in."""

    index: int
    content_ids: list[str]
    executed: list[str]
    statuses: dict[str, int]


def parse_batch(outer: Request, index: int) -> list[BatchPart]:
    """The parts of a batch request; ``index`` is stored in each part's ``Request.batch``."""
    content_type = outer.header("content-type") or ""
    if not content_type.lower().startswith("multipart/mixed") or "boundary=" not in content_type.lower():
        raise ApiError(400, "badRequest", "Bad Request: the batch request must be multipart/mixed.")
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(head + outer.body)
    payload = message.get_payload()
    if not message.is_multipart() or not isinstance(payload, list) or not payload:
        raise ApiError(400, "badRequest", "Bad Request: the batch request has no parts.")
    if len(payload) > MAX_PARTS:
        raise ApiError(400, "badRequest", f"Too many requests in batch; the maximum is {MAX_PARTS}.")
    inherited = {k: v for k, v in outer.headers.items() if not k.startswith(_NOT_INHERITED)}
    parts = []
    for part in payload:
        if not isinstance(part, email.message.Message):
            raise ApiError(400, "badRequest", "Bad Request: malformed batch part.")
        if part.get_content_type() != "application/http":
            raise ApiError(400, "badRequest", "Bad Request: each batch part must be application/http.")
        text = part.get_payload(decode=False)
        if not isinstance(text, str):
            raise ApiError(400, "badRequest", "Bad Request: malformed batch part.")
        parts.append(BatchPart(part.get("Content-ID"), _inner_request(text, inherited, index)))
    return parts


def _inner_request(text: str, inherited: dict[str, str], index: int) -> Request:
    split = re.search(r"\r?\n\r?\n", text)
    head, body = (text[: split.start()], text[split.end():]) if split else (text, "")
    lines = re.split(r"\r?\n", head.strip("\r\n"))
    request_line = lines[0].split()
    if len(request_line) < 2:
        raise ApiError(400, "badRequest", "Bad Request: malformed request line in a batch part.")
    headers = dict(inherited)
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    raw = body.encode("utf-8")
    if "content-length" in headers and headers["content-length"].isdigit():
        raw = raw[: int(headers["content-length"])]
    path, query = Request.parse_target(request_line[1])
    return Request(request_line[0].upper(), path, query, headers, raw, batch=index)


def format_batch(answers: list[tuple[str | None, Response]]) -> Response:
    boundary = "batch_" + secrets.token_urlsafe(18).replace("-", "a").replace("_", "b")
    chunks = []
    for number, (content_id, response) in enumerate(answers, 1):
        inner_id = (content_id or f"<{number}>").strip().removeprefix("<").removesuffix(">")
        headers = {**response.headers, "Content-Length": str(len(response.body))}
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        chunks.append(
            f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <response-{inner_id}>\r\n\r\n"
            f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Unknown')}\r\n{head}\r\n"
            + response.body.decode("utf-8")
            + "\r\n"
        )
    chunks.append(f"--{boundary}--\r\n")
    return Response(200, "".join(chunks).encode("utf-8"),
                    {"Content-Type": f"multipart/mixed; boundary={boundary}"})

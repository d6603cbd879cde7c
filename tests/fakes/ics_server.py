"""A real HTTP server on loopback serving ICS files that change, as a calendar publisher does:
ETag and Last-Modified with conditional GET (304), gzip when asked, and the failures a
subscribed feed meets: 500, a server that never answers, an endless body, redirects (to any
address, private ones included). Each request is recorded (path, conditional headers)."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any


@dataclass
class Served:
    """What one path answers: a body (ETag from its digest) or a behaviour."""

    body: bytes = b""
    mode: str = "ok"  # ok, error, hang, huge, redirect, no-validators
    location: str = ""
    modified: float = field(default_factory=time.time)


class IcsServer:
    """`with IcsServer() as server:` ... `server.put("/a.ics", text)`; `server.url("/a.ics")`."""

    def __init__(self, tls: bool = False) -> None:
        self.paths: dict[str, Served] = {}
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.release = threading.Event()  # ends every hanging answer
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                outer.handle(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.scheme = "http"
        if tls:  # the fake Microsoft's self-signed certificate for 127.0.0.1
            from fakes.microsoft_tls import server_context
            self.httpd.socket = server_context().wrap_socket(self.httpd.socket,
                                                             server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> IcsServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def put(self, path: str, text: str, mode: str = "ok") -> None:
        with self.lock:
            self.paths[path] = Served(text.encode(), mode, modified=time.time())

    def set_mode(self, path: str, mode: str, location: str = "") -> None:
        with self.lock:
            served = self.paths.setdefault(path, Served())
            served.mode, served.location = mode, location

    def hits(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [request for request in self.requests if request["path"] == path]

    def handle(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?")[0]
        with self.lock:
            served = self.paths.get(path)
            self.requests.append({"path": path,
                                  "if_none_match": handler.headers.get("If-None-Match"),
                                  "if_modified_since": handler.headers.get("If-Modified-Since"),
                                  "accept_encoding": handler.headers.get("Accept-Encoding"),
                                  "status": None})
            record = self.requests[-1]
        if served is None:
            return self.answer(handler, record, 404, b"not found")
        if served.mode == "error":
            return self.answer(handler, record, 500, b"oops")
        if served.mode == "hang":
            record["status"] = "hang"
            self.release.wait(30)
            return
        if served.mode == "redirect":
            return self.answer(handler, record, 302, b"", {"Location": served.location})
        if served.mode == "huge":
            record["status"] = 200
            handler.send_response(200)
            handler.send_header("Content-Type", "text/calendar")
            handler.end_headers()
            chunk = b"BEGIN:VCALENDAR\r\n" + b"X-PAD:" + b"x" * 65000 + b"\r\n"
            try:
                for _ in range(10000):  # 650 MB if nobody stops reading
                    handler.wfile.write(chunk)
            except OSError:
                pass
            handler.close_connection = True
            return
        etag = '"' + hashlib.sha256(served.body).hexdigest()[:16] + '"'
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        if served.mode != "no-validators":
            headers["ETag"] = etag
            headers["Last-Modified"] = formatdate(served.modified, usegmt=True)
            if handler.headers.get("If-None-Match") == etag:
                return self.answer(handler, record, 304, b"", headers)
        body = served.body
        if "gzip" in (handler.headers.get("Accept-Encoding") or ""):
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        self.answer(handler, record, 200, body, headers)

    @staticmethod
    def answer(handler: http.server.BaseHTTPRequestHandler, record: dict[str, Any],
               status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        record["status"] = status
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if status != 304:
            handler.wfile.write(body)

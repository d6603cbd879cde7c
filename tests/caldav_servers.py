"""Real CalDAV servers for the tests, started on free loopback ports: stock Radicale (an account
in an htpasswd file) and Xandikos (single user, as it comes, on loopback), each with one
calendar; and a thin proxy in front of either that alters exactly one behaviour of a real
server (refusing sync-collection like a server without it, answering PUTs without an ETag,
holding requests unanswered, failing requests of one method, refusing old sync tokens,
refusing a deleted UID as Nextcloud does, refusing to delete or write one resource)."""

from __future__ import annotations

import http.client
import http.server
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from caldav.davclient import DAVClient

USER = "anna@example.com"
PASSWORD = "app-specific-secret"


@dataclass
class Server:
    """A running CalDAV server: its root, the account and the calendar's URL."""

    kind: str
    url: str
    user: str
    password: str
    calendar_url: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def dav(self) -> DAVClient:
        """A python-caldav client of the account (as a phone would be)."""
        return DAVClient(url=self.url, username=self.user, password=self.password,
                         enable_rfc6764=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited at start ({process.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start listening")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextmanager
def radicale(folder: Path, rights_file: str | None = None) -> Iterator[Server]:
    """Stock Radicale with one account (htpasswd, plain) and a calendar "work". Its rights are
    owner_only, or with `rights_file` (the text of a Radicale rights file) from_file:
    bench/litmus_run.py grants the account "W" below its home that way, so that it can make
    plain WebDAV collections as litmus needs."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "users").write_text(f"{USER}:{PASSWORD}\n", encoding="utf-8")
    port = free_port()
    rights = "type = owner_only"
    if rights_file is not None:
        (folder / "rights").write_text(rights_file, encoding="utf-8")
        rights = f"type = from_file\nfile = {folder / 'rights'}"
    (folder / "config").write_text(
        f"[server]\nhosts = 127.0.0.1:{port}\n"
        f"[auth]\ntype = htpasswd\nhtpasswd_filename = {folder / 'users'}\n"
        "htpasswd_encryption = plain\n"
        # No pause after a request without (or with wrong) credentials: every client's first
        # request is one (it learns the scheme from the 401), a second each time otherwise.
        "delay = 0\n"
        f"[rights]\n{rights}\n"
        f"[storage]\nfilesystem_folder = {folder / 'collections'}\n"
        # Radicale ages its sync tokens by their files' modification times, which the kernel
        # sets on the real clock, against its own clock, which libfaketime shifts in CI's
        # second pass: tokens would look 40 days old at once. Ten years: none expires by age.
        "max_sync_token_age = 315360000\n"
        "[logging]\nlevel = warning\nmask_passwords = true\n", encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "radicale", "--config",
                                str(folder / "config")], stdout=subprocess.DEVNULL,
                               stderr=open(folder / "log", "wb"))
    try:
        _wait(port, process, "Radicale")
        url = f"http://127.0.0.1:{port}/"
        client = DAVClient(url=url, username=USER, password=PASSWORD, enable_rfc6764=False)
        calendar = client.principal().make_calendar(name="Work", cal_id="work")
        yield Server("radicale", url, USER, PASSWORD, str(calendar.url), process)
    finally:
        _stop(process)


@contextmanager
def xandikos(folder: Path) -> Iterator[Server]:
    """Xandikos as it comes (no authentication of its own: loopback only), its default
    calendar at /user/calendars/calendar/."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "xandikos.web", "-d", str(folder / "data"), "--defaults",
         "-l", "127.0.0.1", "-p", str(port), "--no-detect-systemd",
         "--state-dir", str(folder / "state")],
        stdout=subprocess.DEVNULL, stderr=open(folder / "log", "wb"))
    try:
        _wait(port, process, "Xandikos")
        url = f"http://127.0.0.1:{port}/"
        yield Server("xandikos", url, USER, PASSWORD, url + "user/calendars/calendar/",
                     process)
    finally:
        _stop(process)


SERVERS = {"radicale": radicale, "xandikos": xandikos}


@dataclass
class Fault:
    """The next `times` requests of `method` are answered `status` (with Retry-After when
    given); `lost`: each is relayed to the server first and its answer replaced (the write was
    done, the client never heard of it)."""

    method: str
    status: int
    times: int
    lost: bool = False
    retry_after: int | None = None


SYNC_TOKEN = re.compile(rb"<(?:\w+:)?sync-token>\s*([^<\s]+)")
UID = re.compile(rb"^UID:(.*?)\r?$", re.MULTILINE)
# What Nextcloud answers a create whose UID was deleted (its trash bin keeps it), status 400.
NEXTCLOUD_DELETED_UID = (
    b'<?xml version="1.0" encoding="utf-8"?>\n<d:error xmlns:d="DAV:" '
    b'xmlns:s="http://sabredav.org/ns">\n'
    b"  <s:exception>Sabre\\DAV\\Exception\\BadRequest</s:exception>\n"
    b"  <s:message>Deleted calendar object with uid already exists in this calendar "
    b"collection.</s:message>\n</d:error>\n")


@dataclass
class Quirks:
    """What the proxy alters; the counts say how often it did."""

    refuse_sync_collection: bool = False
    drop_put_etag: bool = False
    forbid_writes: bool = False  # a read-only calendar: PUT and DELETE answered 403
    # Resource names whose DELETE is answered 403 (Nextcloud refusing to move one to its
    # trash bin), and those whose PUT and DELETE both are (a resource the server locked).
    refuse_delete_of: set[str] = field(default_factory=set)
    forbid_resources: set[str] = field(default_factory=set)
    # A bodiless MKCOL of a path ending so is sent on as MKCALENDAR (bench/litmus_run.py: its
    # collection becomes a calendar, so that litmus's steps run inside one).
    mkcol_as_mkcalendar: str | None = None
    mkcols_rewritten: int = 0
    # Answer every request with a 301 to this address plus the path (a server pointing its
    # client somewhere else: the SSRF guard must refuse private and metadata targets).
    redirect_to: str | None = None
    refused: int = 0
    puts_without_etag: int = 0
    requests: list[str] = field(default_factory=list)  # "METHOD path"
    answered: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, status)
    # Hold every PUT after this many were relayed, unanswered, until `release` is set (a
    # bridge process killed mid-batch).
    hold_puts_after: int | None = None
    # Hold every request, unanswered, until `release` is set (a server that stopped answering).
    hold_all: bool = False
    puts: int = 0
    faults: list[Fault] = field(default_factory=list)
    faulted: int = 0
    # The next this many sync-collection REPORTs carrying a token are answered 403
    # valid-sync-token (a server that forgot the token: a full read must follow).
    refuse_sync_tokens: int = 0
    tokens_refused: int = 0
    # Nextcloud: the UID of a deleted resource is never taken again; a create carrying one is
    # answered 400 (NEXTCLOUD_DELETED_UID). `deleted_uids` are those seen deleted.
    refuse_deleted_uids: bool = False
    deleted_uids: set[str] = field(default_factory=set)
    uids_refused: int = 0
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def hold(self, after: int) -> None:
        self.puts, self.hold_puts_after = 0, after
        self.reached.clear()
        self.release.clear()

    def hold_everything(self) -> None:
        self.hold_all = True
        self.reached.clear()
        self.release.clear()

    def fail(self, method: str, status: int, times: int = 1, *, lost: bool = False,
             retry_after: int | None = None) -> None:
        self.faults.append(Fault(method, status, times, lost, retry_after))

    def clear_faults(self) -> None:
        self.faults.clear()
        self.refuse_sync_tokens = 0

    def take_fault(self, method: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and fault.times > 0:
                fault.times -= 1
                self.faulted += 1
                return fault
        return None

    def release_holds(self) -> None:
        self.hold_puts_after, self.hold_all = None, False
        self.release.set()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    target: tuple[str, int]
    quirks: Quirks

    def log_message(self, format: str, *args: object) -> None:
        return

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _forward(self, method: str, body: bytes) -> tuple[http.client.HTTPResponse, bytes]:
        connection = http.client.HTTPConnection(*self.target, timeout=30)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "connection", "content-length")}
        connection.request(method, self.path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response, data

    def _forward_get(self) -> tuple[str, bool]:
        """The UID of the resource at the request's path (before it is deleted), and whether
        it was found."""
        connection = http.client.HTTPConnection(*self.target, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() == "authorization"}
        connection.request("GET", self.path, headers=headers)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        match = UID.search(data) if response.status == 200 else None
        return (match.group(1).decode().strip(), True) if match is not None else ("", False)

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.quirks.requests.append(f"{self.command} {self.path}")
        if self.quirks.redirect_to is not None:
            self.send_response(301)
            self.send_header("Location", self.quirks.redirect_to.rstrip("/") + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.quirks.hold_all:
            self.quirks.reached.set()
            self.quirks.release.wait(60)
            self.close_connection = True
            return
        if self.command == "REPORT" and b"sync-collection" in body \
                and self.quirks.refuse_sync_collection:
            self.quirks.refused += 1
            answer = (b'<?xml version="1.0"?><D:error xmlns:D="DAV:">'
                      b"<D:supported-report/></D:error>")
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            return
        if self.command == "REPORT" and self.quirks.refuse_sync_tokens > 0 \
                and b"sync-collection" in body and SYNC_TOKEN.search(body):
            self.quirks.refuse_sync_tokens -= 1
            self.quirks.tokens_refused += 1
            self._answer(403, b'<?xml version="1.0"?><D:error xmlns:D="DAV:">'
                              b"<D:valid-sync-token/></D:error>")
            return
        uid = None
        if self.quirks.refuse_deleted_uids and self.command == "DELETE":
            found, text = self._forward_get()
            uid = found if text else None
        if self.quirks.refuse_deleted_uids and self.command == "PUT" \
                and "If-Match" not in self.headers:  # a create (an If-Match fails first)
            match = UID.search(body)
            if match is not None and match.group(1).decode().strip() in self.quirks.deleted_uids:
                self.quirks.uids_refused += 1
                self.quirks.answered.append((self.command, self.path, 400))
                self._answer(400, NEXTCLOUD_DELETED_UID)
                return
        fault = self.quirks.take_fault(self.command)
        if fault is not None:
            if fault.lost:
                self._forward(self.command, body)
            extra = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            self._answer(fault.status, b"", extra)
            return
        if self.command == "PUT" and self.quirks.hold_puts_after is not None:
            if self.quirks.puts >= self.quirks.hold_puts_after:
                self.quirks.reached.set()
                self.quirks.release.wait(60)
                self.close_connection = True
                return
            self.quirks.puts += 1
        name = self.path.rstrip("/").rpartition("/")[2]
        if (self.command in ("PUT", "DELETE") and (self.quirks.forbid_writes or name in
                                                   self.quirks.forbid_resources)) or (
                self.command == "DELETE" and name in self.quirks.refuse_delete_of):
            self.quirks.answered.append((self.command, self.path, 403))
            answer = (b'<?xml version="1.0"?><D:error xmlns:D="DAV:">'
                      b"<D:need-privileges/></D:error>")
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            return
        method = self.command
        if method == "MKCOL" and not body and self.quirks.mkcol_as_mkcalendar is not None \
                and self.path.rstrip("/").endswith(self.quirks.mkcol_as_mkcalendar):
            method = "MKCALENDAR"
            self.quirks.mkcols_rewritten += 1
        response, data = self._forward(method, body)
        self.quirks.answered.append((self.command, self.path, response.status))
        if uid is not None and response.status < 300:
            self.quirks.deleted_uids.add(uid)
        self.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            lower = name.lower()
            if lower in ("transfer-encoding", "connection", "content-length", "server",
                         "date"):
                continue
            if lower == "etag" and self.command == "PUT" and self.quirks.drop_put_etag:
                self.quirks.puts_without_etag += 1
                continue
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_DELETE = do_PROPFIND = do_REPORT = do_OPTIONS = _relay
    do_MKCALENDAR = do_PROPPATCH = do_HEAD = do_POST = _relay
    do_MKCOL = do_COPY = do_MOVE = do_LOCK = do_UNLOCK = _relay


@contextmanager
def proxy(server: Server, quirks: Quirks) -> Iterator[Server]:
    """`server` as seen through a proxy altering `quirks`: the same account and calendar."""
    host, _, port = server.url.removeprefix("http://").rstrip("/").partition(":")
    handler = type("Handler", (_Handler,), {"target": (host, int(port)), "quirks": quirks})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    front = f"http://127.0.0.1:{httpd.server_address[1]}/"
    try:
        yield Server(server.kind, front, server.user, server.password,
                     server.calendar_url.replace(server.url, front, 1))
    finally:
        httpd.shutdown()
        httpd.server_close()

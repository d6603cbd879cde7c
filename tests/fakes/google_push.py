"""Push notification channels (events.watch / channels.stop) and their delivery to loopback.

Notifications are POSTed by one worker thread, never while a store lock is held, so a
listener may call the fake back.  ``mode`` decides what happens to a notification:
``"deliver"`` (default), ``"hold"`` (kept until :meth:`PushHub.release_held`) or ``"drop"``
(lost, as Google may lose them).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import http.client
import queue
import re
import secrets
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any, Literal

from .google_errors import ApiError, bad_request, required
from .google_time import FakeClock

DEFAULT_TTL = dt.timedelta(days=7)
MAX_TTL = dt.timedelta(days=30)
_CHANNEL_ID = re.compile(r"^[A-Za-z0-9\-_+/=]{1,64}$")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
PushMode = Literal["deliver", "hold", "drop"]


@dataclass
class Channel:
    id: str
    resource_id: str
    calendar_id: str
    address: str
    token: str | None
    expiration: dt.datetime
    resource_uri: str
    message_number: int = 0
    stopped: bool = False


@dataclass(frozen=True)
class Notification:
    channel_id: str
    address: str
    headers: dict[str, str]

    @property
    def state(self) -> str:
        return self.headers["X-Goog-Resource-State"]

    @property
    def message_number(self) -> int:
        return int(self.headers["X-Goog-Message-Number"])


@dataclass(frozen=True)
class Delivery:
    notification: Notification
    status: int | None  # HTTP status the listener answered; None when it failed or was dropped
    error: str | None


class PushHub:
    def __init__(self, clock: FakeClock, *, timeout: float = 5.0) -> None:
        self.clock = clock
        self.timeout = timeout
        self.mode: PushMode = "deliver"
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._channels: dict[str, Channel] = {}
        self._held: list[Notification] = []
        self._deliveries: list[Delivery] = []
        self._pending = 0
        self._queue: queue.Queue[Notification | None] = queue.Queue()
        self._worker: threading.Thread | None = None

    # ----------------------------------------------------------- lifecycle

    def start(self) -> None:
        self._worker = threading.Thread(target=self._run, name="fake-google-push", daemon=True)
        self._worker.start()

    def close(self) -> None:
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout=self.timeout + 1)
            self._worker = None

    # ------------------------------------------------------------------ API

    def watch(self, calendar_id: str, body: Any, resource_uri: str) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "parseError", "Parse Error")
        channel_id, kind, address = body.get("id"), body.get("type"), body.get("address")
        if not channel_id:
            raise required("Required channel id")
        if not isinstance(channel_id, str) or not _CHANNEL_ID.match(channel_id):
            raise bad_request(f"Invalid channel id: {channel_id}", "push.channelIdInvalid")
        if not kind:
            raise required("Required channel type")
        if kind not in ("web_hook", "webhook"):
            raise bad_request(f"Unknown channel type: {kind}", "push.channelTypeInvalid")
        if not address:
            raise required("Required address")
        parts = urllib.parse.urlsplit(str(address))
        if parts.scheme not in ("http", "https") or (parts.hostname or "") not in _LOOPBACK:
            if parts.scheme != "https":
                raise bad_request(f"WebHook callback must be HTTPS: {address}", "push.webhookUrlNotHttps")
            raise ApiError(401, "push.webhookUrlUnauthorized", f"Unauthorized WebHook callback channel: {address}")
        token = body.get("token")
        if token is not None and (not isinstance(token, str) or len(token) > 256):
            raise bad_request("Invalid channel token", "push.channelTokenInvalid")
        expiration = self._expiration(body)
        with self._lock:
            if channel_id in self._channels and not self._channels[channel_id].stopped:
                raise bad_request(f"Channel id {channel_id} not unique", "channelIdNotUnique")
            channel = Channel(channel_id, secrets.token_urlsafe(20), calendar_id, str(address), token,
                              expiration, resource_uri)
            self._channels[channel_id] = channel
            self._emit(channel, "sync")
        resource = {"kind": "api#channel", "id": channel.id, "resourceId": channel.resource_id,
                    "resourceUri": resource_uri, "expiration": str(int(expiration.timestamp() * 1000))}
        if token is not None:
            resource["token"] = token
        return resource

    def _expiration(self, body: dict[str, Any]) -> dt.datetime:
        now = self.clock.now()
        ttl = DEFAULT_TTL
        params = body.get("params") or {}
        if isinstance(params, dict) and params.get("ttl") is not None:
            try:
                ttl = dt.timedelta(seconds=int(params["ttl"]))
            except (TypeError, ValueError):
                raise bad_request("Invalid ttl parameter", "push.invalidTtl") from None
        expiration = now + min(ttl, MAX_TTL)
        if body.get("expiration") is not None:
            try:
                wanted = dt.datetime.fromtimestamp(int(body["expiration"]) / 1000, dt.UTC)
            except (TypeError, ValueError, OverflowError):
                raise bad_request("Invalid expiration", "push.invalidExpiration") from None
            expiration = min(max(wanted, now), now + MAX_TTL)
        return expiration

    def stop(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise ApiError(400, "parseError", "Parse Error")
        if not body.get("id"):
            raise required("Required channel id")
        if not body.get("resourceId"):
            raise required("Required resourceId")
        with self._lock:
            channel = self._channels.get(body["id"])
            if channel is None or channel.stopped or channel.resource_id != body["resourceId"]:
                raise ApiError(404, "notFound", f"Channel '{body['id']}' not found for project '000000000000'")
            channel.stopped = True

    # -------------------------------------------------------------- changes

    def changed(self, calendar_id: str) -> None:
        """An event of ``calendar_id`` changed: every live channel on it gets ``exists``."""
        with self._lock:
            now = self.clock.now()
            for channel in self._channels.values():
                if channel.calendar_id == calendar_id and not channel.stopped and channel.expiration > now:
                    self._emit(channel, "exists")

    def _emit(self, channel: Channel, state: str) -> None:
        channel.message_number += 1
        headers = {
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Channel-Expiration": email.utils.format_datetime(channel.expiration, usegmt=True),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-URI": channel.resource_uri,
            "X-Goog-Resource-State": state,
            "X-Goog-Message-Number": str(channel.message_number),
        }
        if channel.token is not None:
            headers["X-Goog-Channel-Token"] = channel.token
        notification = Notification(channel.id, channel.address, headers)
        if self.mode == "hold":
            self._held.append(notification)
        elif self.mode == "drop":
            self._deliveries.append(Delivery(notification, None, "dropped"))
        else:
            self._pending += 1
            self._queue.put(notification)

    def release_held(self) -> None:
        with self._lock:
            held, self._held = self._held, []
            self._pending += len(held)
        for notification in held:
            self._queue.put(notification)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every queued notification was delivered (or failed)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def channels(self) -> list[Channel]:
        with self._lock:
            return list(self._channels.values())

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    # --------------------------------------------------------------- worker

    def _run(self) -> None:
        while True:
            notification = self._queue.get()
            if notification is None:
                return
            status, error = self._post(notification)
            with self._idle:
                self._deliveries.append(Delivery(notification, status, error))
                self._pending -= 1
                self._idle.notify_all()

    def _post(self, notification: Notification) -> tuple[int | None, str | None]:
        parts = urllib.parse.urlsplit(notification.address)
        connection_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection = connection_type(parts.hostname or "127.0.0.1", parts.port, timeout=self.timeout)
            try:
                connection.request("POST", target, body=b"", headers={
                    **notification.headers, "Content-Length": "0", "User-Agent": "APIs-Google"})
                response = connection.getresponse()
                response.read()
                return response.status, None
            finally:
                connection.close()
        except (OSError, http.client.HTTPException) as exc:
            return None, f"{type(exc).__name__}: {exc}"

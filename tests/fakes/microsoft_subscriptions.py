"""Change notifications of the fake Graph: subscriptions on `me/calendars/{id}/events` with
the validation handshake (Graph POSTs `?validationToken=` to the notification URL and wants
the token echoed as text/plain, 200, within 10 s), at most 4230 minutes of life, renewal
(PATCH), deletion, and deliveries the tests trigger: change notifications carrying the
subscription's clientState, and lifecycle notifications (reauthorizationRequired,
subscriptionRemoved, missed) to the lifecycle URL."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable

import requests

from .microsoft_errors import GraphError

MAX_LIFE = dt.timedelta(minutes=4230)
VALIDATION_TIMEOUT = 10.0
NOTIFY_TIMEOUT = 3.0
UTC = dt.timezone.utc


@dataclass
class Subscription:
    id: str
    resource: str
    calendar: str
    notification_url: str
    lifecycle_url: str | None
    client_state: str
    expires: dt.datetime

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "resource": self.resource, "changeType": "created,updated,deleted",
                "notificationUrl": self.notification_url,
                "lifecycleNotificationUrl": self.lifecycle_url,
                "expirationDateTime": self.expires.isoformat().replace("+00:00", "Z")}


@dataclass
class Subscriptions:
    now: Callable[[], dt.datetime]
    verify: str | bool = True
    items: dict[str, Subscription] = field(default_factory=dict)
    answers: list[tuple[str, int]] = field(default_factory=list)  # (url kind, status)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _expiry(self, value: Any) -> dt.datetime:
        try:
            when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise GraphError(400, "InvalidRequest", "expirationDateTime is invalid") from None
        if when.tzinfo is None or when <= self.now() or when - self.now() > MAX_LIFE:
            raise GraphError(400, "InvalidRequest", "Subscription expiration can only be "
                             "4230 minutes in the future and not in the past")
        return when

    def _validate(self, url: str) -> None:
        if not url.startswith(("https://", "http://127.0.0.1")):
            raise GraphError(400, "InvalidRequest", "notificationUrl must be https")
        token = "Validation: Testing client application " + secrets.token_urlsafe(12)
        try:
            answer = requests.post(url, params={"validationToken": token}, timeout=VALIDATION_TIMEOUT,
                                   headers={"Content-Type": "text/plain; charset=utf-8"},
                                   verify=self.verify)
        except requests.RequestException:
            raise GraphError(400, "InvalidRequest", "Subscription validation request failed. "
                             "Notification endpoint must respond with 200 OK to validation "
                             "request.") from None
        with self.lock:
            self.answers.append(("validation", answer.status_code))
        if answer.status_code != 200 or answer.text != token \
                or not answer.headers.get("Content-Type", "").startswith("text/plain"):
            raise GraphError(400, "InvalidRequest", "Subscription validation request failed. "
                             "Response must exactly match validationToken query parameter.")

    def create(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise GraphError(400, "InvalidRequest", "body expected")
        resource = str(body.get("resource", ""))
        parts = resource.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "me" or parts[1] != "calendars" \
                or parts[3] != "events":
            raise GraphError(400, "InvalidRequest", "unsupported resource")
        state = body.get("clientState")
        if not isinstance(state, str) or not 1 <= len(state) <= 128:
            raise GraphError(400, "InvalidRequest", "clientState: 1 to 128 characters")
        if body.get("changeType") != "created,updated,deleted":
            raise GraphError(400, "InvalidRequest", "changeType")
        expires = self._expiry(body.get("expirationDateTime"))
        url = str(body.get("notificationUrl", ""))
        lifecycle = body.get("lifecycleNotificationUrl")
        self._validate(url)
        if lifecycle:
            self._validate(str(lifecycle))
        subscription = Subscription(secrets.token_hex(16), resource,
                                    urllib.parse.unquote(parts[2]), url,
                                    str(lifecycle) if lifecycle else None, state, expires)
        with self.lock:
            self.items[subscription.id] = subscription
        return subscription.view()

    def renew(self, subscription_id: str, body: Any) -> dict[str, Any]:
        with self.lock:
            found = self.items.get(subscription_id)
        if found is None:
            raise GraphError(404, "ResourceNotFound", "subscription not found")
        if not isinstance(body, dict) or set(body) != {"expirationDateTime"}:
            raise GraphError(400, "InvalidRequest", "only expirationDateTime may change")
        found.expires = self._expiry(body["expirationDateTime"])
        return found.view()

    def delete(self, subscription_id: str) -> None:
        with self.lock:
            if self.items.pop(subscription_id, None) is None:
                raise GraphError(404, "ResourceNotFound", "subscription not found")

    def notify(self, calendar: str, event_id: str, change: str = "updated") -> int:
        """Deliver one change of `calendar` to its live subscriptions; how many answered 202."""
        done = 0
        for sub in self._live(calendar):
            body = {"value": [{
                "subscriptionId": sub.id, "clientState": sub.client_state,
                "changeType": change, "resource": f"Users/x/Events/{event_id}",
                "subscriptionExpirationDateTime": sub.view()["expirationDateTime"],
                "tenantId": "9188040d-6c67-4c5b-b112-36a304b66dad",
                "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "id": event_id}}]}
            done += self._post("notification", sub.notification_url, body)
        return done

    def lifecycle(self, subscription_id: str, event: str,
                  client_state: str | None = None) -> int:
        with self.lock:
            sub = self.items.get(subscription_id)
        if sub is None or sub.lifecycle_url is None:
            return 0
        if event == "subscriptionRemoved":
            with self.lock:
                self.items.pop(subscription_id, None)
        body = {"value": [{"subscriptionId": sub.id, "lifecycleEvent": event,
                           "clientState": client_state or sub.client_state,
                           "subscriptionExpirationDateTime": sub.view()["expirationDateTime"],
                           "tenantId": "9188040d-6c67-4c5b-b112-36a304b66dad"}]}
        return self._post("lifecycle", sub.lifecycle_url, body)

    def _live(self, calendar: str) -> list[Subscription]:
        with self.lock:
            return [s for s in self.items.values()
                    if s.calendar == calendar and s.expires > self.now()]

    def _post(self, kind: str, url: str, body: dict[str, Any]) -> int:
        try:
            answer = requests.post(url, json=body, timeout=NOTIFY_TIMEOUT, verify=self.verify)
        except requests.RequestException:
            with self.lock:
                self.answers.append((kind, 0))
            return 0
        with self.lock:
            self.answers.append((kind, answer.status_code))
        return 1 if answer.status_code == 202 else 0

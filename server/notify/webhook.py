"""The booking system's webhook: each sync health event is kept as a delivery (its JSON body),
POSTed with header `X-Bookingcal-Signature: sha256=<hex HMAC-SHA256 of the body under
webhook.secret>`, and retried with exponential backoff (30 s, 1 min, 2 min, ... at most 1 h)
until a 2xx answer or webhook.max_attempts attempts. Every attempt is recorded
(webhook_attempts): when, the HTTP status or the error."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.config import WebhookConfig
from server.db import Database
from server.db.models import WebhookAttempt, WebhookDelivery
from server.db.scope import get_of

log = logging.getLogger(__name__)
SIGNATURE = "X-Bookingcal-Signature"
FIRST_WAIT = dt.timedelta(seconds=30)
MAX_WAIT = dt.timedelta(hours=1)
BATCH = 50  # deliveries tried per pass at most
# (url, body, headers, timeout) -> HTTP status; raises OSError/requests errors
Post = Callable[[str, bytes, dict[str, str], float], int]


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for `body`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def backoff(attempts: int) -> dt.timedelta:
    """The wait after the `attempts`-th failed attempt."""
    return min(MAX_WAIT, FIRST_WAIT * (2 ** max(0, attempts - 1)))


def queue(session: Session, business_id: int, event: str, payload: dict[str, Any],
          now: dt.datetime) -> WebhookDelivery:
    """Keep one event for delivery (in the caller's transaction)."""
    body = json.dumps({"event": event, "business_id": business_id, "at": now.isoformat(),
                       **payload}, sort_keys=True)
    delivery = WebhookDelivery(business_id=business_id, event=event, body=body, created_at=now,
                               attempts=0, next_attempt_at=now)
    session.add(delivery)
    return delivery


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    response = requests.post(url, data=body, headers=headers, timeout=timeout,
                             allow_redirects=False)
    return response.status_code


def deliver_due(db: Database, config: WebhookConfig, now: dt.datetime,
                post: Post | None = None) -> int:
    """Try every delivery that is due (at most BATCH); how many were delivered."""
    if not config.configured:
        return 0
    assert config.secret is not None
    with db.read() as session:
        due = list(session.execute(select(
            WebhookDelivery.id, WebhookDelivery.business_id, WebhookDelivery.body).where(
            WebhookDelivery.delivered_at.is_(None), WebhookDelivery.gave_up_at.is_(None),
            WebhookDelivery.next_attempt_at <= now).order_by(WebhookDelivery.id).limit(BATCH)))
    delivered = 0
    for delivery_id, business_id, text in due:
        body = text.encode("utf-8")
        headers = {"Content-Type": "application/json", SIGNATURE: sign(config.secret, body),
                   "User-Agent": "bookingcal-webhook"}
        status: int | None = None
        error: str | None = None
        try:
            status = (post or _post)(config.url, body, headers, config.timeout_seconds)
            if not 200 <= status < 300:
                error = f"answered HTTP {status}"
        except (OSError, requests.RequestException) as exc:
            error = f"{type(exc).__name__}"
        with db.write() as session:
            delivery = get_of(session, WebhookDelivery, business_id, delivery_id)
            if delivery is None:
                continue
            delivery.attempts += 1
            session.add(WebhookAttempt(delivery_id=delivery_id, business_id=delivery.business_id,
                                       attempt=delivery.attempts,
                                       at=now, status=status, error=error))
            if error is None:
                delivery.delivered_at = now
                delivered += 1
            elif delivery.attempts >= config.max_attempts:
                delivery.gave_up_at = now
                log.warning("webhook delivery %d given up after %d attempts: %s",
                            delivery_id, delivery.attempts, error)
            else:
                delivery.next_attempt_at = now + backoff(delivery.attempts)
                log.info("webhook delivery %d failed (%s); next attempt in %s", delivery_id,
                         error, backoff(delivery.attempts))
    return delivered

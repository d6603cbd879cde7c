"""Deterministic Google event ids for our copies: the same item always gets the same id, so a
retried insert can never create a duplicate (Google answers 409 and we adopt the event).

Google's rule for client-chosen ids: characters of base32hex (lowercase a-v and 0-9), 5 to 1024
long. The id is keyed with a per-installation secret so it reveals nothing about our data."""

from __future__ import annotations

import base64
import hashlib
import hmac

_BASE32HEX = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "abcdefghijklmnopqrstuv0123456789")


def event_id(secret: bytes, connection_id: int, kind: str, item_id: int) -> str:
    digest = hmac.new(secret, f"{connection_id}:{kind}:{item_id}".encode(),
                      hashlib.sha256).digest()
    return "bc" + base64.b32encode(digest[:20]).decode().translate(_BASE32HEX).rstrip("=")


def is_valid(value: str) -> bool:
    return 5 <= len(value) <= 1024 and all(c in "abcdefghijklmnopqrstuv0123456789" for c in value)

"""The cursor of an ICS source as the engine saves it (the read state's `sync_token`): the
validators of the copy last read (ETag, Last-Modified), a digest of its body (a server without
validators answering the same body is not read again), the day its repeating events were
expanded (the window moves: a new day reads the feed in full again) and whether occurrences
were left out."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Cursor:
    etag: str | None
    last_modified: str | None
    digest: str
    day: str  # ISO date of the expansion
    truncated: bool = False

    def dump(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def load(cls, text: str | None) -> Cursor | None:
        """The cursor saved as `text`; None when there is none or it is not one of ours
        (a restore's whole-history marker, an older format): the feed is read in full."""
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(etag=data.get("etag"), last_modified=data.get("last_modified"),
                       digest=str(data["digest"]), day=str(data["day"]),
                       truncated=bool(data.get("truncated", False)))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

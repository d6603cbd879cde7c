"""ETags from the journal, never from the content: a view's stamp (epoch, profile, renderer
version; hashed once per view) and the item's sequence, built as strings for whole listings."""

from __future__ import annotations

import functools
import hashlib
from typing import Callable, Iterable

from server.publishing.ical import RENDER_VERSION


@functools.lru_cache(maxsize=4096)
def etag_stamp(epoch: str, profile: str) -> str:
    """What every item ETag of one view shares: a digest of the epoch, the view (`profile` and
    what `with_alarms` and `LinkView.key` add to it) and the renderer version. Computed once
    per view, not per item."""
    key = f"{epoch}:{profile}:{RENDER_VERSION}".encode()
    return hashlib.sha256(key).hexdigest()[:20]


def etag_head(epoch: str, profile: str) -> str:
    """What every item ETag of a view starts with (the ETag is this, the sequence and '"')."""
    return f'"{etag_stamp(epoch, profile)}-'


def item_etag(epoch: str, kind: str, item_id: int, seq: int, profile: str) -> str:
    """The strong ETag of an item's text in a view: the view's stamp and the item's sequence
    (its calendar's journal position at its last change, which no other change of that
    calendar shares). `kind` and `item_id` are named by the href (a booking and blocked time
    never share a UID); they are not written into the ETag (ids are global, counted across
    businesses)."""
    return f'{etag_head(epoch, profile)}{seq}"'


def etag_maker(epoch: str, kind: str, profile: str) -> Callable[[int, int], str]:
    """`item_etag` for many items of one kind and view."""
    head = etag_head(epoch, profile)

    def etag(item_id: int, seq: int) -> str:
        return f'{head}{seq}"'

    return etag


def etags_of(epoch: str, kind: str, profile: str, items: Iterable[tuple[int, int]]
             ) -> list[str]:
    """`item_etag` of many (item id, seq) pairs of one kind and view: string building only."""
    head = etag_head(epoch, profile)
    return [f'{head}{seq}"' for _, seq in items]

"""Compressed feed bodies kept in memory by their ETag, least recently used first out, never more
than a byte budget in total.

A feed's ETag is computed from the database on every request (server/publishing/feedstate.py: one query
names the link, the epoch, each calendar's journal position, the names the body shows and the
window's day), so a body kept under an ETag is the body of that state and is never served for
another: nothing here is trusted without that query, and several processes sharing one database
each keep their own copies safely. Only the gzip form is kept; an identity request for the same
state is answered by decompressing it on the way out (cheaper than reading the texts again)."""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterator

CHUNK = 64 * 1024


@dataclass(frozen=True)
class CachedBody:
    gzip: bytes          # the gzip member, exactly as sent with Content-Encoding: gzip
    identity_length: int  # the decompressed length (Content-Length of an identity answer)

    @property
    def size(self) -> int:
        return len(self.gzip)

    def identity_chunks(self) -> Iterator[bytes]:
        """The body without content coding, decompressed piece by piece."""
        decompressor = zlib.decompressobj(31)
        for offset in range(0, len(self.gzip), CHUNK):
            data = decompressor.decompress(self.gzip[offset:offset + CHUNK])
            if data:
                yield data
        rest = decompressor.flush()
        if rest:
            yield rest


class BodyCache:
    """A thread-safe LRU of CachedBody by key, bounded by `budget` bytes of gzip data in total.
    A body bigger than the budget is not kept; a budget of 0 keeps nothing."""

    def __init__(self, budget: int) -> None:
        if budget < 0:
            raise ValueError("the budget cannot be negative")
        self.budget = budget
        self._entries: OrderedDict[str, CachedBody] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Bytes held now (always <= budget)."""
        return self._size

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> CachedBody | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: str, entry: CachedBody) -> bool:
        """Keep `entry` under `key`, dropping the least recently used ones to make room.
        False when it is bigger than the whole budget (nothing is dropped then)."""
        if entry.size > self.budget:
            return False
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= old.size
            while self._entries and self._size + entry.size > self.budget:
                _, dropped = self._entries.popitem(last=False)
                self._size -= dropped.size
            self._entries[key] = entry
            self._size += entry.size
            return True

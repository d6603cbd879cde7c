"""Rendered texts waiting to be stored in the render cache (rendered_items).

A render reads its items inside one reading transaction; storing the texts it rendered on a
second connection while that transaction is still open holds two database connections per
request, and behind a transaction-pooling PgBouncer with as many such renders at once as
server connections every one of them waits for another (until the pooler's query_wait_timeout).
So the publisher spills what it rendered here while it reads (memory bounded: beyond
SPOOL_MEMORY the spool is a temporary file) and stores it after the reading transaction ended
(server/publishing/publish.py `Publisher.save`)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

SPOOL_MEMORY = 1024 * 1024
COLUMNS = ("kind", "item_id", "profile", "business_id", "seq", "version", "text")


class TextSpool:
    """Rows of rendered_items (dicts of COLUMNS), appended, then read back in chunks once."""

    def __init__(self, memory: int = SPOOL_MEMORY) -> None:
        self.memory = memory
        self.count = 0
        self._file: IO[bytes] | None = None

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        if self._file is None:
            self._file = tempfile.SpooledTemporaryFile(  # type: ignore[assignment]
                max_size=self.memory)
        assert self._file is not None
        for row in rows:
            line = json.dumps([row[name] for name in COLUMNS], ensure_ascii=False)
            self._file.write(line.encode("utf-8") + b"\n")
            self.count += 1

    def chunks(self, size: int) -> Iterator[list[dict[str, Any]]]:
        """The rows in the order added, `size` at a time."""
        if self._file is None:
            return
        self._file.seek(0)
        chunk: list[dict[str, Any]] = []
        for line in self._file:
            chunk.append(dict(zip(COLUMNS, json.loads(line))))
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.count = 0

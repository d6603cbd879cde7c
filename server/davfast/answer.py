"""A multistatus answer held in bounded memory: the responses are written to spooled temporary
files (to disk past a few MiB), the root's start tag is decided once every response is known
(ElementTree declares exactly the namespaces used), and the whole answer is sent with a
Content-Length, gzip-compressed when the client accepts it (as Radicale does). Nothing reaches
the client before the last row was read: a failure midway is still a clean error status."""

from __future__ import annotations

import tempfile
import zlib
from dataclasses import dataclass, field
from typing import IO, Any, Iterator

try:
    # ISA-L's deflate: the same gzip format, about six times faster than zlib's level 1 on a
    # whole calendar's multistatus (20 MB at 100k items: ~20 ms instead of ~110 ms of CPU, the
    # largest share of the answer after the query), and smaller.
    from isal import isal_zlib as deflate
except ImportError:  # no ISA-L wheel for this platform: the standard library's zlib
    deflate: Any = zlib  # type: ignore[no-redef]

SPOOL_BYTES = 4 << 20
CHUNK = 256 << 10
# Level 1: several times faster than Radicale's default level 6 on a whole calendar's
# multistatus, and still about a tenth of the size (the ETags are what does not compress).
GZIP_LEVEL = 1


def _spool() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (closed by owner)


class Part:
    """One spooled stretch of the body, written as text and kept as UTF-8 bytes. Small writes
    are gathered into one list and encoded together (far fewer calls than one per string)."""

    def __init__(self) -> None:
        self.file = _spool()
        self._pending: list[str] = []
        self._pending_size = 0
        self.size = 0

    def write(self, text: str) -> None:
        self._pending.append(text)
        self._pending_size += len(text)
        if self._pending_size >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            data = "".join(self._pending).encode("utf-8")
            self._pending, self._pending_size = [], 0
            self.file.write(data)
            self.size += len(data)

    def is_empty(self) -> bool:
        self.flush()
        return self.size == 0

    def chunks(self) -> Iterator[bytes]:
        self.flush()
        self.file.seek(0)
        while data := self.file.read(CHUNK):
            yield data

    def close(self) -> None:
        self.file.close()


@dataclass
class Body:
    """The parts of an answer, in order (strings and spooled parts)."""

    pieces: list[bytes | Part] = field(default_factory=list)

    def add(self, piece: bytes | Part) -> None:
        self.pieces.append(piece)

    def chunks(self) -> Iterator[bytes]:
        for piece in self.pieces:
            if isinstance(piece, Part):
                yield from piece.chunks()
            elif piece:
                yield piece

    def size(self) -> int:
        total = 0
        for piece in self.pieces:
            if isinstance(piece, Part):
                piece.flush()
                total += piece.size
            else:
                total += len(piece)
        return total

    def close(self) -> None:
        for piece in self.pieces:
            if isinstance(piece, Part):
                piece.close()


class Sendable:
    """What the mount sends: status, headers and an iterable body that closes its files."""

    def __init__(self, status: str, headers: list[tuple[str, str]], body: Body) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.body.chunks()
        finally:
            self.body.close()

    def close(self) -> None:
        self.body.close()


def finish(status: str, headers: dict[str, str], body: Body, accept_encoding: str) -> Sendable:
    """Headers with Content-Length (and Content-Encoding: gzip when Radicale would compress:
    "gzip" among the client's accepted encodings)."""
    accepted = [part.strip() for part in accept_encoding.split(",") if part.strip()]
    if "gzip" in accepted:
        packed = Part()
        compressor = deflate.compressobj(GZIP_LEVEL, wbits=16 + zlib.MAX_WBITS)
        for data in body.chunks():
            packed.file.write(compressor.compress(data))
        packed.file.write(compressor.flush())
        packed.size = packed.file.tell()
        body.close()
        body = Body([packed])
        headers = {**headers, "Content-Encoding": "gzip"}
    return Sendable(status, [*headers.items(), ("Content-Length", str(body.size()))], body)

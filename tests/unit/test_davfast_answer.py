"""The fast path's answers compressed as they are written (server/publishing/davfast/answer.py): raw deflate
segments joined into one gzip member must decode, with every decoder a client may use, to
exactly the bytes of the uncompressed answer, and Content-Length must count what is sent."""

from __future__ import annotations

import gzip
import zlib

import pytest
from urllib3.response import GzipDecoder

from server.publishing.davfast import answer
from server.publishing.davfast.answer import Body, Part, finish


def _body(packed: bool, rows: int) -> Body:
    head, empty, found = Part(packed), Part(packed), Part(packed)
    head.write("<?xml version='1.0'?>\n<multistatus>")
    for i in range(rows):
        found.write(f"<response><href>/dav/x/{i}.ics</href>ø</response>")
    return Body([head, empty, b"<sync-token>t</sync-token>", found, b"</multistatus>"])


def _plain(rows: int) -> bytes:
    body = _body(False, rows)
    sent = finish("207 Multi-Status", {}, body, "identity")
    data = b"".join(sent)
    assert dict(sent.headers)["Content-Length"] == str(len(data))
    assert "Content-Encoding" not in dict(sent.headers)
    return data


@pytest.mark.parametrize("rows", [0, 1, 30_000])
@pytest.mark.parametrize("packed", [True, False])
def test_a_gzip_answer_decodes_to_the_plain_answer(packed: bool, rows: int) -> None:
    sent = finish("207 Multi-Status", {}, _body(packed, rows), "deflate, gzip")
    data = b"".join(sent)
    headers = dict(sent.headers)
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Content-Length"] == str(len(data))
    plain = _plain(rows)
    assert gzip.decompress(data) == plain
    assert zlib.decompress(data, 16 + zlib.MAX_WBITS) == plain
    decoder = GzipDecoder()
    assert decoder.decompress(data) + decoder.flush() == plain
    # One member: a decoder that stops after the first member still gets everything.
    single = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert single.decompress(data) == plain and single.eof and not single.unused_data


def test_isal_is_installed_and_parts_are_packed() -> None:
    # isal is a dependency (setup.cfg); without it answers fall back to zlib, unpacked.
    assert answer.STREAMING


def test_a_big_answer_is_held_compressed() -> None:
    part = Part(packed=True)
    for i in range(200_000):
        part.write(f"<response><href>/dav/x/{i:08d}.ics</href></response>")
    part.seal()
    assert part.length > answer.SPOOL_BYTES  # the text would have gone to disk
    assert part.size < part.length // 5
    assert not part.is_empty()
    part.close()

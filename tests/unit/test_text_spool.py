"""The spool of rendered texts waiting to be stored (server/publishing/text_spool.py): rows come
back as they went in, in order and in chunks, from memory or from disk."""

from __future__ import annotations

from server.publishing.text_spool import COLUMNS, TextSpool

HOSTILE = "BEGIN:VEVENT\r\nSUMMARY:Ærø\\n \u2028 \ufeff 💇 \"q\" \x07\r\nEND:VEVENT\r\n"


def _row(n: int) -> dict[str, object]:
    return {"kind": "booking" if n % 2 else "blocked", "item_id": n, "profile": "limited",
            "business_id": 7, "seq": 10_000_000_000 + n, "version": 3, "text": HOSTILE * n}


def test_rows_come_back_in_order_and_in_chunks_past_the_memory_bound() -> None:
    spool = TextSpool(memory=256)  # a few rows: the rest is on disk
    rows = [_row(n) for n in range(25)]
    spool.add(rows[:10])
    spool.add(rows[10:])
    assert spool.count == 25
    chunks = list(spool.chunks(10))
    assert [len(chunk) for chunk in chunks] == [10, 10, 5]
    assert [row for chunk in chunks for row in chunk] == rows
    assert set(chunks[0][0]) == set(COLUMNS)
    spool.close()
    assert spool.count == 0 and list(spool.chunks(10)) == []


def test_an_empty_spool_has_no_chunks() -> None:
    assert list(TextSpool().chunks(5)) == []

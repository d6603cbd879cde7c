"""The fast path's VEVENT count (one regular-expression scan) equals Radicale's own count (lines
that are BEGIN:VEVENT in upper case, split as str.splitlines splits) on every text: real
documents, every line break Python knows, case variants, letters whose upper case is ASCII
(dotless i), and anything else."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from server.publishing.davfast.engine import vevents, vevents_reference

BREAKS = ["\r\n", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028",
          "\u2029"]
PIECES = st.sampled_from(BREAKS + ["BEGIN:VEVENT", "begin:vevent", "Begin:VEvent",
                                   "BEGIN:VEVENT ", " BEGIN:VEVENT", "BEGIN:VEVENTS",
                                   "BEGIN:VTODO", "END:VEVENT", "BEGıN:VEVENT", "BEGİN:VEVENT",
                                   "ﬁ", "ß", "ſ", "K", "X-BEGIN:VEVENT", "BEGIN", ":VEVENT"])
TEXT = st.lists(st.one_of(PIECES, st.characters()), max_size=60).map("".join)


@settings(max_examples=3000, deadline=None)
@given(TEXT)
def test_the_count_equals_radicales(text: str) -> None:
    assert vevents(text) == vevents_reference(text)


def test_documents_and_edges() -> None:
    document = ("BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\n"
                "SUMMARY:x BEGIN:VEVENT\r\n BEGIN:VEVENT\r\nEND:VEVENT\r\nbegin:vevent\r\n"
                "END:VEVENT\r\nEND:VCALENDAR\r\n")
    cases = [document, "", "BEGIN:VEVENT", "\nBEGIN:VEVENT\n", "BEGIN:VEVENT\r\rBEGIN:VEVENT",
             "BEGıN:VEVENT\r\nBEGIN:VEVENT", "x\u2028BEGIN:VEVENT\u2029", "BEGIN:VEVENT\x85"]
    for text in cases:
        assert vevents(text) == vevents_reference(text), text
    assert vevents(document) == 2
    assert vevents("BEGıN:VEVENT\r\nBEGIN:VEVENT") == 2

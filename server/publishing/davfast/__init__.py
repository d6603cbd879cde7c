"""Our own answers to the hot CalDAV reports (PROPFIND Depth 1 on a calendar, sync-collection,
calendar-multiget, calendar-query with a time range), behind the same mount as Radicale and
proven equal to its answers by tests (tests/integration/test_caldav_fast.py): Radicale's
per-item path (rights per item, an XML tree of the whole answer, every item's text even when
only ETags were asked) is what a phone's first sync of a big calendar paid for.

- plan.py    which requests are answered here (anything else goes to Radicale unchanged)
- rows.py    lean column queries: what an item's <response> needs without its text
- xmlout.py  the multistatus as strings, byte-equal to Radicale's serialisation
- answer.py  spooled, bounded-memory answers sent with Content-Length (gzip when accepted)
- engine.py  the answers themselves
- quickget.py GET and HEAD of one item in one prepared query
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FastSwitch:
    """Whether the mount may answer the hot reports itself. Only the tests that prove the fast
    path equal to Radicale's answers (and the benchmark) turn it off."""

    enabled: bool = True
    answered: int = 0  # answers given by the fast path (what the equality tests check)
    quick: int = 0  # of those, GETs answered in one query (server/publishing/davfast/quickget.py)

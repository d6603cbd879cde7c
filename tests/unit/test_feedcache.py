"""BodyCache: never more than its budget, least recently used out first, a body bigger than the
budget not kept (and nothing dropped for it); CachedBody's identity form is its gzip decoded."""

from __future__ import annotations

import gzip
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from server.publishing.feedcache import BodyCache, CachedBody


def body(size: int) -> CachedBody:
    return CachedBody(b"x" * size, size)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 5000),
       st.lists(st.tuples(st.sampled_from("get put".split()), st.integers(0, 30),
                          st.integers(0, 6000)), max_size=80))
def test_the_budget_is_never_exceeded_and_the_least_recently_used_go_first(
        budget: int, operations: list[tuple[str, int, int]]) -> None:
    cache = BodyCache(budget)
    model: list[tuple[str, int]] = []  # (key, size), least recently used first
    for operation, number, size in operations:
        key = f"k{number}"
        if operation == "get":
            found = cache.get(key)
            held = [entry for entry in model if entry[0] == key]
            assert (found is None) == (not held)
            if held:
                assert found is not None and found.size == held[0][1]
                model.remove(held[0])
                model.append(held[0])
        else:
            kept = cache.put(key, body(size))
            assert kept == (size <= budget)
            if kept:
                model = [entry for entry in model if entry[0] != key]
                while model and sum(s for _, s in model) + size > budget:
                    model.pop(0)
                model.append((key, size))
        assert cache.size == sum(s for _, s in model) <= budget
        assert len(cache) == len(model)


def test_a_zero_budget_keeps_nothing() -> None:
    cache = BodyCache(0)
    assert not cache.put("k", body(1)) and cache.get("k") is None and cache.size == 0


def test_the_identity_form_is_the_gzip_body_decoded_piece_by_piece() -> None:
    plain = os.urandom(300_000) + b"BEGIN:VCALENDAR\r\n" * 20_000
    entry = CachedBody(gzip.compress(plain), len(plain))
    chunks = list(entry.identity_chunks())
    assert b"".join(chunks) == plain and len(chunks) > 1

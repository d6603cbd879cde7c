"""JSON request bodies: how deeply they may nest. Python's parser recurses, so a body nested a
thousand levels deep raises RecursionError; far shallower bodies already say nothing our API
takes, so depth is bounded well below that and refused with 400."""

from __future__ import annotations

from typing import Any

# Our deepest body is three levels ({"intervals": [{...}]}); the slack is for clients' habits.
MAX_DEPTH = 32


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether objects and arrays nest more than `limit` levels (the body itself is level 1).
    Iterative, so any parsed value is measured without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if level > limit:
            return True
        stack.extend((child, level + 1) for child in children)
    return False


def depth_message(limit: int = MAX_DEPTH) -> str:
    return (f"the JSON body nests objects and arrays more than {limit} levels deep; send a "
            "flatter body")

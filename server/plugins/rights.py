"""Radicale rights plugin: a link reads its own principal and calendars, nothing else, and
writes nothing ("R"/"r" only; without "w"/"W" every write method answers 403 before storage is
touched)."""

from __future__ import annotations

from radicale import pathutils, rights


class Rights(rights.BaseRights):
    def authorization(self, user: str, user_groups: set[str], path: str) -> str:
        if not user:
            return ""
        parts = [p for p in pathutils.strip_path(path).split("/") if p]
        if not parts:
            return "R"
        if parts[0] != user:
            return ""
        return {1: "R", 2: "r"}.get(len(parts), "")

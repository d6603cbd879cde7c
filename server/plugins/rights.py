"""Radicale rights plugin: a link reads its own principal and calendars, nothing else ("R"/"r";
without "w"/"W" every write method answers 403 before storage is touched). A writable link
(server/domain/links.py) also writes its one calendar ("rw", and "l": no properties to write);
the mount hands those writes to server/publishing/dav_write.py, which applies the domain's rules."""

from __future__ import annotations

from radicale import pathutils, rights

from server.publishing.dav_context import CURRENT


class Rights(rights.BaseRights):
    def authorization(self, user: str, user_groups: set[str], path: str) -> str:
        if not user:
            return ""
        parts = [p for p in pathutils.strip_path(path).split("/") if p]
        if not parts:
            return "R"
        if parts[0] != user:
            return ""
        if len(parts) == 2:
            request = CURRENT.get()
            if request is not None and request.link.writable:
                return "rwl"
        return {1: "R", 2: "r"}.get(len(parts), "")

"""The import layers of docs/architecture.md, kept true: a lower layer never imports a higher one
(the domain knows nothing of HTTP, publishing or providers; publishing and the sync engine know
nothing of the JSON API or the admin pages). Every module of server/ belongs to a layer: a new
top-level module or package fails here until it is placed (and the map says where it lives)."""

from __future__ import annotations

import ast
from pathlib import Path

SERVER = Path(__file__).resolve().parents[2] / "server"

# Layer of each top-level module or package of server/ (the lowest first).
FOUNDATION, DOMAIN, PUBLISHING, SYNC, API, ADMIN, ENTRY = range(7)
NAMES = ["foundation", "domain", "publishing", "sync", "api", "admin", "entry"]
LAYERS: dict[str, int] = {
    # foundation: configuration, keys, clock, errors, the database, the HTTP plumbing
    "server": FOUNDATION, "server.errors": FOUNDATION, "server.clock": FOUNDATION,
    "server.config": FOUNDATION, "server.keys": FOUNDATION, "server.db": FOUNDATION,
    "server.web": FOUNDATION, "server.logsafety": FOUNDATION, "server.memory": FOUNDATION,
    "server.notify": FOUNDATION,
    # the domain: the one write path and its rules; what a profile may show
    "server.domain": DOMAIN, "server.redaction": DOMAIN,
    # publishing: feeds, CalDAV, rendering, link addresses (the design card's entry points
    # server/storage_backend.py and server/plugins/ point into server/publishing/)
    "server.publishing": PUBLISHING, "server.storage_backend": PUBLISHING,
    "server.plugins": PUBLISHING,
    # the sync engine and its provider adapters
    "server.sync": SYNC, "server.google": SYNC, "server.microsoft": SYNC, "server.ics": SYNC,
    "server.gcal_bridge": SYNC, "server.caldav": SYNC,
    "server.api": API,
    "server.admin": ADMIN,
    # entry points and the composition root: may import anything
    "server.app": ENTRY, "server.cli": ENTRY, "server.runtime": ENTRY, "server.ops": ENTRY,
}
# What each layer must never import (beyond the rule "never a higher layer", which is too strict
# between the two middle rooms: the sync engine renders its copies with publishing's iCalendar
# writer, and publishing names no provider).
FORBIDDEN: dict[int, set[int]] = {
    FOUNDATION: {DOMAIN, PUBLISHING, SYNC, API, ADMIN, ENTRY},
    DOMAIN: {PUBLISHING, SYNC, API, ADMIN, ENTRY},
    PUBLISHING: {SYNC, API, ADMIN, ENTRY},
    SYNC: {API, ADMIN, ENTRY},
    API: {ADMIN, ENTRY},
    ADMIN: {ENTRY},
}
# Known exceptions, each with its reason. Keep this short.
ALLOWED = {
    # The composition root's parts that the runtime object carries are built lazily by it;
    # modules below read the runtime for the database and the clock.
    ("server.sync", "server.runtime"), ("server.google", "server.runtime"),
    ("server.microsoft", "server.runtime"), ("server.ics", "server.runtime"),
    ("server.gcal_bridge", "server.runtime"),
    ("server.api", "server.runtime"), ("server.admin", "server.runtime"),
    ("server.caldav", "server.runtime"), ("server.publishing", "server.runtime"),
    # the phone's iCalendar is parsed by a module of the domain's own (phone_event) that
    # domain code imports; listed as domain above, so nothing to allow here.
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SERVER.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _room(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "server")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == "server":
            # `from server import x` imports the module server.x when x is one.
            if node.module == "server":
                found.update(f"server.{a.name}" for a in node.names)
            else:
                found.add(node.module)
    return found


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in SERVER.rglob("*.py")
            if "migrations" not in path.parts}


def test_every_module_has_a_layer() -> None:
    unplaced = sorted({_room(name) for name in _modules()} - LAYERS.keys())
    assert unplaced == [], (f"place these in LAYERS here and in docs/architecture.md's map: "
                            f"{unplaced}")


def test_no_module_imports_a_forbidden_layer() -> None:
    broken = []
    for name, path in sorted(_modules().items()):
        room = _room(name)
        layer = LAYERS.get(room)
        if layer is None or layer == ENTRY:
            continue
        for imported in sorted(_imports(path)):
            target = _room(imported)
            if target == room or (room, target) in ALLOWED or target not in LAYERS:
                continue
            if LAYERS[target] in FORBIDDEN[layer]:
                broken.append(f"{name} ({NAMES[layer]}) imports {imported} "
                              f"({NAMES[LAYERS[target]]})")
    assert broken == [], "\n".join(broken)


def test_the_rule_finds_a_breach(tmp_path: Path) -> None:
    # The checker itself: a domain module importing the API is reported.
    module = tmp_path / "probe.py"
    module.write_text("from server.api.errors import status_of\n"
                      "def f():\n    import server.admin.web\n", encoding="utf-8")
    assert _imports(module) == {"server.api.errors", "server.admin.web"}
    assert {LAYERS[_room(m)] for m in _imports(module)} & FORBIDDEN[DOMAIN] == {API, ADMIN}

"""Which names a writable CalDAV account may give what it makes: an item's UID (its resource is
`<UID>.ics`) and a personal calendar's name in its URL. Clients name things as their users do
(vdirsyncer's "test @ foo ät bar", a Thunderbird UID with spaces, Cyrillic), so any printable
Unicode text is accepted, as stock Radicale accepts it; refused are names that cannot be one
path segment served back under the same href, or that are meant to hurt: empty, "." or "..",
a leading dot (hidden names), "/" or "\\", control and other non-printing characters (NUL, a
newline, bidirectional overrides), and more than a bounded number of characters.

Names are compared as the client sent them after percent-decoding (the URL carries them
percent-encoded in UTF-8, server/publishing/dav_mount.py decodes the path)."""

from __future__ import annotations

import unicodedata

# Characters of a phone's UID (blocked_times.uid, phone_tasks.uid, journal.item_uid are
# VARCHAR(255)). RFC 5545 sets no limit; real clients' UIDs run long: Outlook/Exchange's are
# 112 and more hex digits ("040000008200E00074C5B7101A82E008..."), Google's "<id>@google.com".
MAX_UID = 255
MAX_SLUG = 128  # characters of a personal calendar's name in its URL (personal_calendars.slug)
RESOURCE_SUFFIX = ".ics"  # an item's resource is `<UID>.ics`


def problem(name: str, limit: int, what: str) -> str | None:
    """Why `name` cannot name a resource (a sentence for people, naming `what` it is), or None
    when it can."""
    if not name or not name.strip():
        return f"{what} cannot be empty"
    if len(name) > limit:
        return f"{what} is at most {limit} characters (this one has {len(name)})"
    if name.startswith("."):
        return f"{what} cannot start with a dot"
    if "/" in name or "\\" in name:
        return f"{what} cannot contain a slash (/ or \\)"
    for character in name:
        # Cc controls, Cf format (bidirectional overrides, zero-width), Cs lone surrogates,
        # Co private use, Cn unassigned; Zl/Zp line and paragraph separators.
        if unicodedata.category(character)[0] == "C" or \
                unicodedata.category(character) in ("Zl", "Zp"):
            return f"{what} cannot contain control or invisible characters " \
                   f"(U+{ord(character):04X})"
    return None


def path_problem(path: str) -> str | None:
    """Why a request path below /dav/ cannot name anything a writable account has or makes, or
    None. A segment `<UID>.ics` too long for a resource is said to be a UID too long; every
    segment is checked as a name of the longest kind."""
    for segment in path.split("/"):
        if not segment:
            continue
        stem = segment.removesuffix(RESOURCE_SUFFIX)
        if stem != segment and len(stem) > MAX_UID:
            return f"the UID is at most {MAX_UID} characters (this one has {len(stem)}): " \
                   f"the resource is named <UID>{RESOURCE_SUFFIX}"
        found = problem(segment, max(MAX_UID, MAX_SLUG) + len(RESOURCE_SUFFIX),
                        "a name in the URL")
        if found is not None:
            return found
    return None

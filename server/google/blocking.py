"""The one blocking policy: which Google events block online booking.

Opaque (busy) blocks, transparent (free) does not; an event the account declined does not;
working-location and birthday events do not; out-of-office does; cancelled events do not. Our
own copies are never imported, so they never block."""

from __future__ import annotations

NEVER_BLOCK_TYPES = frozenset({"workingLocation", "birthday", "fromGmail"})
ALWAYS_BLOCK_TYPES = frozenset({"outOfOffice"})


def blocks(*, status: str, transparency: str, event_type: str,
           self_response: str | None) -> bool:
    if status == "cancelled":
        return False
    if event_type in NEVER_BLOCK_TYPES:
        return False
    if self_response == "declined":
        return False
    if event_type in ALWAYS_BLOCK_TYPES:
        return True
    return transparency != "transparent"

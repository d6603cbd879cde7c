"""The one blocking policy: which mirrored events (from any provider) block online booking.

It is stated in one vocabulary, the mirror's (`MirroredEvent`'s columns), which is Google
Calendar's: `status` (confirmed, tentative, cancelled), `transparency` (opaque = busy,
transparent = free), `event_type` and the account's own answer (`self_response`: accepted,
tentative, declined, needsAction). Each sync adapter maps its provider's fields onto it (the
Google adapter as they come; Microsoft's `showAs`: free -> transparent, oof -> outOfOffice,
workingElsewhere -> workingLocation, tentative -> self_response tentative). The rules:

Opaque (busy) blocks, transparent (free) does not; an event the account declined does not;
cancelled events do not. Per event type:
- `default`, `focusTime`, `fromGmail` (a flight, a reservation Gmail added) and any type Google
  adds later: by transparency, like any event;
- `outOfOffice`: blocks (the business's choice, below), whatever its transparency;
- `workingLocation`, `birthday`: never (they say where someone works or whose birthday it is,
  not that the time is taken).
Our own copies are never imported (the sync engine recognises them), so they never block.

Three choices are the business's own (stored on its provider connection, changed through
`bookingcal google settings` and the JSON API): whether out-of-office blocks, whether an event
the account answered "tentative" blocks, whether all-day busy events block. The defaults (all
on) are the rules above. Changing a choice recomputes `MirroredEvent.blocks` of the business's
mirrored events at once (server/domain/mirrored.py, which applies this policy on every write),
so availability always reads the current policy from that column."""

from __future__ import annotations

from dataclasses import dataclass

from typing import Any

NEVER_BLOCK_TYPES = frozenset({"workingLocation", "birthday"})
OUT_OF_OFFICE = "outOfOffice"


@dataclass(frozen=True)
class BlockingPolicy:
    """A business's choices; the defaults keep the rules in the module's docstring."""

    out_of_office: bool = True
    tentative: bool = True
    all_day: bool = True

    @classmethod
    def of(cls, connection: Any) -> BlockingPolicy:
        """The choices stored on a provider connection row (its `block_*` columns)."""
        return cls(out_of_office=connection.block_out_of_office,
                   tentative=connection.block_tentative, all_day=connection.block_all_day)


DEFAULT = BlockingPolicy()


def blocks(*, status: str, transparency: str, event_type: str, self_response: str | None,
           all_day: bool = False, policy: BlockingPolicy = DEFAULT) -> bool:
    """Whether an event with these facts blocks online booking under `policy`."""
    if status == "cancelled":
        return False
    if event_type in NEVER_BLOCK_TYPES:
        return False
    if self_response == "declined":
        return False
    if event_type == OUT_OF_OFFICE:
        return policy.out_of_office
    if self_response == "tentative" and not policy.tentative:
        return False
    if all_day and not policy.all_day:
        return False
    return transparency != "transparent"

"""The pause between the turns of a read over several turns (server/sync/pacing.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from server.sync import pacing


def test_a_turn_is_followed_by_a_pause_that_leaves_the_rest_of_the_time_to_others() -> None:
    assert pacing.pause(1.2) == dt.timedelta(seconds=1.2)  # half the time: as long again
    assert pacing.pause(1.0, share=0.25) == dt.timedelta(seconds=3)
    assert pacing.pause(1.0, share=1.0) == dt.timedelta(0)  # the whole time: no pause
    assert pacing.pause(-0.5) == dt.timedelta(0)  # a stopwatch never runs backwards here


def test_the_pause_is_bounded_however_slow_the_turn() -> None:
    assert pacing.pause(3600.0) == pacing.MAX_PAUSE


@pytest.mark.parametrize("share", [0.0, -0.5, 1.5])
def test_a_share_outside_the_bridges_time_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="share of the bridge's time"):
        pacing.pause(1.0, share=share)

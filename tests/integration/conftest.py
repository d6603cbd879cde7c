"""Fixtures of the integration tests.

* ``world`` (function, over sqlite and postgresql): a business connected to a fresh fake
  Google (see google_world.py), on a FixedClock at support.NOW; the fake must have seen no bug
  of its own by the end.
* ``real_time_world``: the same, its clock fixed at the real now, for a test that also drives a
  real `bookingcal` process (which runs on the real clock): ``world.book(day)`` is then dated a
  week and more after the real today.
* ``live`` (function, over sqlite and postgresql): the app served on loopback (waitress, real
  HTTP) over a fresh runtime (support.make_runtime); a module defines its own ``live`` when it
  serves a world of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes import FakeGoogle
from google_world import World, make_world
from support import LiveServer, make_runtime, real_now, start_server


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    with FakeGoogle() as fake, make_world(tmp_path, database_url, fake) as made:
        yield made
        assert fake.internal_errors == []


@pytest.fixture
def real_time_world(tmp_path: Path, database_url: str) -> Iterator[World]:
    with FakeGoogle() as fake, make_world(tmp_path, database_url, fake,
                                          now=real_now()) as made:
        yield made
        assert fake.internal_errors == []


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    server = start_server(make_runtime(tmp_path, database_url))
    try:
        yield server
    finally:
        server.stop()

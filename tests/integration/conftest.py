"""Fixtures of the integration tests.

* ``world`` (function, over sqlite and postgresql): a business connected to a fresh fake
  Google (see google_world.py); the fake must have seen no bug of its own by the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes import FakeGoogle
from google_world import World, make_world


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    with FakeGoogle() as fake, make_world(tmp_path, database_url, fake) as made:
        yield made
        assert fake.internal_errors == []

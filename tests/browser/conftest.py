"""A real headless Chromium (Debian's `chromium`, driven by Playwright; never a downloaded one),
one per session, a fresh context per test; screenshots go to test-output/screenshots/<test>/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, sync_playwright

from admin_site import AdminSite, google_site
from fakes import FakeGoogle
from shots import Shots

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: install Debian's chromium package "
                           "(scripts/ does it when missing)")
    with sync_playwright() as playwright:
        found = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield found
        found.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(permissions=["clipboard-read", "clipboard-write"],
                               viewport={"width": 1100, "height": 900})
    made.set_default_timeout(15_000)
    yield made
    made.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    folder = SCREENSHOTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return Shots(folder)


@pytest.fixture
def fake() -> Iterator[FakeGoogle]:
    """A fresh fake Google; it must have seen no bug of its own by the end."""
    with FakeGoogle() as found:
        yield found
        assert found.internal_errors == []


@pytest.fixture
def site(tmp_path: Path, fake: FakeGoogle) -> Iterator[AdminSite]:
    """A served business with an admin account, its [google] section pointing at `fake`."""
    with google_site(tmp_path, fake) as found:
        yield found

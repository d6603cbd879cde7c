"""Screenshots of the browser tests (a module of its own, not conftest, so that test modules
import it by a name no other test folder's conftest shadows)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page


class Shots:
    """Numbered full-page screenshots of one test."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def __call__(self, page: Page, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

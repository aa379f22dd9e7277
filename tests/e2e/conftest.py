"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.frontend import browser


@pytest.fixture
def page(tmp_path: Path) -> Iterator[browser.Page]:
    """A real browser page (Debian's chromium). A test that names ``page`` before the servers it
    starts opens the browser first, so a missing chromium costs no stack start."""
    with browser.open_page(tmp_path / "chromium-profile") as opened:
        yield opened

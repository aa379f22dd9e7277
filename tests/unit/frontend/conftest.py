"""Fixtures for the frontend unit tests: a fake serving and the real page run by AppTest."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from tests.unit.frontend.fake_serving import FakeServing


def _page(transport: object) -> None:
    # AppTest runs this function's source as a script: imports go inside, annotations stay plain.
    import httpx

    from frontend.app import main

    assert isinstance(transport, httpx.BaseTransport)
    main(transport=transport)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the test, never from the developer's shell."""
    for name in ("SERVING_URL", "FRONTEND_SERVING_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FRONTEND_STATUS_POLL_SECONDS", "0")


@pytest.fixture
def fake() -> FakeServing:
    return FakeServing()


@pytest.fixture
def page(fake: FakeServing) -> Callable[[], AppTest]:
    """Build (not yet run) the page wired to ``fake``."""

    def build() -> AppTest:
        return AppTest.from_function(
            _page, kwargs={"transport": fake.transport}, default_timeout=30
        )

    return build

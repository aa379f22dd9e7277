"""AppTest: serving down or without a model is said plainly, and the page recovers by itself."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from tests.unit.frontend.fake_serving import FakeServing

TEXT = "Additionally, this is a text."


def _classify(at: AppTest, text: str = TEXT) -> AppTest:
    at.text_area(key="input_text").input(text)
    return at.button(key="classify").click().run()


def _no_trace(at: AppTest) -> None:
    assert not at.exception
    for element in [*at.error, *at.warning, *at.info, *at.markdown]:
        assert "Traceback" not in str(element.value)


def test_serving_down_is_said_plainly(page: Callable[[], AppTest], fake: FakeServing) -> None:
    fake.state = "down"
    at = page().run()

    assert any("is not reachable" in e.value for e in at.sidebar.error)
    at = _classify(at)
    assert any("serving is not reachable right now" in e.value for e in at.main.error)
    assert not at.tabs[0].metric
    assert any("serving is not reachable" in i.value for i in at.info)  # model tab
    _no_trace(at)


def test_no_model_yet_is_said_plainly_with_the_reason(
    page: Callable[[], AppTest], fake: FakeServing
) -> None:
    fake.state = "no_model"
    at = page().run()

    assert any("no model yet" in w.value for w in at.sidebar.warning)
    at = _classify(at)
    assert any(
        "no model loaded yet (model not available: no champion registered yet)" in w.value
        for w in at.main.warning
    )
    _no_trace(at)


def test_page_recovers_when_serving_comes_back(
    page: Callable[[], AppTest], fake: FakeServing
) -> None:
    fake.state = "down"
    at = _classify(page().run())
    assert any("not reachable" in e.value for e in at.sidebar.error)

    fake.state = "ready"
    at = _classify(at)

    assert not at.error
    assert any("model version 7" in s.value for s in at.sidebar.success)
    assert {m.label: m.value for m in at.tabs[0].metric}["Verdict"] == "AI"


def test_new_model_version_shows_after_a_swap(
    page: Callable[[], AppTest], fake: FakeServing
) -> None:
    at = page().run()
    assert any("model version 7" in s.value for s in at.sidebar.success)

    fake.version = "8"
    at.run()

    assert any("model version 8" in s.value for s in at.sidebar.success)


def test_an_unexpected_answer_is_a_message_not_a_trace(
    page: Callable[[], AppTest], fake: FakeServing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake, "model_info", lambda: {"unexpected": True})
    at = page().run()

    assert any("answered unexpectedly" in e.value for e in at.sidebar.error)
    _no_trace(at)


def test_serving_url_comes_from_the_environment(
    page: Callable[[], AppTest], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVING_URL", "http://serving.internal:8000")
    at = page().run()

    assert any("http://serving.internal:8000" in c.value for c in at.sidebar.caption)

"""The CSV upload limit is a stated small size, enforced by Streamlit's server and by the page,
instead of Streamlit's 200 MB default."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from frontend.settings import FrontendSettings
from tests.unit.frontend.fake_serving import FakeServing

CONFIG = Path(__file__).resolve().parents[3] / "frontend" / ".streamlit" / "config.toml"
STREAMLIT_DEFAULT_MB = 200


def test_streamlit_server_caps_uploads_at_the_stated_size() -> None:
    """``server.maxUploadSize`` is what Streamlit's upload endpoint enforces, whatever a
    (hostile) browser does; the page's own limit is the same number."""
    config = tomllib.loads(CONFIG.read_text())
    limit = config["server"]["maxUploadSize"]
    assert limit == FrontendSettings().max_upload_mb == 20
    assert limit < STREAMLIT_DEFAULT_MB


def test_the_page_states_the_limit_and_the_browser_enforces_it(
    page: Callable[[], AppTest],
) -> None:
    at = page().run()

    assert at.file_uploader(key="batch_file").proto.max_upload_size_mb == 20
    assert any("20 MB" in caption.value for caption in at.tabs[1].caption)


def test_a_file_over_the_limit_is_refused_by_the_page(
    page: Callable[[], AppTest], fake: FakeServing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRONTEND_MAX_UPLOAD_MB", "1")
    big = b"text\n" + b"an essay of many words\n" * 50_000  # 1.1 MB
    at = page().run()
    at.file_uploader(key="batch_file").set_value(("big.csv", big, "text/csv"))
    at = at.run()

    assert any("larger than 1 MB" in error.value for error in at.tabs[1].error)
    assert not [b for b in at.tabs[1].button if b.key == "batch_classify"]
    assert fake.calls("POST", "/v1/predict") == []


def test_the_limit_cannot_exceed_the_server_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRONTEND_MAX_UPLOAD_MB", "21")
    with pytest.raises(ValueError, match="max_upload_mb"):
        FrontendSettings()

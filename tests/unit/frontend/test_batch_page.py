"""AppTest: upload a CSV, get a result table and a download, clear messages for bad files."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Element, Tab

from tests.unit.frontend.fake_serving import FakeServing


def _upload(at: AppTest, content: bytes, name: str = "essays.csv") -> AppTest:
    at.file_uploader(key="batch_file").set_value((name, content, "text/csv"))
    return at.run()


def _batch_tab(at: AppTest) -> Tab:
    return at.tabs[1]


def _csv(rows: list[dict[str, str]]) -> bytes:
    return pd.DataFrame(rows).to_csv(index=False).encode()


def test_csv_is_classified_in_chunks_with_table_and_download(
    page: Callable[[], AppTest], fake: FakeServing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRONTEND_BATCH_CHUNK_SIZE", "2")
    texts = [f"essay {i} " + ("additionally" if i % 2 else "dont") for i in range(5)]
    at = _upload(page().run(), _csv([{"id": str(i), "text": t} for i, t in enumerate(texts)]))
    assert any("5 rows, 5 to classify" in m.value for m in _batch_tab(at).markdown)

    at = at.button(key="batch_classify").click().run()

    batches = [body["texts"] for body in fake.calls("POST", "/v1/predict")]
    assert batches == [texts[0:2], texts[2:4], texts[4:5]]
    table = _batch_tab(at).dataframe[0].value
    assert table["id"].astype(str).tolist() == ["0", "1", "2", "3", "4"]
    assert table["predicted_label"].tolist() == ["human", "ai", "human", "ai", "human"]
    assert table["probability_ai"].tolist() == pytest.approx([0.12, 0.91, 0.12, 0.91, 0.12])
    assert set(table["model_version"]) == {"7"}
    assert any("5 texts classified: 2 AI, 3 Human" in s.value for s in _batch_tab(at).success)
    progress = _batch_tab(at).get("progress")[0]
    assert isinstance(progress, Element) and progress.value == 100
    download = at.get("download_button")[0]
    assert download.proto.label == "Download results (CSV)"
    assert not at.exception


def test_file_without_text_column_is_refused_clearly(
    page: Callable[[], AppTest], fake: FakeServing
) -> None:
    at = _upload(page().run(), _csv([{"essay": "hello", "author": "me"}]))

    assert any(
        "has no 'text' column (columns found: 'essay', 'author')" in e.value
        for e in _batch_tab(at).error
    )
    assert not [b for b in at.button if b.key == "batch_classify"]
    assert fake.calls("POST", "/v1/predict") == []


def test_file_that_is_not_utf8_is_refused_clearly(page: Callable[[], AppTest]) -> None:
    at = _upload(page().run(), "text\ncaf\xe9 cr\xe8me\n".encode("latin-1"))

    assert any("not UTF-8 text" in e.value for e in _batch_tab(at).error)


def test_unreadable_and_empty_rows_are_reported_and_kept_in_the_results(
    page: Callable[[], AppTest], fake: FakeServing
) -> None:
    content = b'id,text\n1,additionally fine\n2,"a, b",extra\n3,   \n4,dont\n'
    at = _upload(page().run(), content)

    warning = " ".join(w.value for w in _batch_tab(at).warning)
    assert "2 row(s) cannot be classified" in warning
    assert "line 3 (unreadable row: 3 fields where the header has 2)" in warning
    assert "line 4 (empty text)" in warning

    at = at.button(key="batch_classify").click().run()
    table = _batch_tab(at).dataframe[0].value
    assert table["line"].tolist() == [2, 3, 4, 5]
    assert table["predicted_label"].tolist() == ["ai", "", "", "human"]
    assert table["error"].tolist()[1:3] == [
        "unreadable row: 3 fields where the header has 2",
        "empty text",
    ]
    assert [body["texts"] for body in fake.calls("POST", "/v1/predict")] == [
        ["additionally fine", "dont"]
    ]


def test_a_text_serving_rejects_costs_only_its_row(
    page: Callable[[], AppTest], fake: FakeServing
) -> None:
    at = _upload(page().run(), _csv([{"text": "additionally"}, {"text": "REJECT-ME"}]))
    at = at.button(key="batch_classify").click().run()

    table = _batch_tab(at).dataframe[0].value
    assert table["predicted_label"].tolist() == ["ai", ""]
    assert table["error"].tolist() == [
        "",
        "rejected by serving: text has 100001 characters; the limit is 100000",
    ]


def test_serving_down_during_batch_is_said_plainly(
    page: Callable[[], AppTest], fake: FakeServing
) -> None:
    at = _upload(page().run(), _csv([{"text": "additionally"}]))
    fake.state = "down"
    at = at.button(key="batch_classify").click().run()

    assert any("Could not classify the file" in e.value for e in _batch_tab(at).error)
    assert not _batch_tab(at).dataframe
    assert not at.exception

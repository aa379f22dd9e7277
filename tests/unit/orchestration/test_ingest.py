"""The ingest flow on local folders: accept, de-duplicate, quarantine with a report."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pandas as pd
import pytest

from model_orchestration.flows.ingest import batch_is_acceptable, ingest, validate_batch
from model_orchestration.merging import merge_new_rows
from model_registry.dataset_store import DatasetStore, dataset_digest
from tests.support.model_fixtures import sample

pytestmark = pytest.mark.usefixtures("prefect_harness")


def new_rows(n: int = 20, seed: int = 7) -> pd.DataFrame:
    return sample(n, seed=seed)


def store(paths: dict[str, Path]) -> DatasetStore:
    return DatasetStore.from_uri(str(paths["datasets"]))


def test_good_batch_becomes_a_new_dataset_version(
    orchestration_env: dict[str, Path], seed_rows: pd.DataFrame
) -> None:
    batch = new_rows()
    batch.to_csv(orchestration_env["incoming"] / "batch-1.csv", index=False)

    state = ingest(return_state=True)

    assert state.is_completed(), state.message
    assert "+20 rows" in state.message
    latest = store(orchestration_env).latest()
    data = store(orchestration_env).get(latest)
    assert len(data) == len(seed_rows) + 20
    assert latest == dataset_digest(pd.concat([seed_rows, batch]))
    assert not (orchestration_env["incoming"] / "batch-1.csv").exists()
    assert (orchestration_env["incoming"] / "processed" / "batch-1.csv").exists()

    # The same batch delivered again adds nothing and leaves the version alone.
    batch.to_csv(orchestration_env["incoming"] / "batch-1-again.csv", index=False)
    again = ingest(return_state=True)
    assert again.is_completed()
    assert "+0 rows (20 duplicates" in again.message
    assert store(orchestration_env).latest() == latest


def test_malformed_batch_is_quarantined_with_its_report(
    orchestration_env: dict[str, Path], seed_rows: pd.DataFrame
) -> None:
    good = new_rows(10, seed=3)
    good.to_csv(orchestration_env["incoming"] / "good.csv", index=False)
    bad = new_rows(10, seed=4).astype(object)
    bad.loc[2, "generated"] = "maybe"
    bad.loc[5, "text"] = "   "
    bad.to_csv(orchestration_env["incoming"] / "bad.csv", index=False)
    (orchestration_env["incoming"] / "notes.txt").write_text("not a batch")

    state = ingest(return_state=True)

    assert state.is_failed()
    assert "QUARANTINED bad.csv" in state.message
    assert "label_in_0_1" in state.message and "text_not_empty" in state.message
    quarantined = sorted(p.name for p in orchestration_env["quarantine"].iterdir())
    assert len(quarantined) == 3
    report_json = next(p for p in orchestration_env["quarantine"].glob("*.report.json"))
    report = json.loads(report_json.read_text())
    assert report["batch"] == "bad.csv"
    assert {(r["row"], r["rule"]) for r in report["rejections"]} >= {
        (2, "label_in_0_1"),
        (5, "text_not_empty"),
    }
    assert (
        "row 2: label_in_0_1"
        in report_json.with_name(report_json.name.replace(".json", ".txt")).read_text()
    )
    assert not (orchestration_env["incoming"] / "bad.csv").exists()
    assert (orchestration_env["incoming"] / "notes.txt").exists()
    # The good batch of the same run is committed.
    data = store(orchestration_env).get(store(orchestration_env).latest())
    assert len(data) == len(seed_rows) + 10


def test_unparseable_batch_is_quarantined(orchestration_env: dict[str, Path]) -> None:
    (orchestration_env["incoming"] / "broken.csv.gz").write_bytes(b"definitely not gzip")
    state = ingest(return_state=True)
    assert state.is_failed()
    assert "QUARANTINED broken.csv.gz" in state.message
    assert "cannot parse" in state.message


def test_single_class_batch_is_accepted() -> None:
    rows = new_rows(10)
    one_class = rows[rows["generated"] == 1]
    report = validate_batch.fn("b.csv", one_class.to_csv(index=False).encode(), 50, 20_000)
    assert batch_is_acceptable(report)


def test_merge_counts_duplicates_and_conflicts(seed_rows: pd.DataFrame) -> None:
    extra = new_rows(4, seed=11)
    duplicate = seed_rows.iloc[[0]].assign(text=lambda d: "  " + d["text"].str.upper())
    conflict = seed_rows.iloc[[1]].assign(generated=lambda d: 1 - d["generated"])
    result = merge_new_rows(seed_rows, pd.concat([extra, duplicate, conflict]))
    assert (result.added, result.duplicates, result.conflicts) == (4, 1, 1)
    assert len(result.merged) == len(seed_rows) + 4


class _CsvHandler(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_source() -> Iterator[tuple[str, pd.DataFrame]]:
    rows = new_rows(8, seed=21)
    handler = type("Handler", (_CsvHandler,), {"body": rows.to_csv(index=False).encode()})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/batch.csv", rows
    server.shutdown()
    thread.join(5)


def test_http_source_is_one_more_input(
    orchestration_env: dict[str, Path],
    seed_rows: pd.DataFrame,
    http_source: tuple[str, pd.DataFrame],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, rows = http_source
    monkeypatch.setenv("ORCHESTRATION_HTTP_SOURCE_URL", url)
    state = ingest(return_state=True)
    assert state.is_completed(), state.message
    data = store(orchestration_env).get(store(orchestration_env).latest())
    assert len(data) == len(seed_rows) + len(rows)


def test_unreachable_object_store_fails_after_retries(
    orchestration_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    monkeypatch.setenv("REGISTRY_DATASET_STORE", "s3://datasets/x")
    state = ingest(return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match="dataset store s3://datasets/x unreachable"):
        state.result()

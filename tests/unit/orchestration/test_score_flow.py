"""The ``score`` flow in its own process (no Dask address): output, resume, guards, one load.

The Dask cluster version (real scheduler and workers, a worker killed mid-run) is
``tests/integration/dask/test_bulk_scoring_cluster.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from model_orchestration import bulk_scoring
from model_orchestration.flows.guards import UnsafeParameter
from model_registry import contract
from tests.support.scoring_fixtures import generated_corpus, register_scoring_champion

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module")
def scoring_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """An embedded registry (SQLite) with a champion, the scoring areas and a small corpus."""
    home = tmp_path_factory.mktemp("platform")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("ORCHESTRATION_DASK_SCHEDULER_ADDRESS", raising=False)
        mp.setenv("PLATFORM_HOME", str(home))
        mp.setenv("ORCHESTRATION_SCORE_INPUT_AREA", str(home / "in"))
        mp.setenv("ORCHESTRATION_SCORE_OUTPUT_AREA", str(home / "out"))
        mp.setenv("ORCHESTRATION_IO_RETRIES", "0")
        version = register_scoring_champion(contract.tracking_uri())
        corpus = generated_corpus(home / "in" / "batch", rows=1000, files=3)
        # A few real essays, so that in-scope rows (AI/human labels) are part of the output.
        from tests.support.model_fixtures import sample

        essays = sample(40, seed=11)["text"].tolist()
        corpus.loc[: len(essays) - 1, "text"] = essays
        (home / "in" / "batch" / "texts-000.parquet").unlink()
        corpus.iloc[:334].to_parquet(home / "in" / "batch" / "texts-000.parquet", index=False)
        yield {"home": home, "version": version, "corpus": corpus}


def in_process(corpus: pd.DataFrame, version: str) -> pd.DataFrame:
    """What scoring the same texts directly with the same model gives."""
    model = bulk_scoring.worker_model(contract.tracking_uri(), contract.MODEL_NAME, version)
    return bulk_scoring.score_frame(model, corpus["text"].tolist())


def run_score(home: Path, output: str, **parameters: Any) -> dict[str, Any]:
    from model_orchestration.flows.score import score

    return score(
        source=str(home / "in" / "batch"),
        output=str(home / "out" / output),
        **{
            "id_column": "doc_id",
            "rows_per_partition": 150,
            **parameters,
        },
    )


def test_every_row_once_with_the_champion_its_threshold_and_scope(scoring_stack) -> None:
    home, version, corpus = scoring_stack["home"], scoring_stack["version"], scoring_stack["corpus"]
    summary = run_score(home, "first")
    scored = bulk_scoring.read_scored(str(home / "out" / "first"))

    assert summary["rows"] == 1000 and summary["partitions"] == 9  # 334/333/333 rows by 150
    assert scored["doc_id"].tolist() == corpus["doc_id"].tolist(), "no gap, no duplicate, in order"
    assert scored["prediction_id"].is_unique
    assert set(scored["model_version"]) == {version}
    expected = in_process(corpus, version)
    pd.testing.assert_series_equal(scored["probability_ai"], expected["probability_ai"])
    assert scored["in_scope"].tolist() == expected["in_scope"].tolist()
    assert scored["label"].tolist() == expected["label"].tolist()
    # Labels: uncertain exactly when out of scope; in scope, the version's threshold (0.42) decides.
    out = ~scored["in_scope"]
    assert (scored.loc[out, "label"] == contract.VERDICT_UNCERTAIN).all()
    inside = scored[scored["in_scope"]]
    assert len(inside) >= 20, "the real essays are in scope"
    assert (
        inside["label"] == inside["probability_ai"].ge(0.42).map({True: "ai", False: "human"})
    ).all()
    assert set(scored.loc[out, "scope_reason"]) >= {"too_short", "not_english"}
    # Each row says which threshold judged it, as the API does (this version has only 0.42).
    assert list(scored.columns[1:]) == list(bulk_scoring.OUTPUT_COLUMNS)
    assert set(scored["threshold"]) == {0.42} and scored["threshold_domain"].isna().all()
    assert (home / "out" / "first" / bulk_scoring.SUMMARY_NAME).exists()


def test_resume_scores_only_missing_partitions_with_the_recorded_version(scoring_stack) -> None:
    from mlflow import MlflowClient

    from tests.support.model_fixtures import register_small_model

    home, version = scoring_stack["home"], scoring_stack["version"]
    run_score(home, "resumed")
    folder = home / "out" / "resumed"
    before = bulk_scoring.read_scored(str(folder))
    for name in ("part-000002.parquet", "part-000007.parquet"):
        (folder / name).unlink()  # as if the run had died before writing them
    # The alias moves in between: the resumed run keeps the version its manifest recorded.
    newer = register_small_model(contract.tracking_uri(), seed=3, alias=None)
    client = MlflowClient(contract.tracking_uri())
    client.set_registered_model_alias(contract.MODEL_NAME, contract.CHAMPION_ALIAS, newer)
    try:
        summary = run_score(home, "resumed")
    finally:
        client.set_registered_model_alias(contract.MODEL_NAME, contract.CHAMPION_ALIAS, version)
    after = bulk_scoring.read_scored(str(folder))

    assert summary["scored_now"] == 2 and summary["model_version"] == version
    pd.testing.assert_frame_equal(after, before)


def test_a_resume_with_other_parameters_is_refused(scoring_stack) -> None:
    home = scoring_stack["home"]
    run_score(home, "plan")
    with pytest.raises(bulk_scoring.ScoringPlanMismatch, match="rows_per_partition"):
        run_score(home, "plan", rows_per_partition=200)


@pytest.mark.parametrize(
    ("source", "output", "message"),
    [
        ("/etc", "x", "source"),
        ("in/batch", "../../elsewhere", "output"),
    ],
)
def test_paths_outside_the_configured_areas_are_refused(
    scoring_stack, source: str, output: str, message: str
) -> None:
    from model_orchestration.flows.score import score

    home = scoring_stack["home"]
    given_source = source if source.startswith("/") else str(home / source)
    with pytest.raises(UnsafeParameter, match=message):
        score(source=given_source, output=str(home / "out" / output), id_column="doc_id")


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"id_column": "id; DROP"}, "id_column"),
        ({"text_column": "x" * 129}, "text_column"),
        ({"id_column": "text"}, "differ"),
        ({"rows_per_partition": 10}, "rows_per_partition"),
    ],
)
def test_odd_columns_and_partition_sizes_are_refused(
    scoring_stack, parameters: dict[str, object], message: str
) -> None:
    with pytest.raises(UnsafeParameter, match=message):
        run_score(scoring_stack["home"], "odd", **parameters)


def test_an_empty_scheduler_address_means_no_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    from model_orchestration.settings import OrchestrationSettings

    monkeypatch.setenv("ORCHESTRATION_DASK_SCHEDULER_ADDRESS", "")
    assert OrchestrationSettings().dask_scheduler_address is None


def test_the_model_is_loaded_once_per_process_not_per_partition(scoring_stack) -> None:
    home = scoring_stack["home"]
    loads = bulk_scoring.model_loads
    run_score(home, "loads-a")
    run_score(home, "loads-b", rows_per_partition=100)
    assert bulk_scoring.model_loads == loads, "cached from the earlier tests of this module"
    bulk_scoring._MODELS.clear()
    run_score(home, "loads-c")
    assert bulk_scoring.model_loads == loads + 1


def test_plan_cuts_files_into_consecutive_ranges() -> None:
    plan = bulk_scoring.plan_partitions([("a", 5), ("b", 0), ("c", 2)], rows_per_partition=2)
    assert [(p.index, p.source_name, p.start, p.stop) for p in plan] == [
        (0, "a", 0, 2),
        (1, "a", 2, 4),
        (2, "a", 4, 5),
        (3, "c", 0, 2),
    ]

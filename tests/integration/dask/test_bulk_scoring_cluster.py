"""The ``score`` flow on a real Dask cluster: a scheduler and two workers over TCP on 127.0.0.1.

200,000 generated texts in 20 files (Parquet and CSV). Mid-run one worker is killed (SIGKILL of
its nanny and worker: no goodbye to the scheduler), later the flow process itself; running the
flow again with the same parameters finishes the run. The result must hold every input row
exactly once, in order, with the probabilities, labels and scope verdicts that scoring the same
texts in this process gives, and the surviving worker must have loaded the model once.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from model_orchestration import bulk_scoring
from model_orchestration.storage import area_from_uri
from model_registry import contract
from platform_processes import ServerProcess, commands, start_process
from platform_processes.launcher import wait_until
from tests.support.scoring_fixtures import generated_corpus, register_scoring_champion
from tests.unit.orchestration.conftest import prefect_harness  # noqa: F401  (fixture)

ROWS = 200_000
FILES = 20
ROWS_PER_PARTITION = 5_000
PARTITIONS = ROWS // ROWS_PER_PARTITION


@pytest.fixture(scope="module")
def platform_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("platform")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv("PLATFORM_HOME", str(home))
        mp.setenv("ORCHESTRATION_SCORE_INPUT_AREA", str(home / "in"))
        mp.setenv("ORCHESTRATION_SCORE_OUTPUT_AREA", str(home / "out"))
        mp.setenv("ORCHESTRATION_IO_RETRIES", "0")
        yield home


def kill_group(process: ServerProcess) -> None:
    """SIGKILL the process and its children (a worker's nanny and worker process die together)."""
    os.killpg(process.pid, signal.SIGKILL)
    process.process.wait(timeout=30)


def written(folder: Path) -> int:
    return len(bulk_scoring.written_partitions(area_from_uri(str(folder))))


@pytest.mark.usefixtures("prefect_harness")
def test_a_killed_worker_and_a_killed_flow_lose_nothing_and_duplicate_nothing(
    platform_home: Path, cluster: tuple[ServerProcess, list[ServerProcess]], server_logs: Path
) -> None:
    from prefect.settings import PREFECT_API_URL

    from model_orchestration.flows.score import score

    scheduler, (worker_a, worker_b) = cluster
    version = register_scoring_champion(contract.tracking_uri())
    corpus = generated_corpus(platform_home / "in" / "corpus", rows=ROWS, files=FILES)
    output = platform_home / "out" / "scored"
    env = {
        "PLATFORM_HOME": str(platform_home),
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "ORCHESTRATION_DASK_SCHEDULER_ADDRESS": scheduler.url,
    }
    args = [
        str(platform_home / "in" / "corpus"),
        str(output),
        "--id-column",
        "doc_id",
        "--rows-per-partition",
        str(ROWS_PER_PARTITION),
    ]
    flow_process = start_process(
        "score-flow",
        commands.python_module("model_orchestration.flows.score", *args),
        log_dir=server_logs,
        env=env,
        cwd=commands.REPO_ROOT,
    )
    try:
        wait_until(
            lambda: written(output) >= 4,
            timeout=240,
            what="first partitions",
            process=flow_process.process,
            log=flow_process.log,
        )
        kill_group(worker_a)
        killed_worker_at = written(output)
        wait_until(
            lambda: written(output) >= killed_worker_at + 6,
            timeout=240,
            what="partitions after the worker died",
            process=flow_process.process,
            log=flow_process.log,
        )
        kill_group(flow_process)
        killed_flow_at = written(output)
    finally:
        flow_process.stop()
    assert killed_flow_at < PARTITIONS, "the flow was killed before it finished"
    assert not (output / bulk_scoring.SUMMARY_NAME).exists()

    summary = score(
        source=args[0],
        output=args[1],
        id_column="doc_id",
        rows_per_partition=ROWS_PER_PARTITION,
    )
    assert summary["partitions"] == PARTITIONS
    # Resumed where it stopped: at most the one task still running on the surviving worker when
    # the flow died (its single thread cannot be interrupted) finished meanwhile.
    left_when_killed = PARTITIONS - killed_flow_at
    assert left_when_killed - 1 <= summary["scored_now"] <= left_when_killed

    assert not list(output.glob(".*.partial")), "temporary files of killed writers are gone"
    scored = bulk_scoring.read_scored(str(output))
    assert len(scored) == ROWS
    assert scored["doc_id"].tolist() == corpus["doc_id"].tolist(), "no gap, no duplicate"
    assert scored["prediction_id"].is_unique
    assert set(scored["model_version"]) == {version}

    model = bulk_scoring.worker_model(contract.tracking_uri(), contract.MODEL_NAME, version)
    expected = bulk_scoring.score_frame(model, corpus["text"].tolist())
    difference = np.abs(scored["probability_ai"].to_numpy() - expected["probability_ai"].to_numpy())
    assert difference.max() <= 1e-12
    assert scored["label"].tolist() == expected["label"].tolist()
    assert scored["in_scope"].tolist() == expected["in_scope"].tolist()
    assert set(scored["label"]) >= {contract.VERDICT_UNCERTAIN}

    from distributed import Client

    with Client(scheduler.url, timeout=10) as client:
        loads = client.run(lambda: bulk_scoring.model_loads)
    assert list(loads.values()) == [1], f"one surviving worker, one load: {loads}"
    assert worker_b.alive()

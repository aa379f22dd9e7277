"""Tuning wall time: the trials' fits in this process vs on a Dask cluster of 2 workers.

One candidate's Optuna search (``training._tune``: every trial a fit on the cached features, a
nested MLflow run, ask-and-tell) on the shipped essays' word TF-IDF features, run two ways on the
same matrices:

- ``in_process``: no scheduler address, the fits one after the other here (one core);
- ``dask_2``: ``dask_scheduler_address`` of a real ``dask scheduler`` with 2 single-threaded
  ``dask worker`` processes on 127.0.0.1: two trials at a time, the matrices sent to each worker
  once per candidate (inside the timed part: a real run pays it too).

The feature extraction (fitted once per candidate, shared by both) and the workers' first import
of the training code are outside the timed part.
The machine is shared: the two ways run interleaved in ``--repeats`` rounds and the median of
each is kept, with every round and the load average.

    uv run --frozen python bench/tune_cluster.py              # ~5 minutes on 2 cores
    uv run --frozen python bench/tune_cluster.py --rows 4000 --trials 4   # quicker
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402

from model_registry import contract, training  # noqa: E402
from model_registry.candidates import CANDIDATES, FEATURE_FACTORIES  # noqa: E402
from model_registry.settings import RegistrySettings  # noqa: E402
from platform_processes import ServerProcess, dask_cluster, stop_all  # noqa: E402

logger = logging.getLogger("bench.tune_cluster")
RESULTS = REPO / "bench" / "results" / "tune_cluster.json"


def word_matrices(rows: int) -> tuple[Any, np.ndarray, Any, np.ndarray]:
    """Word TF-IDF of a class-balanced sample of the essays: 80 % train, 20 % validation."""
    from tests.support.model_fixtures import sample

    frame = sample(rows, seed=7)
    cut = int(len(frame) * 0.8)
    train, validation = frame.iloc[:cut], frame.iloc[cut:]
    vectorizer = FEATURE_FACTORIES["word"]()
    x_train = vectorizer.fit_transform(train["text"].tolist())
    x_val = vectorizer.transform(validation["text"].tolist())
    return x_train, train["generated"].to_numpy(), x_val, validation["generated"].to_numpy()


def time_tuning(
    matrices: tuple[Any, np.ndarray, Any, np.ndarray],
    candidate: str,
    trials: int,
    address: str | None,
) -> tuple[float, float]:
    """Wall seconds of one ``_tune`` and the sum of its fits' seconds."""
    import mlflow

    settings = RegistrySettings(trials=trials, dask_scheduler_address=address)
    fit_seconds: list[float] = []
    started = time.perf_counter()
    with mlflow.start_run(run_name=f"bench-{address is not None}") as run:
        training._tune(CANDIDATES[candidate], *matrices, settings, lambda _: None)
        wall = time.perf_counter() - started
    run_id = run.info.run_id
    for child in mlflow.search_runs(
        filter_string=f"tags.mlflow.parentRunId = '{run_id}'", output_format="list"
    ):
        fit_seconds.append(float(child.data.metrics["fit_seconds"]))
    return wall, sum(fit_seconds)


def warm_up(scheduler: ServerProcess) -> None:
    """Every worker imports the training code (scikit-learn with it) outside the timed part, as
    a long-lived cluster would have done for the previous candidate."""
    import importlib

    from distributed import Client

    with Client(scheduler.url, timeout=30) as client:
        client.run(importlib.import_module, "model_registry.training")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=11_000)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--candidate", default="word_tfidf_lr", choices=sorted(CANDIDATES))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    with tempfile.TemporaryDirectory(prefix="bench-tune-") as tmp:
        home = Path(tmp)
        os.environ["PLATFORM_HOME"] = str(home)
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        os.environ.pop("ORCHESTRATION_DASK_SCHEDULER_ADDRESS", None)
        import mlflow

        mlflow.set_tracking_uri(contract.tracking_uri())
        mlflow.set_experiment("bench-tune-cluster")
        started = time.perf_counter()
        matrices = word_matrices(args.rows)
        feature_seconds = time.perf_counter() - started
        logger.info("features: %s in %.1fs", matrices[0].shape, feature_seconds)

        logs = home / "logs"
        env = {"PLATFORM_HOME": str(home), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        scheduler = dask_cluster.start_scheduler(logs)
        workers: list[ServerProcess] = []
        runs: dict[str, list[float]] = {"in_process": [], "dask_2": []}
        fits: dict[str, list[float]] = {"in_process": [], "dask_2": []}
        try:
            for name in ("w0", "w1"):
                workers.append(dask_cluster.start_worker(scheduler, name, logs, env=env))
            warm_up(scheduler)
            for round_number in range(args.repeats):
                for key, address in (("in_process", None), ("dask_2", scheduler.url)):
                    wall, fit_total = time_tuning(matrices, args.candidate, args.trials, address)
                    runs[key].append(round(wall, 2))
                    fits[key].append(round(fit_total, 2))
                logger.info("round %d: %s", round_number, {k: v[-1] for k, v in runs.items()})
        finally:
            stop_all([*workers, scheduler])

    in_process = statistics.median(runs["in_process"])
    on_cluster = statistics.median(runs["dask_2"])
    report = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "candidate": args.candidate,
        "trials": args.trials,
        "rows": args.rows,
        "train_matrix": list(matrices[0].shape),
        "feature_seconds_not_timed": round(feature_seconds, 1),
        "in_process": {
            "seconds_median": in_process,
            "runs_seconds": runs["in_process"],
            "fit_seconds_sum": fits["in_process"],
        },
        "dask_2": {
            "seconds_median": on_cluster,
            "runs_seconds": runs["dask_2"],
            "fit_seconds_sum": fits["dask_2"],
        },
        "speedup_dask_2_vs_in_process": round(in_process / on_cluster, 2),
        "note": "wall time of one candidate's search; dask_2 includes sending the matrices to "
        "each worker and the classifiers back; fit_seconds_sum is the sum of the trials' fit "
        "times where they ran (on a shared 2-core machine, contention stretches both)",
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    logger.info("summary: %s", json.dumps(report))


if __name__ == "__main__":
    main()

"""Tuning on a real Dask cluster: a scheduler and two workers over TCP on 127.0.0.1.

With ``dask_scheduler_address`` set, the Optuna trials' fits of a candidate run on the workers
(both get some), two at a time (one per worker thread); the trials are still logged as nested
MLflow runs by the tuning process, and the classifier returned is the kept trial's
(``trial_choice``), fitted on a worker exactly as it would be here. Without it, every fit runs
in this process, one at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from model_registry import contract, training
from model_registry.candidates import CANDIDATES, FEATURE_FACTORIES
from model_registry.settings import RegistrySettings
from platform_processes import ServerProcess
from tests.support.model_fixtures import sample

ROWS = 1_200
TRAIN_ROWS = 900
TRIALS = 5
CANDIDATE = "word_tfidf_lr"


@pytest.fixture(scope="module")
def platform_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("platform")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("ORCHESTRATION_DASK_SCHEDULER_ADDRESS", raising=False)
        mp.setenv("PLATFORM_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def matrices() -> tuple[Any, np.ndarray, Any, np.ndarray]:
    """Word TF-IDF of a small class-balanced sample: train and validation."""
    frame = sample(ROWS, seed=3)
    train, validation = frame.iloc[:TRAIN_ROWS], frame.iloc[TRAIN_ROWS:]
    vectorizer = FEATURE_FACTORIES["word"]()
    x_train = vectorizer.fit_transform(train["text"].tolist())
    x_val = vectorizer.transform(validation["text"].tolist())
    return x_train, train["generated"].to_numpy(), x_val, validation["generated"].to_numpy()


def tune(
    matrices: tuple[Any, np.ndarray, Any, np.ndarray], address: str | None, trials: int = TRIALS
) -> tuple[Any, dict[str, Any], int, list[str], list[str]]:
    """``_tune`` under a parent MLflow run: the classifier, its parameters, the trial count, the
    progress lines and the names of the nested trial runs."""
    import mlflow

    mlflow.set_tracking_uri(contract.tracking_uri())
    mlflow.set_experiment("tuning-cluster")
    x_train, y_train, x_val, y_val = matrices
    settings = RegistrySettings(trials=trials, dask_scheduler_address=address)
    said: list[str] = []
    with mlflow.start_run(run_name=f"tune-{address is not None}") as parent:
        classifier, params, n_trials = training._tune(
            CANDIDATES[CANDIDATE], x_train, y_train, x_val, y_val, settings, said.append
        )
    children = mlflow.search_runs(
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'", output_format="list"
    )
    return classifier, params, n_trials, said, sorted(r.info.run_name for r in children)


def test_without_a_cluster_every_fit_runs_here_one_at_a_time(
    platform_home: Path, matrices: tuple[Any, np.ndarray, Any, np.ndarray]
) -> None:
    before = training.trial_fits
    _, _, n_trials, said, runs = tune(matrices, None)
    assert n_trials == TRIALS
    assert training.trial_fits - before == TRIALS
    assert runs == sorted(f"{CANDIDATE}-trial-{n}" for n in range(TRIALS))
    assert said[0].startswith(f"    trial 1/{TRIALS}: {CANDIDATES[CANDIDATE].default_params}")


@pytest.mark.parametrize("trials", [1, 2])
def test_a_search_of_one_or_two_trials_runs_them_all(
    platform_home: Path, matrices: tuple[Any, np.ndarray, Any, np.ndarray], trials: int
) -> None:
    """The enqueued default trial is in ``study.trials`` before it is asked: counting it as
    done once ran no trial at all with ``REGISTRY_TRIALS=1``."""
    before = training.trial_fits
    classifier, params, n_trials, _, runs = tune(matrices, None, trials)
    assert n_trials == trials and training.trial_fits - before == trials
    assert len(runs) == trials and classifier is not None and params


def test_with_a_cluster_the_fits_run_on_both_workers(
    platform_home: Path,
    cluster: tuple[ServerProcess, list[ServerProcess]],
    matrices: tuple[Any, np.ndarray, Any, np.ndarray],
) -> None:
    from distributed import Client

    scheduler, _ = cluster
    local_classifier, _, _, local_said, _ = tune(matrices, None)
    before = training.trial_fits

    classifier, params, n_trials, said, runs = tune(matrices, scheduler.url)

    assert n_trials == TRIALS
    assert training.trial_fits == before, "no fit ran in the tuning process"
    with Client(scheduler.url, timeout=10) as client:
        fits = client.run(lambda: training.trial_fits)
    assert sum(fits.values()) == TRIALS, fits
    assert len(fits) == 2 and min(fits.values()) >= 1, f"both workers fit trials: {fits}"
    assert runs == sorted(f"{CANDIDATE}-trial-{n}" for n in range(TRIALS))
    # The first trial is the candidate's default parameters either way: same fit, same score.
    assert said[0] == local_said[0]
    # The classifier came back from a worker: the same as fitting its parameters here.
    x_train, y_train, x_val, _ = matrices
    here = CANDIDATES[CANDIDATE].make_classifier(params, RegistrySettings().seed)
    here.fit(x_train, y_train)
    assert np.abs(classifier.predict_proba(x_val) - here.predict_proba(x_val)).max() <= 1e-12
    assert local_classifier is not classifier


def test_the_workers_run_without_dasks_malloc_trim_threshold(
    cluster: tuple[ServerProcess, list[ServerProcess]],
) -> None:
    """The nanny's default ``MALLOC_TRIM_THRESHOLD_`` switches glibc's dynamic mmap threshold off
    (scoring paid 11-16 % more CPU); the workers start without it, keeping the thread caps."""
    from distributed import Client

    def environment() -> dict[str, str | None]:
        import os

        return {
            name: os.environ.get(name) for name in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")
        }

    scheduler, _ = cluster
    with Client(scheduler.url, timeout=30) as client:
        seen = client.run(environment)
    assert len(seen) == 2
    for worker, variables in seen.items():
        assert variables == {"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1"}, worker

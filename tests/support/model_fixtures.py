"""Small, fast champions for the tests of the services that consume the registry.

Serving, monitoring and frontend tests need *a* real registered model that honours
``docs/CONTRACTS.md`` (sklearn Pipeline, cloudpickle, version tags, reference profile); they do not
need the full tuned training run, which the registry's own integration tests and the e2e loop
exercise. ``register_small_model`` trains a word TF-IDF + logistic regression on a sample of the
shipped corpus in a couple of seconds and registers it exactly as the contract says.
"""

from __future__ import annotations

import gzip
import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from model_registry import contract

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

CORPUS = Path(__file__).resolve().parents[2] / "data" / "ai_human_essays.csv.gz"


@cache
def corpus() -> pd.DataFrame:
    """The shipped corpus (11,746 rows), read once per process."""
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        return pd.read_csv(fh)


def sample(n: int, seed: int = 0) -> pd.DataFrame:
    """A class-balanced random sample of ``n`` rows of the corpus."""
    df = corpus()
    per_class = n // 2
    parts = [df[df["generated"] == label].sample(per_class, random_state=seed) for label in (0, 1)]
    return pd.concat(parts).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def small_pipeline(texts: list[str], labels: list[int], *, c: float = 4.0) -> Pipeline:
    """A word 1-2-gram TF-IDF + logistic regression fitted on ``texts``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    pipeline = Pipeline(
        [
            (
                "tfidf",
                TfidfVectorizer(
                    ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=50_000
                ),
            ),
            ("clf", LogisticRegression(C=c, max_iter=1000)),
        ]
    )
    pipeline.fit(texts, labels)
    return pipeline


def register_small_model(
    tracking_uri: str,
    *,
    n_train: int = 600,
    seed: int = 0,
    alias: str | None = contract.CHAMPION_ALIAS,
    threshold: float = 0.5,
    model_name: str = contract.MODEL_NAME,
    pipeline=None,
) -> str:
    """Train (or take) a pipeline, log and register it per the contract; return the version.

    With ``alias`` set the alias is moved to the new version (as a passing gate would).
    """
    from model_monitoring.profile import build_reference_profile

    data = sample(n_train + 200, seed=seed)
    train, reference = data.iloc[:n_train], data.iloc[n_train:]
    if pipeline is None:
        pipeline = small_pipeline(train["text"].tolist(), train["generated"].tolist())
    probabilities = pipeline.predict_proba(reference["text"].tolist())[:, 1]
    predictions = (probabilities >= threshold).astype(int)
    f1 = _f1(reference["generated"].to_numpy(), predictions)
    profile = build_reference_profile(
        train["text"].tolist(),
        reference["text"].tolist(),
        probabilities.tolist(),
        threshold=threshold,
    )

    tags = {
        contract.VersionTag.THRESHOLD: str(threshold),
        contract.VersionTag.DATASET_DIGEST: f"test-fixture-{seed}-{n_train}",
        contract.VersionTag.CANDIDATE: "test_fixture_word_tfidf_lr",
        contract.VersionTag.TEST_METRIC_PREFIX + "f1": f"{f1:.4f}",
        contract.VersionTag.GATE_DECISION: "promoted" if alias else "not_run",
    }
    return log_and_register(
        tracking_uri, pipeline, profile, model_name=model_name, tags=tags, alias=alias
    )


def log_and_register(
    tracking_uri: str,
    pipeline,
    profile,
    *,
    model_name: str,
    tags: dict[str, str],
    alias: str | None,
    experiment_id: str | None = None,
    pyfunc_predict_fn: str = "predict",
) -> str:
    """Log ``pipeline`` (cloudpickle) and its reference profile in one run, register it, tag the
    version and move ``alias`` to it (if given); return the version.

    The run goes to ``experiment_id``, or to the contract's experiment when None.
    """
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)  # the registry URI is global too
    if experiment_id is None:
        experiment_id = mlflow.set_experiment(contract.EXPERIMENT_NAME).experiment_id
    with mlflow.start_run(experiment_id=experiment_id, run_name="test-fixture-model") as run:
        mlflow.sklearn.log_model(
            pipeline,
            name=contract.MODEL_ARTIFACT_PATH,
            serialization_format="cloudpickle",
            pyfunc_predict_fn=pyfunc_predict_fn,
            pip_requirements=["scikit-learn", "cloudpickle"],
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "reference_profile.json"
            path.write_text(profile.to_json())
            mlflow.log_artifact(str(path), artifact_path="monitoring")
    client = MlflowClient(tracking_uri)
    version = mlflow.register_model(
        f"runs:/{run.info.run_id}/{contract.MODEL_ARTIFACT_PATH}", model_name
    ).version
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, value)
    if alias:
        client.set_registered_model_alias(model_name, alias, version)
    return str(version)


def _f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    tp = float(((y_true == 1) & (y_pred == 1)).sum())
    fp = float(((y_true == 0) & (y_pred == 1)).sum())
    fn = float(((y_true == 1) & (y_pred == 0)).sum())
    return 2 * tp / max(2 * tp + fp + fn, 1.0)

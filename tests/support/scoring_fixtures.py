"""Inputs and a champion for the bulk-scoring tests and benchmark (``score`` flow).

``register_scoring_champion`` registers the small test model with a scope reference (so that the
novelty check runs too); ``generated_corpus`` writes any number of short generated texts (a mix of
lengths around the scope's minimum, some non-English) as Parquet and CSV files.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from model_registry import contract
from tests.support.model_fixtures import register_small_model, sample

VOCABULARY = (
    "the of and to in that it is was for on are with as his they be at one have this from by "
    "hot word but what some we can out other were all there when up use your how said an each "
    "she which do their time if will way about many then them write would like so these her "
    "long make thing see him two has look more day could go come did number sound no most "
    "people my over know water than call first who may down side been now find any new work "
    "part take get place made live where after back little only round man year came show "
    "every good me give our under name very through just form sentence great think say help "
    "low line differ turn cause much mean before move right boy old too same tell does set "
    "three want air well also "
)
WORDS = tuple(VOCABULARY.split())
#: Long enough for the length check (``scope.DEFAULT_MIN_CHARS``), so the language check decides.
FOREIGN = " ".join(
    ["Der schnelle braune Fuchs springt über den faulen Hund und läuft in den Wald hinein."] * 6
)


def register_scoring_champion(tracking_uri: str, *, seed: int = 0) -> str:
    """The small test model as ``@champion``, with a scope reference on its run."""
    import mlflow
    from mlflow import MlflowClient

    from model_monitoring.scope import build_scope_reference

    version = register_small_model(tracking_uri, seed=seed, threshold=0.42)
    client = MlflowClient(tracking_uri)
    run_id = client.get_model_version(contract.MODEL_NAME, version).run_id
    texts = sample(300, seed=seed + 7)["text"].tolist()
    reference = build_scope_reference(texts, [contract.DEFAULT_DOMAIN] * len(texts))
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)  # the registry URI is global too
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(contract.SCOPE_REFERENCE_ARTIFACT).name
        path.write_text(reference.to_json())
        client.log_artifact(run_id, str(path), str(Path(contract.SCOPE_REFERENCE_ARTIFACT).parent))
    return version


def generated_texts(n: int, seed: int) -> list[str]:
    """``n`` texts of 20-120 words from a fixed vocabulary; every 50th is not English."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(20, 120, size=n)
    picks = rng.integers(0, len(WORDS), size=int(lengths.sum()))
    texts, at = [], 0
    for i, length in enumerate(lengths):
        words = [WORDS[j] for j in picks[at : at + length]]
        at += length
        texts.append(FOREIGN if i % 50 == 49 else " ".join(words).capitalize() + ".")
    return texts


def generated_corpus(folder: Path, rows: int, files: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` texts spread over ``files`` files (Parquet, every third one CSV); return all rows
    (columns ``doc_id, text``) in file order."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        {"doc_id": [f"doc-{i:08d}" for i in range(rows)], "text": generated_texts(rows, seed)}
    )
    for number, part in enumerate(np.array_split(np.arange(rows), files)):
        chunk = frame.iloc[part]
        if number % 3 == 2:
            chunk.to_csv(folder / f"texts-{number:03d}.csv", index=False)
        else:
            chunk.to_parquet(folder / f"texts-{number:03d}.parquet", index=False)
    return frame

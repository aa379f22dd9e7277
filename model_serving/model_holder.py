"""The model being served: load ``models:/NAME@ALIAS``, check it, swap it in, keep polling.

``ModelHolder.current`` is the ``LoadedModel`` in use (``None`` until a first version loads); it is
replaced by one attribute assignment, so a request that took a reference keeps a consistent model
for its whole life and no request ever sees a half-loaded one. A background thread resolves the
alias every ``poll_interval`` seconds (with doubling backoff while nothing could be loaded);
``check_now`` does the same on demand (``POST /admin/reload``). A new version is loaded, warmed up
and checked on built-in texts (shape, finite probabilities in [0, 1]) before the swap; a version
that fails is refused, counted, remembered (not retried until the alias moves or a forced
reload) and the old one keeps serving.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from model_monitoring.profile import ReferenceProfile
from model_registry import contract
from model_registry.linear_scorer import MAX_ABS_DIFFERENCE, LinearTextScorer, compile_linear_scorer
from model_serving.examples import CHECK_TEXTS
from model_serving.explain import Explainer

logger = logging.getLogger(__name__)
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class VersionInfo:
    """A registered model version as resolved from the alias."""

    name: str
    alias: str
    version: str
    run_id: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadedArtifacts:
    pipeline: Any
    #: The pyfunc ``predict_fn`` the version was logged with (``/invocations`` default output).
    pyfunc_predict_fn: str = "predict"
    reference_profile: ReferenceProfile | None = None


class ModelSource(Protocol):
    """Where versions come from (MLflow in production, a fake in unit tests)."""

    def resolve(self, name: str, alias: str) -> VersionInfo: ...

    def load(self, info: VersionInfo) -> LoadedArtifacts: ...


class ModelRejected(Exception):
    """A loaded version failed its checks; it will not be served."""


@dataclass(frozen=True)
class LoadedModel:
    """A version that passed its checks, with what the API exposes about it."""

    info: VersionInfo
    pipeline: Any
    threshold: float
    metrics: dict[str, float]
    dataset_digest: str | None
    loaded_at: datetime
    pyfunc_predict_fn: str
    reference_profile: ReferenceProfile | None
    explainer: Explainer
    positive_column: int
    #: The pipeline compiled to arrays (``linear_scorer``), or ``None``: the pipeline scores.
    scorer: LinearTextScorer | None = None

    @property
    def version(self) -> str:
        return self.info.version

    @property
    def scoring(self) -> str:
        """How texts are scored: ``compiled`` (exact, faster) or ``pipeline``."""
        return "pipeline" if self.scorer is None else "compiled"

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """P(AI) for each text."""
        scorer = self.scorer if self.scorer is not None else self.pipeline
        return np.asarray(scorer.predict_proba(texts))[:, self.positive_column]

    def label(self, probability: float) -> str:
        return contract.LABEL_NAMES[
            contract.LABEL_AI if probability >= self.threshold else contract.LABEL_HUMAN
        ]


@dataclass(frozen=True)
class CheckResult:
    outcome: str  # unchanged | loaded | refused | error | unavailable
    version: str | None
    reason: str = ""


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
    threshold = _threshold(info.tags)
    texts = list(CHECK_TEXTS)
    try:
        for _ in range(2):  # warm-up: first calls pay for lazy initialisation
            raw = np.asarray(pipeline.predict_proba(texts), dtype=float)
        single = np.asarray(pipeline.predict_proba(texts[:1]), dtype=float)
    except Exception as exc:
        raise ModelRejected(f"predict_proba failed on the check texts: {_short(exc)}") from exc
    if raw.shape != (len(texts), 2) or single.shape != (1, 2):
        raise ModelRejected(f"predict_proba returned shape {raw.shape}, expected ({len(texts)}, 2)")
    if not np.all(np.isfinite(raw)) or raw.min() < 0 or raw.max() > 1:
        raise ModelRejected("predict_proba returned values outside [0, 1] or not finite")
    if not np.allclose(raw.sum(axis=1), 1.0, atol=1e-6):
        raise ModelRejected("predict_proba rows do not sum to 1")
    if not math.isclose(float(single[0, 1]), float(raw[0, 1]), abs_tol=1e-6):
        raise ModelRejected("a text scored alone differs from the same text in a batch")
    scorer = _checked_scorer(pipeline, texts, raw) if compile_scorer else None
    explainer = Explainer(pipeline)
    _ = explainer.method  # computes feature names now rather than on the first explain request
    metrics = {
        key.removeprefix(contract.VersionTag.TEST_METRIC_PREFIX): _float(value)
        for key, value in info.tags.items()
        if key.startswith(contract.VersionTag.TEST_METRIC_PREFIX) and _float(value) is not None
    }
    return LoadedModel(
        info=info,
        pipeline=pipeline,
        threshold=threshold,
        metrics=metrics,  # type: ignore[arg-type]
        dataset_digest=info.tags.get(contract.VersionTag.DATASET_DIGEST),
        loaded_at=datetime.now(UTC),
        pyfunc_predict_fn=artifacts.pyfunc_predict_fn,
        reference_profile=artifacts.reference_profile,
        explainer=explainer,
        positive_column=classes.index(contract.LABEL_AI),
        scorer=scorer,
    )


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


class ModelHolder:
    """Holds the served model and keeps it in step with the registry alias."""

    def __init__(
        self,
        source: ModelSource,
        *,
        name: str,
        alias: str,
        poll_interval: float,
        retry_min: float = 1.0,
        retry_max: float = 30.0,
        on_swap: tuple[Callable[[LoadedModel | None, LoadedModel], None], ...] = (),
        on_reload: Callable[[str], None] = lambda result: None,
        compile_scorer: bool = True,
    ) -> None:
        self.source = source
        self.name = name
        self.alias = alias
        self.poll_interval = poll_interval
        self.retry_min = retry_min
        self.retry_max = retry_max
        self._on_swap = on_swap
        self._on_reload = on_reload
        self.compile_scorer = compile_scorer
        self.current: LoadedModel | None = None
        self.reason = "no model loaded yet"
        self.refused: dict[str, str] = {}
        self._check_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._first_attempt = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="model-holder", daemon=True)
        self._thread.start()

    def wait_first_attempt(self, timeout: float) -> bool:
        """Block until the first load attempt ended (loaded or not) or ``timeout``; True if ended.

        The app's startup waits on this, so that a worker accepts connections only once it has
        tried to load the champion: with several workers sharing one socket, no worker answers
        503 while another one is already serving.
        """
        return self._first_attempt.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        backoff = self.retry_min
        while not self._stop.is_set():
            result = self.check_now()
            self._first_attempt.set()
            if self.current is None and result.outcome != "loaded":
                delay, backoff = backoff, min(backoff * 2, self.retry_max)
            else:
                delay, backoff = self.poll_interval, self.retry_min
            self._wake.wait(delay)
            self._wake.clear()

    # --- checks --------------------------------------------------------------------------

    def check_now(self, *, force: bool = False) -> CheckResult:
        """Resolve the alias and load the version it points at if it is new.

        ``force`` forgets previously refused versions so they are tried again.
        """
        with self._check_lock:
            if force:
                self.refused.clear()
            return self._check()

    def _check(self) -> CheckResult:
        try:
            info = self.source.resolve(self.name, self.alias)
        except Exception as exc:
            reason = f"cannot resolve {self.name}@{self.alias}: {_short(exc)}"
            logger.warning("%s", reason)
            if self.current is None:
                self.reason = reason
            return CheckResult("unavailable", None, reason)
        current = self.current
        if current is not None and current.version == info.version:
            return CheckResult("unchanged", info.version)
        if info.version in self.refused:
            reason = f"version {info.version} was refused: {self.refused[info.version]}"
            if current is None:
                self.reason = reason
            return CheckResult("refused", info.version, reason)
        logger.info("loading %s version %s (run %s)", info.name, info.version, info.run_id)
        try:
            artifacts = self.source.load(info)
        except Exception as exc:
            reason = f"version {info.version} could not be loaded: {_short(exc)}"
            logger.error("%s", reason)
            self._on_reload("error")
            if current is None:
                self.reason = reason
            return CheckResult("error", info.version, reason)
        try:
            loaded = build_loaded_model(info, artifacts, compile_scorer=self.compile_scorer)
        except ModelRejected as exc:
            reason = str(exc)
            logger.error("refusing version %s: %s", info.version, reason)
            self.refused[info.version] = reason
            self._on_reload("refused")
            if current is None:
                self.reason = f"version {info.version} was refused: {reason}"
            return CheckResult("refused", info.version, reason)
        for callback in self._on_swap:
            try:
                callback(current, loaded)
            except Exception:
                logger.exception("model swap callback failed")
        self.current = loaded
        self.reason = ""
        self._on_reload("success")
        logger.info(
            "serving %s version %s (threshold %.4f, run %s)",
            info.name,
            info.version,
            loaded.threshold,
            info.run_id,
        )
        return CheckResult("loaded", info.version)


class MlflowModelSource:
    """Resolve aliases and load versions from the MLflow registry at ``tracking_uri``.

    MLflow's HTTP client retries for minutes by default; unless the environment says otherwise
    the retries are capped here so that a down registry shows up as a quick, retried failure
    (the holder retries with its own backoff). Download progress bars are switched off.
    """

    def __init__(self, tracking_uri: str) -> None:
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        from mlflow import MlflowClient

        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def resolve(self, name: str, alias: str) -> VersionInfo:
        version = self.client.get_model_version_by_alias(name, alias)
        return VersionInfo(
            name=name,
            alias=alias,
            version=str(version.version),
            run_id=str(version.run_id or ""),
            tags=dict(version.tags or {}),
        )

    def load(self, info: VersionInfo) -> LoadedArtifacts:
        import mlflow
        import mlflow.sklearn
        from mlflow.models import Model

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        with tempfile.TemporaryDirectory(prefix="serving-model-") as tmp:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{info.name}/{info.version}", dst_path=tmp
            )
            pipeline = mlflow.sklearn.load_model(local)
            pyfunc = Model.load(local).flavors.get("python_function", {})
            predict_fn = str(pyfunc.get("predict_fn") or "predict")
        return LoadedArtifacts(
            pipeline=pipeline,
            pyfunc_predict_fn=predict_fn,
            reference_profile=self._reference_profile(info),
        )

    def _reference_profile(self, info: VersionInfo) -> ReferenceProfile | None:
        import mlflow

        if not info.run_id:
            return None
        try:
            with tempfile.TemporaryDirectory(prefix="serving-profile-") as tmp:
                path = mlflow.artifacts.download_artifacts(
                    run_id=info.run_id,
                    artifact_path=contract.REFERENCE_PROFILE_ARTIFACT,
                    dst_path=tmp,
                    tracking_uri=self.tracking_uri,
                )
                with open(path, encoding="utf-8") as fh:
                    return ReferenceProfile.from_json(fh.read())
        except Exception as exc:
            logger.warning(
                "version %s has no usable reference profile (%s); drift disabled for it",
                info.version,
                _short(exc),
            )
            return None


def _threshold(tags: dict[str, str]) -> float:
    raw = tags.get(contract.VersionTag.THRESHOLD)
    if raw is None:
        logger.warning("version has no %s tag; using %.2f", contract.VersionTag.THRESHOLD, 0.5)
        return DEFAULT_THRESHOLD
    value = _float(raw)
    if value is None or not 0.0 <= value <= 1.0:
        raise ModelRejected(f"threshold tag {raw!r} is not a number in [0, 1]")
    return value


def _float(value: str) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300]

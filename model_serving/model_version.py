"""What a served model version is: as resolved from the registry, as loaded, as checked.

Value types only (no I/O): ``VersionInfo`` (the alias resolved), ``LoadedArtifacts`` (what a
``ModelSource`` loads for it), ``LoadedModel`` (a version that passed its load-time checks, with
what the API says about it) and ``CheckResult`` (the outcome of one alias check).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from model_monitoring.profile import ReferenceProfile
from model_monitoring.scope import ScopeChecker, ScopeReference, ScopeVerdict
from model_registry.linear_scorer import LinearTextScorer
from model_registry.operating_thresholds import OperatingThresholds, RoutedThreshold
from model_serving.explain import Explainer


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
    #: What the scope checks compare a text with (run artifact ``SCOPE_REFERENCE_ARTIFACT``);
    #: ``None`` for versions logged before it existed: only the length and language checks run.
    scope_reference: ScopeReference | None = None
    #: The run's per-domain evaluation (``EVALUATION_BY_DOMAIN_ARTIFACT``), shown as it is.
    evaluation: dict[str, Any] | None = None


class ModelSource(Protocol):
    """Where versions come from (MLflow in production, a fake in unit tests)."""

    def resolve(self, name: str, alias: str) -> VersionInfo: ...

    def load(self, info: VersionInfo) -> LoadedArtifacts: ...


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
    #: Says whether a text is in the model's scope (built from the version's scope reference).
    scope: ScopeChecker
    #: The global and per-domain thresholds (``threshold`` is the global one).
    thresholds: OperatingThresholds
    evaluation: dict[str, Any] | None = None
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

    def assess_scope(self, texts: list[str]) -> list[ScopeVerdict]:
        """One scope verdict per text (see ``model_monitoring.scope``)."""
        return self.scope.assess(texts)

    def route(self, verdicts: list[ScopeVerdict]) -> list[RoutedThreshold]:
        """The threshold of each text, picked from its scope verdict (its routed domain); the
        one routing function of ``model_registry.operating_thresholds``."""
        return self.thresholds.route_all(verdicts)


@dataclass(frozen=True)
class CheckResult:
    outcome: str  # unchanged | loaded | refused | error | unavailable
    version: str | None
    reason: str = ""

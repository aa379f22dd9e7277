"""Decision thresholds per domain, and the one function that picks a text's threshold.

A version keeps one threshold per training domain with enough human validation rows (the lowest
whose false-positive rate on that domain's human rows is at most the FPR target), and a global
fallback: the strictest of the overall one and every domain's, also holding the target for the
human validation texts it judges (``domain_evaluation.select_operating_thresholds``). Trained
with cross-fitting (``cross_fitted_folds``), each also holds the target on the training split's
human texts scored by models that never saw them, and a domain with enough of those has a
threshold of its own (``cross_fitting``). They are
recorded as the version tag ``operating_thresholds`` (JSON, ``OperatingThresholds.to_json``); a
version without that tag (trained before it existed) has only its ``threshold`` tag, the global
one.

At prediction time the true domain of a text is unknown. ``route`` picks the threshold from
what the model can see: the scope checks' domain of the text (``ScopeVerdict.domain``: the word
classifier stored in the version's scope reference, ``ROUTER_WORD_CLASSIFIER``; for versions
trained before it, the nearest style profile, ``ROUTER_NEAREST_STYLE_PROFILE``). An out-of-scope
text, a text judged without a scope reference, a text the word classifier cannot place with
confidence (``DomainRouter.min_confidence``), or a text routed to a domain without a threshold of
its own gets the global (strictest) threshold. Serving (``/v1/predict``, ``/invocations``), bulk
scoring and the evaluation of the test split all call ``route``, and ``served_verdict``
turns a probability, its scope verdict and its route into the answer; the probabilities are
never changed.

Standard library only, so that serving and the orchestration workers import it without the
training dependencies.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from model_registry import contract

OPERATING_THRESHOLDS_FORMAT = 1
#: How a text is routed to a domain (recorded with the thresholds).
ROUTER_NEAREST_STYLE_PROFILE = "nearest_style_profile"
#: The scope reference's word classifier (``model_monitoring.domain_router``).
ROUTER_WORD_CLASSIFIER = "word_classifier"
ROUTERS = (ROUTER_NEAREST_STYLE_PROFILE, ROUTER_WORD_CLASSIFIER)
#: Longest ``operating_thresholds`` tag accepted when loading (a tag is small: ~100 bytes a domain).
MAX_TAG_CHARS = 20_000
MAX_DOMAINS = 200
#: Threshold of a version that records none (very old versions).
DEFAULT_THRESHOLD = 0.5


class RoutableVerdict(Protocol):
    """What routing reads of a scope verdict (``model_monitoring.scope.ScopeVerdict``)."""

    @property
    def in_scope(self) -> bool: ...

    @property
    def domain(self) -> str | None: ...


class ScopedVerdict(RoutableVerdict, Protocol):
    """What ``served_verdict`` also reads: why a text is out of scope."""

    @property
    def reason(self) -> str | None: ...


@dataclass(frozen=True)
class DomainThreshold:
    """One domain's threshold and what it achieved on validation (rates ``None`` when unknown)."""

    threshold: float
    n_human: int = 0
    val_fpr_human: float | None = None
    val_tpr_ai: float | None = None
    #: Below this a text is called human; in ``[human_below, threshold)`` "uncertain" (``None``:
    #: no band, every text below the threshold is called human).
    human_below: float | None = None
    #: Share of the validation texts the band left unanswered ("uncertain").
    val_uncertain_share: float | None = None
    #: Human training texts scored by models that never saw them (``cross_fitting``), and the
    #: share of them at or above the threshold (``None``: not cross-fitted).
    cross_fitted_n_human: int | None = None
    cross_fitted_fpr_human: float | None = None

    def __post_init__(self) -> None:
        if self.human_below is not None and self.human_below > self.threshold:
            raise ValueError(
                f"human_below {self.human_below} is above the threshold {self.threshold}"
            )


@dataclass(frozen=True)
class RoutedThreshold:
    """The threshold applied to one text, and the domain it belongs to (``None``: global)."""

    threshold: float
    domain: str | None
    human_below: float | None = None

    def is_too_close_to_call(self, probability: float) -> bool:
        """Whether ``probability`` falls in the band between ``human_below`` and the threshold."""
        return self.human_below is not None and self.human_below <= probability < self.threshold


@dataclass(frozen=True)
class ServedVerdict:
    """What the API answers for one text: ``label`` is "ai", "human" or "uncertain"."""

    label: str
    in_scope: bool
    reason: str | None


def model_label(probability: float, threshold: float) -> str:
    """The model's own label at ``threshold`` ("ai" at or above it), whatever the scope."""
    return contract.LABEL_NAMES[
        contract.LABEL_AI if probability >= threshold else contract.LABEL_HUMAN
    ]


def served_verdict(
    probability: float, scope: ScopedVerdict | None, routed: RoutedThreshold
) -> ServedVerdict:
    """The answer for one text: "uncertain" out of scope (the scope check's reason) or too close
    to call (``LOW_CONFIDENCE``), else the model's label at the routed threshold."""
    if scope is not None and not scope.in_scope:
        return ServedVerdict(contract.VERDICT_UNCERTAIN, False, scope.reason)
    if routed.is_too_close_to_call(probability):
        return ServedVerdict(contract.VERDICT_UNCERTAIN, False, contract.ScopeReason.LOW_CONFIDENCE)
    return ServedVerdict(model_label(probability, routed.threshold), True, None)


@dataclass(frozen=True)
class OperatingThresholds:
    """A version's operating point: the global fallback and the per-domain thresholds."""

    global_threshold: DomainThreshold
    domains: dict[str, DomainThreshold] = field(default_factory=dict)
    fpr_target: float | None = None
    min_human: int | None = None
    ai_miss_target: float | None = None
    router: str = ROUTER_NEAREST_STYLE_PROFILE
    #: Folds of the cross-fitted training scores the thresholds also hold (``None``: none).
    cross_fitted_folds: int | None = None
    format_version: int = OPERATING_THRESHOLDS_FORMAT

    @classmethod
    def global_only(cls, threshold: float) -> OperatingThresholds:
        """A version recorded before per-domain thresholds existed: one threshold for all."""
        return cls(global_threshold=DomainThreshold(threshold=_checked(threshold, "threshold")))

    @property
    def threshold(self) -> float:
        """The global (strictest) threshold: the version's ``threshold`` tag."""
        return self.global_threshold.threshold

    def route(self, verdict: RoutableVerdict | None) -> RoutedThreshold:
        """The threshold for one text, from its scope verdict (see the module docstring)."""
        fallback = RoutedThreshold(self.threshold, None, self.global_threshold.human_below)
        if verdict is None or not verdict.in_scope or verdict.domain is None:
            return fallback
        own = self.domains.get(verdict.domain)
        if own is None:
            return fallback
        return RoutedThreshold(own.threshold, verdict.domain, own.human_below)

    def route_all(self, verdicts: Sequence[RoutableVerdict | None]) -> list[RoutedThreshold]:
        return [self.route(verdict) for verdict in verdicts]

    def to_dict(self) -> dict[str, Any]:
        out = {
            "format_version": self.format_version,
            "fpr_target": self.fpr_target,
            "min_human": self.min_human,
            "ai_miss_target": self.ai_miss_target,
            "router": self.router,
            "global": _domain_dict(self.global_threshold),
            "domains": {name: _domain_dict(d) for name, d in sorted(self.domains.items())},
        }
        if self.cross_fitted_folds is not None:  # versions without it keep their old document
            out["cross_fitted_folds"] = self.cross_fitted_folds
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OperatingThresholds:
        if data.get("format_version") != OPERATING_THRESHOLDS_FORMAT:
            raise ValueError(f"unsupported thresholds format {data.get('format_version')!r}")
        domains = data.get("domains") or {}
        if not isinstance(domains, Mapping) or len(domains) > MAX_DOMAINS:
            raise ValueError("thresholds 'domains' must be an object of at most 200 domains")
        target = data.get("fpr_target")
        min_human = data.get("min_human")
        miss = data.get("ai_miss_target")
        folds = data.get("cross_fitted_folds")
        router = data.get("router", ROUTER_NEAREST_STYLE_PROFILE)
        if router not in ROUTERS:
            raise ValueError(f"unknown router {router!r}")
        return cls(
            global_threshold=_domain_from(data.get("global"), "global"),
            domains={str(name): _domain_from(value, str(name)) for name, value in domains.items()},
            fpr_target=None if target is None else _checked(target, "fpr_target"),
            min_human=None if min_human is None else int(min_human),
            ai_miss_target=None if miss is None else _checked(miss, "ai_miss_target"),
            router=router,
            cross_fitted_folds=None if folds is None else int(folds),
        )

    @classmethod
    def from_json(cls, text: str) -> OperatingThresholds:
        if len(text) > MAX_TAG_CHARS:
            raise ValueError("thresholds document too long")
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError("thresholds document must be a JSON object")
        return cls.from_dict(value)


def version_thresholds(tags: Mapping[str, str]) -> OperatingThresholds:
    """A registered version's thresholds from its tags: the ``operating_thresholds`` tag, or for
    a version without it the ``threshold`` tag alone (0.5 without either). ``ValueError`` when a
    tag is present but unusable."""
    recorded = tags.get(contract.VersionTag.OPERATING_THRESHOLDS)
    if recorded is not None:
        return OperatingThresholds.from_json(recorded)
    raw = tags.get(contract.VersionTag.THRESHOLD)
    return OperatingThresholds.global_only(DEFAULT_THRESHOLD if raw is None else float(raw))


def _domain_dict(domain: DomainThreshold) -> dict[str, Any]:
    out: dict[str, Any] = {
        "threshold": round(domain.threshold, 6),
        "n_human": domain.n_human,
        "val_fpr_human": _rounded(domain.val_fpr_human),
        "val_tpr_ai": _rounded(domain.val_tpr_ai),
    }
    if domain.human_below is not None:  # versions without a band keep their old document
        out["human_below"] = _rounded_down(domain.human_below)
        out["val_uncertain_share"] = _rounded(domain.val_uncertain_share)
    if domain.cross_fitted_n_human is not None:
        out["cross_fitted_n_human"] = domain.cross_fitted_n_human
        out["cross_fitted_fpr_human"] = _rounded(domain.cross_fitted_fpr_human)
    return out


def _domain_from(value: object, name: str) -> DomainThreshold:
    if not isinstance(value, Mapping):
        raise ValueError(f"threshold of {name!r} must be an object")
    fpr, tpr = value.get("val_fpr_human"), value.get("val_tpr_ai")
    below, uncertain = value.get("human_below"), value.get("val_uncertain_share")
    fitted_n, fitted_fpr = value.get("cross_fitted_n_human"), value.get("cross_fitted_fpr_human")
    return DomainThreshold(
        threshold=_checked(value.get("threshold"), f"{name} threshold"),
        n_human=int(value.get("n_human") or 0),
        val_fpr_human=None if fpr is None else _checked(fpr, f"{name} val_fpr_human"),
        val_tpr_ai=None if tpr is None else _checked(tpr, f"{name} val_tpr_ai"),
        human_below=None if below is None else _checked(below, f"{name} human_below"),
        val_uncertain_share=(
            None if uncertain is None else _checked(uncertain, f"{name} val_uncertain_share")
        ),
        cross_fitted_n_human=None if fitted_n is None else int(fitted_n),
        cross_fitted_fpr_human=(
            None if fitted_fpr is None else _checked(fitted_fpr, f"{name} cross_fitted_fpr_human")
        ),
    )


def _checked(value: object, what: str) -> float:
    """A number in [0, 1] (thresholds and rates), else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{what} is not a number")
    number = float(value)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise ValueError(f"{what} {value!r} is not a number in [0, 1]")
    return number


def _rounded_down(value: float) -> float:
    """``value`` to 6 places, never above it: a bound rounded up could pass its threshold."""
    return math.floor(value * 1e6) / 1e6


def _rounded(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 6)

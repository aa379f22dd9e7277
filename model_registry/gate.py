"""The promotion gate, and the manual promote / rollback commands.

Rule (``GATE_RULE``): the challenger is promoted to ``champion`` iff its behavioural tests passed
and, on the frozen test split (champion and challenger scored now on the same texts, each text at
the threshold the version's own router picks for it, ``operating_thresholds``; a version recorded
before per-domain thresholds existed applies its one tagged threshold to every text):

* in every domain with at least ``REGISTRY_GATE_MIN_DOMAIN_ROWS`` test rows, the F1 of the texts
  it answers (outside its "too close to call" band, ``answered_f1``; every text when it has no
  band) is at least ``REGISTRY_GATE_DOMAIN_F1_FLOOR``, and, when there is a champion,
  ``challenger_f1(domain) + REGISTRY_GATE_DOMAIN_MARGIN >= champion_f1(domain)`` with every text
  called: a gain on essays cannot buy a loss on news;
* overall, ``challenger_f1 + margin >= champion_f1`` (``REGISTRY_GATE_MARGIN``, default 0: at least
  as good), or with no champion yet ``challenger_f1 >= floor`` (``REGISTRY_F1_FLOOR``).

A rejection's reason names the first domain (alphabetically) that failed.

Why the floor reads the answers and the margin every text: the floor is an absolute bar on what a
user of the genre gets, and a user gets a verdict or ``uncertain``. With every text called, a
version whose thresholds hold 1 % of people called AI in a genre of few texts (encyclopedia
paragraphs: 47 validation humans) calls at most about half its AI texts AI there, and an
every-text floor then rejected the version that protects people best. The margin compares two
versions on the same texts; with every text called, answering less cannot win it.

Every decision is written as version tags on the challenger (``gate_decision``, ``gate_reason``,
``gate_challenger_f1``, ``gate_champion_f1``). Each version that becomes champion gets the tag
``previous_champion`` (the version it replaced, or ``none``) and the registered model's tag
``previous_champion_version`` mirrors the current champion's; rollback follows that chain.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from model_monitoring.scope import ScopeChecker, ScopeReference
from model_registry import contract
from model_registry.domain_evaluation import by_domain, per_text_thresholds
from model_registry.errors import PromotionError, RegistryError
from model_registry.evaluation import classification_metrics
from model_registry.labelled_csv import LABEL_COLUMN, TEXT_COLUMN
from model_registry.operating_thresholds import version_thresholds
from model_registry.splits import split_frame

log = logging.getLogger(__name__)

GATE_RULE = (
    "promote iff behaviour tests passed, every gated domain of the frozen test split has "
    "challenger answered F1 >= domain floor and challenger F1 + domain margin >= champion F1, "
    "and overall challenger_f1 + margin >= champion_f1 (no champion: challenger_f1 >= floor)"
)
PREVIOUS_CHAMPION_TAG = "previous_champion"
ROLLED_BACK_TAG = "rolled_back_from_champion"
NO_VERSION = "none"


@dataclass(frozen=True)
class GateDecision:
    promoted: bool
    reason: str
    challenger_version: str
    challenger_f1: float
    champion_version: str | None
    champion_f1: float | None
    rule: str = GATE_RULE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DomainRule:
    """The per-domain part of the gate (see the module docstring)."""

    floor: float = 0.0
    margin: float = 0.0
    min_rows: int = 1


def _gated(
    domains: dict[str, dict[str, Any]] | None, rule: DomainRule
) -> dict[str, dict[str, Any]]:
    """The metrics of each domain with an F1 and enough rows to be gated."""
    return {
        domain: metrics
        for domain, metrics in sorted((domains or {}).items())
        if metrics.get("f1") is not None
        and metrics.get("n_human", 0) + metrics.get("n_ai", 0) >= rule.min_rows
    }


def _answered_f1(metrics: dict[str, Any]) -> float:
    """The F1 of the texts a version answers in one domain: every text's F1 when it has no band
    (no ``answered_f1``), 0 when its band answers none of them."""
    if "answered_f1" not in metrics:
        return float(metrics["f1"])
    answered = metrics["answered_f1"]
    return 0.0 if answered is None else float(answered)


def decide(
    challenger_f1: float,
    behaviour_passed: bool,
    champion_f1: float | None,
    *,
    floor: float,
    margin: float,
    challenger_domains: dict[str, dict[str, Any]] | None = None,
    champion_domains: dict[str, dict[str, Any]] | None = None,
    domain_rule: DomainRule | None = None,
) -> tuple[bool, str]:
    """The gate rule alone (pure): ``(promoted, one-line reason)``.

    ``*_domains`` are per-domain metrics of the frozen test split (``n_human``, ``n_ai``, ``f1``
    and, for a version with a band, ``answered_f1``).
    """
    if not behaviour_passed:
        return False, "behaviour tests failed"
    rule = domain_rule or DomainRule()
    challenger_by_domain = _gated(challenger_domains, rule)
    champion_by_domain = _gated(champion_domains, rule) if champion_f1 is not None else {}
    for domain, metrics in challenger_by_domain.items():
        f1, answered_f1 = float(metrics["f1"]), _answered_f1(metrics)
        if answered_f1 < rule.floor:
            return False, (
                f"domain {domain}: challenger answered F1 {answered_f1:.4f} < "
                f"domain floor {rule.floor:.4f}"
            )
        champion = champion_by_domain.get(domain)
        if champion is not None and f1 + rule.margin < float(champion["f1"]):
            return False, (
                f"domain {domain}: challenger F1 {f1:.4f} + margin {rule.margin:.4f} < "
                f"champion F1 {float(champion['f1']):.4f}"
            )
    gated = (
        f"; {len(challenger_by_domain)} domains within floor/margin" if challenger_by_domain else ""
    )
    if champion_f1 is None:
        if challenger_f1 >= floor:
            return True, (
                f"no champion; challenger F1 {challenger_f1:.4f} >= floor {floor:.4f}{gated}"
            )
        return False, f"no champion; challenger F1 {challenger_f1:.4f} < floor {floor:.4f}"
    if challenger_f1 + margin >= champion_f1:
        return True, (
            f"challenger F1 {challenger_f1:.4f} + margin {margin:.4f} >= "
            f"champion F1 {champion_f1:.4f}{gated}"
        )
    return False, (
        f"challenger F1 {challenger_f1:.4f} + margin {margin:.4f} < champion F1 {champion_f1:.4f}"
    )


def current_champion(client: Any, model_name: str) -> Any | None:
    """The ModelVersion behind ``@champion``, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model_name, contract.CHAMPION_ALIAS)
    except MlflowException:
        return None


def score_version(
    client: Any, model_name: str, version: Any, test: pd.DataFrame
) -> tuple[float, dict[str, dict[str, Any]]]:
    """F1 of a registered version on ``test`` at its own routed thresholds, overall and per domain
    (a version trained before domains existed is scored on the new domains just the same)."""
    import mlflow

    operating = version_thresholds(dict(version.tags or {}))
    model = mlflow.sklearn.load_model(f"models:/{model_name}/{version.version}")
    texts = test[TEXT_COLUMN].tolist()
    probabilities = model.predict_proba(texts)[:, 1]
    verdicts = version_scope_checker(str(version.run_id or "")).assess(texts)
    thresholds = per_text_thresholds(operating.route_all(verdicts))
    y = np.asarray(test[LABEL_COLUMN])
    domains = split_frame(test).domains
    return (
        classification_metrics(y, probabilities, thresholds)["f1"],
        by_domain(y, probabilities, domains, thresholds),
    )


def version_scope_checker(run_id: str) -> ScopeChecker:
    """The scope checks of the run that logged a version, as serving builds them (no reference
    when the run has none: every text then gets the global threshold, as in serving)."""
    import tempfile

    import mlflow

    if not run_id:
        return ScopeChecker(None)
    try:
        with tempfile.TemporaryDirectory(prefix="gate-scope-") as tmp:
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=contract.SCOPE_REFERENCE_ARTIFACT, dst_path=tmp
            )
            with open(path, encoding="utf-8") as fh:
                return ScopeChecker(ScopeReference.from_json(fh.read()))
    except Exception as exc:
        log.warning("run %s has no usable scope reference (%s): global threshold", run_id, exc)
        return ScopeChecker(None)


def run_gate(
    client: Any,
    challenger_version: str,
    challenger_f1: float,
    behaviour_passed: bool,
    test: pd.DataFrame,
    *,
    model_name: str = contract.MODEL_NAME,
    floor: float = 0.80,
    margin: float = 0.0,
    challenger_domains: dict[str, dict[str, Any]] | None = None,
    domain_rule: DomainRule | None = None,
) -> GateDecision:
    """Compare the challenger with the champion on ``test`` (the frozen split); apply and tag."""
    champion = current_champion(client, model_name)
    champion_f1 = None
    champion_domains = None
    if champion is not None:
        try:
            champion_f1, champion_domains = score_version(client, model_name, champion, test)
        except Exception as exc:
            raise RegistryError(
                f"cannot score champion version {champion.version}: {exc}".splitlines()[0]
            ) from exc
    promoted, reason = decide(
        challenger_f1,
        behaviour_passed,
        champion_f1,
        floor=floor,
        margin=margin,
        challenger_domains=challenger_domains,
        champion_domains=champion_domains,
        domain_rule=domain_rule,
    )
    decision = GateDecision(
        promoted=promoted,
        reason=reason,
        challenger_version=str(challenger_version),
        challenger_f1=challenger_f1,
        champion_version=None if champion is None else str(champion.version),
        champion_f1=champion_f1,
    )
    tags = {
        contract.VersionTag.GATE_DECISION: "promoted" if promoted else "rejected",
        contract.VersionTag.GATE_REASON: reason,
        contract.VersionTag.GATE_CHALLENGER_F1: f"{challenger_f1:.6f}",
        contract.VersionTag.GATE_CHAMPION_F1: NO_VERSION
        if champion_f1 is None
        else f"{champion_f1:.6f}",
        "gate_champion_version": decision.champion_version or NO_VERSION,
    }
    if reason.startswith("domain "):
        tags[contract.VersionTag.GATE_WORST_DOMAIN] = reason.split(":", 1)[0].removeprefix(
            "domain "
        )
    for key, value in tags.items():
        client.set_model_version_tag(model_name, str(challenger_version), key, value)
    if promoted:
        set_champion(client, model_name, str(challenger_version))
    log.info("gate: %s (%s)", "promoted" if promoted else "rejected", reason)
    return decision


def set_champion(client: Any, model_name: str, version: str) -> str | None:
    """Move ``@champion`` to ``version``, recording the version it replaces; return that one."""
    previous = current_champion(client, model_name)
    previous_version = None if previous is None else str(previous.version)
    if previous_version == str(version):
        return previous_version
    client.set_model_version_tag(
        model_name, version, PREVIOUS_CHAMPION_TAG, previous_version or NO_VERSION
    )
    client.set_registered_model_alias(model_name, contract.CHAMPION_ALIAS, version)
    client.set_registered_model_tag(
        model_name, contract.ModelTag.PREVIOUS_CHAMPION, previous_version or NO_VERSION
    )
    log.info("champion of %s: version %s (was %s)", model_name, version, previous_version)
    return previous_version


def promote(client: Any, model_name: str, version: str) -> str | None:
    """Manual promotion of an existing version; returns the replaced champion version."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_model_version(model_name, str(version))
    except MlflowException as exc:
        raise PromotionError(f"{model_name} has no version {version}") from exc
    previous = set_champion(client, model_name, str(version))
    client.set_model_version_tag(
        model_name, str(version), contract.VersionTag.GATE_DECISION, "promoted"
    )
    client.set_model_version_tag(
        model_name, str(version), contract.VersionTag.GATE_REASON, "manual promotion"
    )
    return previous


def rollback(client: Any, model_name: str) -> tuple[str, str]:
    """Move ``@champion`` back to the version it replaced; return ``(from, to)`` versions."""
    champion = current_champion(client, model_name)
    if champion is None:
        raise PromotionError(f"{model_name} has no champion to roll back")
    target = champion.tags.get(PREVIOUS_CHAMPION_TAG, NO_VERSION)
    if target == NO_VERSION:
        raise PromotionError(
            f"champion version {champion.version} of {model_name} has no previous champion"
        )
    target_version = client.get_model_version(model_name, target)
    client.set_registered_model_alias(model_name, contract.CHAMPION_ALIAS, target)
    client.set_model_version_tag(model_name, str(champion.version), ROLLED_BACK_TAG, "true")
    client.set_registered_model_tag(
        model_name,
        contract.ModelTag.PREVIOUS_CHAMPION,
        target_version.tags.get(PREVIOUS_CHAMPION_TAG, NO_VERSION),
    )
    log.info("rolled back %s champion from %s to %s", model_name, champion.version, target)
    return str(champion.version), target

"""The promotion gate, and the manual promote / rollback commands.

Rule (``GATE_RULE``): the challenger is promoted to ``champion`` iff its behavioural tests passed
and, on the frozen test split, ``challenger_f1 + margin >= champion_f1`` (both scored now, each at
its own tagged threshold; margin ``REGISTRY_GATE_MARGIN``, default 0: at least as good). With no
champion yet, it needs ``challenger_f1 >= floor`` (``REGISTRY_F1_FLOOR``, default 0.95).

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

from model_registry import contract
from model_registry.data import LABEL_COLUMN, TEXT_COLUMN
from model_registry.errors import PromotionError, RegistryError
from model_registry.evaluation import classification_metrics

log = logging.getLogger(__name__)

GATE_RULE = (
    "promote iff behaviour tests passed and challenger_f1 + margin >= champion_f1 on the frozen "
    "test split (no champion: challenger_f1 >= floor)"
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


def decide(
    challenger_f1: float,
    behaviour_passed: bool,
    champion_f1: float | None,
    *,
    floor: float,
    margin: float,
) -> tuple[bool, str]:
    """The gate rule alone (pure): ``(promoted, one-line reason)``."""
    if not behaviour_passed:
        return False, "behaviour tests failed"
    if champion_f1 is None:
        if challenger_f1 >= floor:
            return True, f"no champion; challenger F1 {challenger_f1:.4f} >= floor {floor:.4f}"
        return False, f"no champion; challenger F1 {challenger_f1:.4f} < floor {floor:.4f}"
    if challenger_f1 + margin >= champion_f1:
        return True, (
            f"challenger F1 {challenger_f1:.4f} + margin {margin:.4f} >= "
            f"champion F1 {champion_f1:.4f}"
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


def score_version(client: Any, model_name: str, version: Any, test: pd.DataFrame) -> float:
    """F1 of a registered version on ``test`` at its own tagged threshold."""
    import mlflow

    threshold = float(version.tags.get(contract.VersionTag.THRESHOLD, "0.5"))
    model = mlflow.sklearn.load_model(f"models:/{model_name}/{version.version}")
    probabilities = model.predict_proba(test[TEXT_COLUMN].tolist())[:, 1]
    y = np.asarray(test[LABEL_COLUMN])
    return classification_metrics(y, probabilities, threshold)["f1"]


def run_gate(
    client: Any,
    challenger_version: str,
    challenger_f1: float,
    behaviour_passed: bool,
    test: pd.DataFrame,
    *,
    model_name: str = contract.MODEL_NAME,
    floor: float = 0.95,
    margin: float = 0.0,
) -> GateDecision:
    """Compare the challenger with the champion on ``test`` (the frozen split); apply and tag."""
    champion = current_champion(client, model_name)
    champion_f1 = None
    if champion is not None:
        try:
            champion_f1 = score_version(client, model_name, champion, test)
        except Exception as exc:
            raise RegistryError(
                f"cannot score champion version {champion.version}: {exc}".splitlines()[0]
            ) from exc
    promoted, reason = decide(
        challenger_f1, behaviour_passed, champion_f1, floor=floor, margin=margin
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

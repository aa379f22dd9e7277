"""The whole training workflow, composed from the public stages (used by the CLI and Prefect).

load -> validate -> store dataset by digest -> frozen test split -> splits -> train candidates
-> register the best as ``challenger`` -> promotion gate. A rejected challenger is not an
exception here (``outcome.decision.promoted`` says it); the CLI turns it into exit code 5.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from model_registry import contract
from model_registry.dataset_store import DatasetStore, dataset_digest
from model_registry.errors import DataValidationError
from model_registry.gate import DomainRule, GateDecision, run_gate
from model_registry.labelled_csv import DOMAIN_COLUMN, LABEL_COLUMN, load_corpus
from model_registry.registration import ensure_registered_model, register_best
from model_registry.settings import RegistrySettings
from model_registry.splits import Splits, make_splits
from model_registry.training import CandidateResult, TrainingContext, train_candidates
from model_registry.validation import ValidationReport, validate

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)


@dataclass
class TrainOutcome:
    dataset_digest: str
    test_split_digest: str
    validation: ValidationReport
    split_sizes: dict[str, int]
    results: list[CandidateResult]
    registered_version: str
    best: CandidateResult
    decision: GateDecision
    seconds: dict[str, float] = field(default_factory=dict)
    model_name: str = contract.MODEL_NAME
    trials_per_candidate: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A machine-readable summary (``train --summary-json``): every candidate's metrics."""
        return {
            "model_name": self.model_name,
            "registered_version": self.registered_version,
            "champion_candidate": self.best.name,
            "dataset_digest": self.dataset_digest,
            "test_split_digest": self.test_split_digest,
            "rows_accepted": len(self.validation.accepted),
            "rows_rejected": len(self.validation.rejected_rows),
            "split_sizes": self.split_sizes,
            "trials_per_candidate": self.trials_per_candidate,
            "candidates": {
                r.name: {
                    "trials": r.n_trials,
                    "params": r.params,
                    "threshold": r.threshold,
                    "validation": r.validation_metrics,
                    "test": r.test_metrics,
                    "behaviour_tests_passed": r.behaviour.passed,
                    "train_seconds": round(r.train_seconds, 2),
                    "log_model_seconds": round(r.log_seconds, 2),
                    "load_model_seconds": round(r.load_seconds, 2),
                    "model_size_bytes": r.model_size_bytes,
                    "lodo_seconds": round(r.lodo_seconds, 2),
                    "evaluation": r.evaluation,
                    "run_id": r.run_id,
                }
                for r in self.results
            },
            "gate": self.decision.to_dict(),
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
        }


def validated_data(
    settings: RegistrySettings, data: pd.DataFrame | str | Path | None
) -> tuple[pd.DataFrame, ValidationReport]:
    """Load (when needed) and validate; raise ``DataValidationError`` on unusable data."""
    if isinstance(data, pd.DataFrame):
        frame = data
    else:
        paths = str(data).split(",") if data else settings.data_path
        frame = load_corpus([p for p in paths if str(p).strip()])
    report = validate(
        frame,
        min_chars=settings.min_text_chars,
        max_chars=settings.max_text_chars,
        min_class_share=settings.min_class_share,
    )
    rejected_share = len(report.rejected_rows) / max(report.n_rows, 1)
    if not report.usable or rejected_share > settings.max_rejected_share:
        raise DataValidationError(report.summary_line(), report)
    if not report.ok:
        log.warning(
            "training without %d rejected rows: %s",
            len(report.rejected_rows),
            report.summary_line(),
        )
    accepted = report.accepted
    if settings.max_rows is not None and len(accepted) > settings.max_rows:
        accepted = balanced_sample(accepted, settings.max_rows, settings.seed)
    return accepted, report


def domain_rule(settings: RegistrySettings) -> DomainRule:
    """The per-domain part of the gate, from the settings."""
    return DomainRule(
        floor=settings.gate_domain_f1_floor,
        margin=settings.gate_domain_margin,
        min_rows=settings.gate_min_domain_rows,
    )


def balanced_sample(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """About ``n`` rows, as class-balanced as the data allows, every domain kept in proportion
    within each class; deterministic for ``seed``."""
    per_class = n // 2
    parts: list[pd.DataFrame] = []
    for _, rows in df.groupby(LABEL_COLUMN):
        share = min(1.0, per_class / len(rows))
        parts.extend(
            domain_rows.sample(max(1, round(share * len(domain_rows))), random_state=seed)
            for _, domain_rows in rows.groupby(DOMAIN_COLUMN)
        )
    return pd.concat(parts).reset_index(drop=True)


def prepare_splits(
    client: MlflowClient, settings: RegistrySettings, store: DatasetStore, data: pd.DataFrame
) -> tuple[Splits, str]:
    """Splits that reuse the registered model's frozen test split (created on the first run)."""
    model = ensure_registered_model(client, settings.model_name)
    frozen_digest = (model.tags or {}).get(contract.ModelTag.FROZEN_TEST_SPLIT)
    frozen = store.get(frozen_digest) if frozen_digest else None
    splits = make_splits(
        data,
        frozen,
        seed=settings.seed,
        validation_share=settings.validation_share,
        test_share=settings.test_share,
    )
    if frozen_digest is None or splits.added_test_domains:
        # New, or grown by the domains it lacked: the gate scores champion and challenger on
        # this (same) split, so the champion is re-scored on the new domains before it compares.
        frozen_digest = store.put(splits.test)
        client.set_registered_model_tag(
            settings.model_name, contract.ModelTag.FROZEN_TEST_SPLIT, frozen_digest
        )
        log.info(
            "froze test split %s (%d rows%s)",
            frozen_digest[:12],
            len(splits.test),
            f", added domains {list(splits.added_test_domains)}"
            if splits.added_test_domains
            else "",
        )
    return splits, frozen_digest


def train(
    settings: RegistrySettings | None = None,
    data: pd.DataFrame | str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrainOutcome:
    """Run the whole workflow on ``data`` (default: ``settings.data_path``)."""
    import mlflow

    from model_registry.provenance import git_commit
    from model_registry.tracking import configure_tracking

    settings = settings or RegistrySettings()
    say = progress or (lambda message: log.info("%s", message))
    seconds: dict[str, float] = {}
    start = time.perf_counter()

    client = configure_tracking(settings.experiment)
    say("validating data")
    accepted, report = validated_data(settings, data)
    store = DatasetStore.from_uri(settings.dataset_store)
    digest = store.put(accepted)
    store.set_latest(digest)
    splits, test_digest = prepare_splits(client, settings, store, accepted)
    seconds["prepare"] = time.perf_counter() - start
    say(f"dataset {digest[:12]}: {len(accepted)} rows, splits {splits.sizes()}")

    context = TrainingContext(
        dataset_digest=digest,
        test_split_digest=test_digest,
        dataset_source=store.location(digest),
        git_commit=git_commit(),
    )
    started = time.perf_counter()
    with mlflow.start_run(run_name=f"train-{digest[:8]}"):
        mlflow.set_tags(
            {
                contract.VersionTag.DATASET_DIGEST: digest,
                contract.VersionTag.TEST_SPLIT_DIGEST: test_digest,
                contract.VersionTag.GIT_COMMIT: context.git_commit,
            }
        )
        mlflow.log_dict(report.to_dict(), "validation_report.json")
        mlflow.log_params(
            {
                "candidates": ",".join(settings.candidates),
                "trials": settings.trials,
                "seed": settings.seed,
                "rows": len(accepted),
                "rows_rejected": len(report.rejected_rows),
                "removed_test_overlap": splits.removed_overlap,
            }
        )
        results = train_candidates(splits, settings, context, say)
    seconds["train"] = time.perf_counter() - started

    started = time.perf_counter()
    registered = register_best(
        client, results, context, settings.model_name, settings.selection_lodo_tolerance
    )
    say(f"registered version {registered.version} ({registered.result.name}); running the gate")
    decision = run_gate(
        client,
        registered.version,
        registered.result.test_f1,
        registered.result.behaviour.passed,
        splits.test,
        model_name=settings.model_name,
        floor=settings.f1_floor,
        margin=settings.gate_margin,
        challenger_domains=registered.result.test_domains,
        domain_rule=domain_rule(settings),
    )
    seconds["register_and_gate"] = time.perf_counter() - started
    seconds["total"] = time.perf_counter() - start
    return TrainOutcome(
        dataset_digest=digest,
        test_split_digest=test_digest,
        validation=report,
        split_sizes=splits.sizes(),
        results=results,
        registered_version=registered.version,
        best=registered.result,
        decision=decision,
        seconds=seconds,
        model_name=settings.model_name,
        trials_per_candidate=settings.trials,
    )


__all__ = ["TrainOutcome", "balanced_sample", "dataset_digest", "prepare_splits", "train"]

"""The whole training workflow: the one chain of steps, used by the CLI and by Prefect.

read ``LATEST`` -> load -> validate -> store the dataset by digest (compare-and-set on ``LATEST``)
-> frozen test split -> splits -> train candidates (one parent MLflow run) -> register the best as
``challenger`` -> promotion gate. A rejected challenger is not an exception here
(``outcome.decision.promoted`` says it); the CLI turns it into exit code 5.

Every step is a module-level function called through a :class:`StepRunner`: the CLI calls them
directly, the Prefect ``train`` flow turns each into a task (retries on I/O failures) without
re-implementing it. Whoever runs the chain gets the same clean-up when a step fails:

- a failed training marks its MLflow runs (the parent and every nested candidate / trial run)
  ``FAILED`` instead of leaving them ``RUNNING``;
- a failure after registration (tagging, the artifact hash, the gate) deletes the versions this
  attempt registered and puts ``@champion`` / ``@challenger`` back where they were, so no
  half-registered version and no alias move survive.

When MLflow is what went away, the clean-up retries until ``REGISTRY_CLEANUP_TIMEOUT_SECONDS``;
after that it logs what it could not undo (the version then has no gate decision and is never
champion) and the original error is raised.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

import pandas as pd

from model_registry import contract
from model_registry.dataset_store import DatasetStore, dataset_digest
from model_registry.errors import DataValidationError
from model_registry.gate import DomainRule, GateDecision, run_gate
from model_registry.labelled_csv import DOMAIN_COLUMN, LABEL_COLUMN, load_corpus
from model_registry.registration import (
    RegisteredCandidate,
    ensure_registered_model,
    register_best,
)
from model_registry.settings import RegistrySettings
from model_registry.splits import Splits, make_splits
from model_registry.training import CandidateResult, TrainingContext, train_candidates
from model_registry.validation import ValidationReport, validate

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


class StepRunner(Protocol):
    """Runs one named step of the chain: directly (CLI), or as a Prefect task (the flow)."""

    def __call__(
        self, name: str, step: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
    ) -> R: ...


def run_directly(name: str, step: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """The CLI's runner: call the step in this process, no retries."""
    return step(*args, **kwargs)


class LatestMoved(DataValidationError):
    """``LATEST`` changed under a training or an ingest: it is not moved, so no rows are lost."""


@dataclass
class TrainOutcome:
    """What one training produced: the only summary type (CLI table, ``--summary-json``, the
    Prefect flow's result and ``retrain``'s message)."""

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
    rows: int = 0

    @property
    def promoted(self) -> bool:
        return self.decision.promoted

    @property
    def champion_version(self) -> str | None:
        """The champion after this training (the new version when promoted)."""
        return self.registered_version if self.promoted else self.decision.champion_version

    def message(self) -> str:
        """One line: version, candidate, test F1, dataset and the gate's verdict."""
        verdict = "PROMOTED to champion" if self.promoted else "REJECTED by the gate"
        return (
            f"version {self.registered_version} ({self.best.name}, test F1 "
            f"{self.best.test_f1:.4f}, dataset {self.dataset_digest[:12]}, {self.rows} rows) "
            f"{verdict}: {self.decision.reason}"
        )

    def to_dict(self) -> dict[str, Any]:
        """A machine-readable summary (``train --summary-json``): every candidate's metrics."""
        return {
            "model_name": self.model_name,
            "registered_version": self.registered_version,
            "champion_candidate": self.best.name,
            "candidate": self.best.name,
            "test_f1": self.best.test_f1,
            "promoted": self.promoted,
            "gate_reason": self.decision.reason,
            "champion_version": self.champion_version,
            "dataset_digest": self.dataset_digest,
            "test_split_digest": self.test_split_digest,
            "rows": self.rows,
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
    frame = load_dataset(settings, data, None)
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


def connect_tracking(settings: RegistrySettings) -> Any:
    """An MlflowClient on the configured tracking server (fails fast when it is down)."""
    from model_registry.tracking import configure_tracking

    return configure_tracking(settings.experiment)


def latest_digest(settings: RegistrySettings) -> str | None:
    """The dataset version ``LATEST`` names now (None on an empty store)."""
    return DatasetStore.from_uri(settings.dataset_store).latest()


def load_dataset(
    settings: RegistrySettings,
    data: pd.DataFrame | str | Path | None,
    digest: str | None,
) -> pd.DataFrame:
    """Dataset version ``digest`` from the store; else ``data`` (a frame or comma-separated CSV
    paths); else the CSVs of ``settings.data_path``."""
    if digest is not None:
        return DatasetStore.from_uri(settings.dataset_store).get(digest)
    if isinstance(data, pd.DataFrame):
        return data
    paths = str(data).split(",") if data else [str(p) for p in settings.data_path]
    return load_corpus([p for p in paths if str(p).strip()])


def compare_and_set_latest(store: DatasetStore, expected: str | None, digest: str) -> None:
    """Point ``LATEST`` at ``digest`` only if it still names ``expected`` (None: empty store).

    The flows that move ``LATEST`` run one at a time (the orchestration's dataset slot); this
    also stops a writer outside that slot (``python -m model_registry train`` run by hand) from
    silently dropping the rows an ingest committed while it trained.
    """
    current = store.latest()
    if current == digest:  # already done (a retried call whose first attempt succeeded)
        return
    if current != expected:
        raise LatestMoved(
            f"LATEST in {store.uri} moved from {(expected or 'none')[:12]} to "
            f"{(current or 'none')[:12]} while this run worked; {digest[:12]} was stored but "
            "not made LATEST (run again to build on the new version)"
        )
    store.set_latest(digest)


def store_as_latest(settings: RegistrySettings, rows: pd.DataFrame, expected: str | None) -> str:
    """Store validated rows under their digest and make that version ``LATEST``, provided
    ``LATEST`` still names ``expected`` (the version this run started from)."""
    store = DatasetStore.from_uri(settings.dataset_store)
    digest = store.put(rows)
    compare_and_set_latest(store, expected, digest)
    return digest


def split_dataset(
    client: Any, settings: RegistrySettings, accepted: pd.DataFrame
) -> tuple[Splits, str]:
    """Train/validation/test with the registered model's frozen test split."""
    return prepare_splits(client, settings, DatasetStore.from_uri(settings.dataset_store), accepted)


def train_and_evaluate(
    splits: Splits,
    settings: RegistrySettings,
    context: TrainingContext,
    report: ValidationReport,
    run_tags: Mapping[str, str],
    progress: Callable[[str], None],
) -> list[CandidateResult]:
    """Every candidate, tuned and evaluated, as nested runs of one parent MLflow run; on any
    failure every run of the attempt is marked ``FAILED``."""
    import mlflow

    with failed_runs_marked(settings, f"train-{context.dataset_digest[:8]}", progress):
        mlflow.set_tags(
            {
                contract.VersionTag.DATASET_DIGEST: context.dataset_digest,
                contract.VersionTag.TEST_SPLIT_DIGEST: context.test_split_digest,
                contract.VersionTag.GIT_COMMIT: context.git_commit,
                **run_tags,
            }
        )
        mlflow.log_dict(report.to_dict(), "validation_report.json")
        mlflow.log_params(
            {
                "candidates": ",".join(settings.candidates),
                "trials": settings.trials,
                "seed": settings.seed,
                "rows": len(report.accepted),
                "rows_rejected": len(report.rejected_rows),
                "removed_test_overlap": splits.removed_overlap,
            }
        )
        return train_candidates(splits, settings, context, progress)


def current_aliases(client: Any, model_name: str) -> dict[str, str]:
    """``@champion`` / ``@challenger`` before registration (what the clean-up puts back)."""
    model = ensure_registered_model(client, model_name)
    aliases = dict(getattr(model, "aliases", None) or {})
    return {
        alias: str(aliases[alias])
        for alias in (contract.CHAMPION_ALIAS, contract.CHALLENGER_ALIAS)
        if alias in aliases
    }


def unfinished_versions(client: Any, model_name: str, run_ids: set[str]) -> list[str]:
    """Versions logged by ``run_ids`` that never got their gate decision (an attempt that failed
    half-way through registration or the gate)."""
    found = client.search_model_versions(f"name = '{model_name}'")
    return [
        str(v.version)
        for v in found
        if v.run_id in run_ids and contract.VersionTag.GATE_DECISION not in (v.tags or {})
    ]


def register_challenger(
    client: Any,
    results: list[CandidateResult],
    context: TrainingContext,
    settings: RegistrySettings,
) -> RegisteredCandidate:
    """Register the best candidate; a retry first removes what a failed attempt left."""
    run_ids = {r.run_id for r in results}
    for version in unfinished_versions(client, settings.model_name, run_ids):
        client.delete_model_version(settings.model_name, version)
        log.warning("deleted half-registered version %s of %s", version, settings.model_name)
    return register_best(
        client, results, context, settings.model_name, settings.selection_lodo_tolerance
    )


def promotion_gate(
    client: Any, registered: RegisteredCandidate, test: pd.DataFrame, settings: RegistrySettings
) -> GateDecision:
    """Champion against challenger on the frozen test split; tags the decision, may promote."""
    return run_gate(
        client,
        registered.version,
        registered.result.test_f1,
        registered.result.behaviour.passed,
        test,
        model_name=settings.model_name,
        floor=settings.f1_floor,
        margin=settings.gate_margin,
        challenger_domains=registered.result.test_domains,
        domain_rule=domain_rule(settings),
    )


def discard_attempt(
    client: Any,
    settings: RegistrySettings,
    run_ids: set[str],
    aliases: Mapping[str, str],
    progress: Callable[[str], None],
) -> None:
    """After a failure at or after registration: aliases back to ``aliases``, then delete every
    version this attempt's runs registered. Retries while MLflow is unreachable, up to
    ``REGISTRY_CLEANUP_TIMEOUT_SECONDS``; never raises (the original error is what counts)."""
    name = settings.model_name

    def undo() -> list[str]:
        model = client.get_registered_model(name)
        now = {str(k): str(v) for k, v in (getattr(model, "aliases", None) or {}).items()}
        for alias in (contract.CHAMPION_ALIAS, contract.CHALLENGER_ALIAS):
            if alias in aliases and now.get(alias) != aliases[alias]:
                client.set_registered_model_alias(name, alias, aliases[alias])
            elif alias not in aliases and alias in now:
                client.delete_registered_model_alias(name, alias)
        found = client.search_model_versions(f"name = '{name}'")
        ours = [str(v.version) for v in found if v.run_id in run_ids]
        for version in ours:
            client.delete_model_version(name, version)
        return ours

    deleted = retry_while_unreachable(
        undo, settings, "remove the half-registered version", progress
    )
    if deleted is None:
        log.error(
            "could not remove the versions of runs %s of %s: they have no gate decision and are "
            "never champion",
            sorted(run_ids),
            name,
        )
    elif deleted:
        log.warning("deleted half-registered version(s) %s of %s", ", ".join(deleted), name)


def retry_while_unreachable(
    action: Callable[[], R],
    settings: RegistrySettings,
    what: str,
    progress: Callable[[str], None],
) -> R | None:
    """``action()``, retried once a second while MLflow is unreachable, until the clean-up
    deadline; None when it never succeeded (other errors are logged, not raised)."""
    from model_registry.tracking import lost_connection

    deadline = time.monotonic() + settings.cleanup_timeout_seconds
    told = False
    while True:
        try:
            return action()
        except Exception as exc:
            if lost_connection(exc) is None:
                log.error("clean-up could not %s: %s", what, str(exc).splitlines()[0][:300])
                return None
            if time.monotonic() >= deadline:
                log.error("clean-up could not %s: MLflow still unreachable", what)
                return None
            if not told:
                progress(
                    f"clean-up: MLflow unreachable, retrying to {what} for up to "
                    f"{settings.cleanup_timeout_seconds:.0f}s"
                )
                told = True
            time.sleep(1.0)


@contextmanager
def failed_runs_marked(
    settings: RegistrySettings, run_name: str, progress: Callable[[str], None]
) -> Iterator[str]:
    """A parent MLflow run for the block; when the block fails, the parent and every run nested
    under it end ``FAILED`` (MLflow's own context manager leaves them ``RUNNING`` when it cannot
    reach the server to end them)."""
    import mlflow

    parent_id = mlflow.start_run(run_name=run_name).info.run_id
    try:
        yield parent_id
    except BaseException:
        retry_while_unreachable(
            lambda: fail_runs(parent_id), settings, "mark the MLflow runs FAILED", progress
        )
        close_open_runs(parent_id)
        raise
    mlflow.end_run("FINISHED")


def close_open_runs(parent_id: str) -> None:
    """Close, in this process, the runs MLflow's fluent API still holds open down to
    ``parent_id`` (MLflow forgets a run before it tells the server, so this works offline too;
    :func:`fail_runs` settles their status on the server). Otherwise the next ``start_run`` of
    this process would nest under a dead run."""
    import mlflow

    while (run := mlflow.active_run()) is not None:
        try:
            mlflow.end_run("FAILED")
        except Exception:
            log.debug("could not end run %s on the server yet", run.info.run_id, exc_info=True)
        if run.info.run_id == parent_id:
            return


def fail_runs(parent_id: str) -> list[str]:
    """Mark ``parent_id`` and every run nested under it (any depth) ``FAILED`` unless they
    already ended; return the ids it changed."""
    from mlflow import MlflowClient

    client = MlflowClient()
    experiment = client.get_run(parent_id).info.experiment_id
    changed: list[str] = []
    pending = [parent_id]
    while pending:
        run_id = pending.pop()
        if client.get_run(run_id).info.status == "RUNNING":
            client.set_terminated(run_id, "FAILED")
            changed.append(run_id)
        children = client.search_runs(
            [experiment], f"tags.mlflow.parentRunId = '{run_id}'", max_results=1000
        )
        pending.extend(child.info.run_id for child in children)
    if changed:
        log.warning("marked %d MLflow run(s) of %s FAILED", len(changed), parent_id)
    return changed


def train(
    settings: RegistrySettings | None = None,
    data: pd.DataFrame | str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    *,
    dataset_digest: str | None = None,
    prefer_latest: bool = False,
    run_step: StepRunner = run_directly,
    run_tags: Mapping[str, str] | None = None,
) -> TrainOutcome:
    """Run the whole chain and return its outcome.

    The data is dataset version ``dataset_digest`` when given, else ``LATEST`` when
    ``prefer_latest`` (the flows) and the store has one, else ``data`` / ``settings.data_path``.
    ``run_step`` runs each step (the Prefect flow passes one that makes them tasks);
    ``run_tags`` are added to the parent MLflow run.
    """
    from model_registry.provenance import git_commit

    settings = settings or RegistrySettings()
    say = progress or (lambda message: log.info("%s", message))
    seconds: dict[str, float] = {}
    start = time.perf_counter()

    client = run_step("connect_tracking", connect_tracking, settings)
    latest = run_step("latest_digest", latest_digest, settings)
    source = dataset_digest or (latest if prefer_latest else None)
    frame = run_step("load_dataset", load_dataset, settings, data, source)
    say("validating data")
    accepted, report = run_step("validate_dataset", validated_data, settings, frame)
    digest = run_step("store_as_latest", store_as_latest, settings, accepted, latest)
    splits, test_digest = run_step("split_dataset", split_dataset, client, settings, accepted)
    seconds["prepare"] = time.perf_counter() - start
    say(f"dataset {digest[:12]}: {len(accepted)} rows, splits {splits.sizes()}")

    context = TrainingContext(
        dataset_digest=digest,
        test_split_digest=test_digest,
        dataset_source=DatasetStore.from_uri(settings.dataset_store).location(digest),
        git_commit=git_commit(),
    )
    started = time.perf_counter()
    results = run_step(
        "train_and_evaluate",
        train_and_evaluate,
        splits,
        settings,
        context,
        report,
        dict(run_tags or {}),
        say,
    )
    seconds["train"] = time.perf_counter() - started

    started = time.perf_counter()
    aliases = run_step("current_aliases", current_aliases, client, settings.model_name)
    try:
        registered = run_step(
            "register_challenger", register_challenger, client, results, context, settings
        )
        say(f"registered version {registered.version} ({registered.result.name}); running the gate")
        decision = run_step(
            "promotion_gate", promotion_gate, client, registered, splits.test, settings
        )
    except BaseException:
        say("registration or gate failed: removing what this attempt registered")
        discard_attempt(client, settings, {r.run_id for r in results}, aliases, say)
        raise
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
        rows=len(accepted),
    )


__all__ = [
    "LatestMoved",
    "StepRunner",
    "TrainOutcome",
    "balanced_sample",
    "compare_and_set_latest",
    "dataset_digest",
    "prepare_splits",
    "run_directly",
    "train",
]

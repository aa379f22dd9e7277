"""Train, tune, evaluate and log every candidate; each candidate is one MLflow run.

Per candidate: the feature extractors are fitted once on the training split (cached across
candidates), the classifier is tuned with Optuna on the validation split (one nested MLflow run
per trial; the trials' fits run on the Dask cluster of ``dask_scheduler_address`` when one is
set, in this process otherwise), its probabilities are calibrated on validation (Platt scaling
folded into the linear weights), the served threshold is chosen on validation for the
false-positive-rate target on human text, globally and per domain
(``domain_evaluation.select_routed_thresholds``; every threshold also holds it on the training
split's human texts scored by models fitted without them, ``cross_fitting``), and the pipeline
is evaluated on validation and test, overall, per domain and per generator, each text at the
threshold the router picks for it (``operating_thresholds``: the scope checks' domain of the
text, never the true one), with the routing accuracy per domain, estimated on unseen genres
(``lodo``), checked by the behavioural tests and logged with its plots,
``evaluation/by_domain.json``, thresholds, reference profile, signature and input example.

Serialization: ``serialization_format="cloudpickle"``. MLflow's default (skops) took ~28 min to
save a 200k-term TF-IDF pipeline here; cloudpickle takes seconds. Unpickling runs code from the
artifact, which is safe here because models are only ever loaded from our own registry, written
by this training code, and the registry's artifact store is not writable by clients we do not
control. Never point serving at a registry you do not trust.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from model_monitoring.scope import ScopeReference, ScopeVerdict
from model_registry import contract
from model_registry.behaviour import BehaviourResult, behaviour_sample, run_behaviour_tests
from model_registry.candidates import (
    CANDIDATES,
    FEATURE_FACTORIES,
    SUPERVISED_FEATURES,
    CandidateSpec,
    build_pipeline,
    fit_block,
)
from model_registry.cross_fitting import cross_fitted_scores, fold_strata
from model_registry.domain_evaluation import (
    CrossFittedScores,
    by_domain,
    by_generator,
    domain_figures,
    evaluation_document,
    group_metrics,
    per_text_human_below,
    per_text_thresholds,
    routes_of,
    routing_by_domain,
    select_routed_thresholds,
)
from model_registry.evaluation import (
    METRIC_NAMES,
    calibrate_linear,
    classification_metrics,
    close_figures,
    evaluation_figures,
    tune_threshold,
)
from model_registry.labelled_csv import GENERATOR_COLUMN, GROUP_COLUMN, LABEL_COLUMN, TEXT_COLUMN
from model_registry.lm_features import Encoded, refit_profiles
from model_registry.lodo import leave_one_domain_out
from model_registry.operating_thresholds import OperatingThresholds
from model_registry.rewrite_evaluation import by_kept_wording, kept_wording
from model_registry.settings import RegistrySettings
from model_registry.splits import Splits
from model_registry.trial_choice import choose_trial

log = logging.getLogger(__name__)

INPUT_EXAMPLE_CHARS = 400


@dataclass
class CandidateResult:
    """What one candidate produced; ``model_uri`` points at the logged model."""

    name: str
    run_id: str
    model_uri: str
    params: dict[str, Any]
    threshold: float
    validation_metrics: dict[str, float]
    test_metrics: dict[str, float]
    behaviour: BehaviourResult
    n_trials: int
    train_seconds: float
    log_seconds: float
    load_seconds: float
    model_size_bytes: int
    #: The ``evaluation/by_domain.json`` document (test split per domain / generator, LODO).
    evaluation: dict[str, Any] = field(default_factory=dict)
    lodo_seconds: float = 0.0
    pipeline: Any = field(default=None, repr=False)
    #: The global and per-domain thresholds (version tag ``operating_thresholds``).
    operating_thresholds: OperatingThresholds | None = None
    #: SHA-256 of the serialized model as stored (hashed from the reload check's download).
    model_sha256: str = ""

    @property
    def test_f1(self) -> float:
        return self.test_metrics["f1"]

    @property
    def test_domains(self) -> dict[str, dict[str, Any]]:
        return dict(self.evaluation.get("domains") or {})

    @property
    def lodo(self) -> dict[str, Any]:
        return dict(self.evaluation.get("leave_one_domain_out") or {})


@dataclass(frozen=True)
class TrainingContext:
    """Provenance recorded on every candidate run."""

    dataset_digest: str
    test_split_digest: str
    dataset_source: str
    git_commit: str


@dataclass
class _Features:
    vectorizer: Any
    train: sp.csr_matrix
    validation: sp.csr_matrix
    test: sp.csr_matrix
    seconds: float


class _FeatureCache:
    """Each feature extractor fitted once on train, its three matrices kept for all candidates;
    likewise the scope reference of the training split and the scope verdicts (which carry the
    routed domain) of the validation and test texts."""

    def __init__(self, splits: Splits) -> None:
        self.splits = splits
        self._features: dict[str, _Features] = {}
        self._encoded: dict[str, list[Encoded]] = {}
        self._scope: tuple[ScopeReference, list[ScopeVerdict], list[ScopeVerdict]] | None = None
        self._train_verdicts: list[ScopeVerdict] | None = None
        self._test_kept_wording: np.ndarray | None = None

    def test_kept_wording(self) -> np.ndarray:
        """``rewrite_evaluation.kept_wording`` of the test split (the same for every candidate)."""
        if self._test_kept_wording is None:
            test = self.splits.test
            self._test_kept_wording = kept_wording(
                test[TEXT_COLUMN].tolist(),
                test[LABEL_COLUMN].to_numpy(),
                test[GROUP_COLUMN].to_numpy(),
            )
        return self._test_kept_wording

    def scope(self) -> tuple[ScopeReference, list[ScopeVerdict], list[ScopeVerdict]]:
        """The training split's scope reference and the verdicts of validation and test."""
        if self._scope is None:
            from model_monitoring.scope import ScopeChecker, build_scope_reference

            start = time.perf_counter()
            reference = build_scope_reference(
                self.splits.train.texts, self.splits.train.domains, with_router=True
            )
            checker = ScopeChecker(reference)
            self._scope = (
                reference,
                checker.assess(self.splits.validation.texts),
                checker.assess(self.splits.test.texts),
            )
            log.info("scope reference and verdicts in %.1fs", time.perf_counter() - start)
        return self._scope

    def train_verdicts(self) -> list[ScopeVerdict]:
        """The scope verdicts of the training texts (their routes, for the cross-fitted rows).
        The router was fitted on these texts: it places them a little better than unseen ones."""
        if self._train_verdicts is None:
            from model_monitoring.scope import ScopeChecker

            start = time.perf_counter()
            self._train_verdicts = ScopeChecker(self.scope()[0]).assess(self.splits.train.texts)
            log.info("scope verdicts of the training split in %.1fs", time.perf_counter() - start)
        return self._train_verdicts

    def get(self, name: str) -> _Features:
        if name not in self._features:
            start = time.perf_counter()
            vectorizer = FEATURE_FACTORIES[name]()
            train = fit_block(
                name,
                vectorizer,
                self.splits.train[TEXT_COLUMN].tolist(),
                self.splits.train[LABEL_COLUMN].to_numpy(),
                self.splits.train[GROUP_COLUMN].to_numpy(),
            )
            validation = vectorizer.transform(self.splits.validation[TEXT_COLUMN].tolist())
            test = vectorizer.transform(self.splits.test[TEXT_COLUMN].tolist())
            seconds = time.perf_counter() - start
            log.info("features %s: %d terms in %.1fs", name, train.shape[1], seconds)
            self._features[name] = _Features(vectorizer, train, validation, test, seconds)
        return self._features[name]

    def matrices(self, spec: CandidateSpec) -> tuple[Any, Any, Any, dict[str, Any], float]:
        blocks = [self.get(name) for name in spec.features]
        if len(blocks) == 1:
            b = blocks[0]
            return b.train, b.validation, b.test, {spec.features[0]: b.vectorizer}, b.seconds

        def stack(part: str) -> sp.csr_matrix:
            return sp.hstack([getattr(b, part) for b in blocks], format="csr")

        vectorizers = {name: b.vectorizer for name, b in zip(spec.features, blocks, strict=True)}
        seconds = sum(b.seconds for b in blocks)
        return stack("train"), stack("validation"), stack("test"), vectorizers, seconds

    def supervised_refit(
        self, spec: CandidateSpec, with_test: bool = True
    ) -> Callable[[np.ndarray], list[sp.csr_matrix]] | None:
        """For a candidate with a supervised block: (train, validation, test) matrices with that
        block refitted on the kept training rows (``lodo.leave_one_domain_out``; without
        ``with_test`` only train and validation, all ``cross_fitting`` reads); else None."""
        if not SUPERVISED_FEATURES & set(spec.features):
            return None
        n_parts = 3 if with_test else 2

        def refit(keep_train: np.ndarray) -> list[sp.csr_matrix]:
            columns = [self._fold_block(name, keep_train, n_parts) for name in spec.features]
            return [sp.hstack(list(part), format="csr") for part in zip(*columns, strict=True)]

        return refit

    def _fold_block(self, name: str, keep_train: np.ndarray, n_parts: int) -> list[sp.csr_matrix]:
        """The first ``n_parts`` of (train, validation, test) of one block for ``refit``."""
        block = self.get(name)
        if name not in SUPERVISED_FEATURES:
            return [block.train, block.validation, block.test][:n_parts]
        if name not in self._encoded:
            self._encoded[name] = [
                block.vectorizer.encode(part[TEXT_COLUMN].tolist())
                for part in (self.splits.train, self.splits.validation, self.splits.test)
            ]
        labels = self.splits.train[LABEL_COLUMN].to_numpy()
        groups = self.splits.train[GROUP_COLUMN].to_numpy()
        encoded = self._encoded[name][:n_parts]
        return refit_profiles(block.vectorizer, encoded, labels, keep_train, groups)


def train_candidates(
    splits: Splits,
    settings: RegistrySettings,
    context: TrainingContext | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[CandidateResult]:
    """Train every candidate in ``settings.candidates`` (an MLflow run must not be required:
    each candidate run is nested under the active run when there is one)."""
    import mlflow

    from model_registry.dataset_store import dataset_digest
    from model_registry.provenance import git_commit

    if context is None:
        context = TrainingContext(
            dataset_digest="unknown",
            test_split_digest=dataset_digest(splits.test),
            dataset_source="unknown",
            git_commit=git_commit(),
        )
    say = progress or (lambda message: log.info("%s", message))
    cache = _FeatureCache(splits)
    results = []
    for index, name in enumerate(settings.candidates, start=1):
        say(f"[{index}/{len(settings.candidates)}] {name}: features + {settings.trials} trials")
        spec = CANDIDATES[name]
        with mlflow.start_run(run_name=name, nested=mlflow.active_run() is not None) as run:
            result = _train_one(spec, splits, settings, context, cache, run.info.run_id, say)
        results.append(result)
        say(
            f"[{index}/{len(settings.candidates)}] {name}: test F1 {result.test_f1:.4f}, "
            f"behaviour {'passed' if result.behaviour.passed else 'FAILED'}"
        )
    return results


def _train_one(
    spec: CandidateSpec,
    splits: Splits,
    settings: RegistrySettings,
    context: TrainingContext,
    cache: _FeatureCache,
    run_id: str,
    say: Callable[[str], None],
) -> CandidateResult:
    import mlflow

    x_train, x_val, x_test, vectorizers, feature_seconds = cache.matrices(spec)
    start = time.perf_counter()  # feature time (fitted once, maybe cached) is added below
    y_train = splits.train[LABEL_COLUMN].to_numpy()
    y_val = splits.validation[LABEL_COLUMN].to_numpy()
    y_test = splits.test[LABEL_COLUMN].to_numpy()

    mlflow.set_tags(
        {
            contract.VersionTag.CANDIDATE: spec.name,
            contract.VersionTag.DATASET_DIGEST: context.dataset_digest,
            contract.VersionTag.TEST_SPLIT_DIGEST: context.test_split_digest,
            contract.VersionTag.GIT_COMMIT: context.git_commit,
            "description": spec.description,
        }
    )
    _log_inputs(splits, context)
    classifier, params, n_trials = _tune(spec, x_train, y_train, x_val, y_val, settings, say)

    platt = calibrate_linear(classifier, x_val, y_val)
    p_val = classifier.predict_proba(x_val)[:, 1]
    p_test = classifier.predict_proba(x_test)[:, 1]
    d_val, d_test = np.asarray(splits.validation.domains), np.asarray(splits.test.domains)
    scope_reference, val_verdicts, test_verdicts = cache.scope()
    started = time.perf_counter()
    cross_fitted = _cross_fitted(spec, params, splits, settings, cache, x_train, x_val, say)
    cross_fit_seconds = time.perf_counter() - started
    operating = select_routed_thresholds(
        y_val,
        p_val,
        d_val,
        val_verdicts,
        word_router=scope_reference.router is not None,
        target=settings.fpr_target,
        min_human=settings.threshold_min_human,
        ai_miss_target=settings.ai_miss_target,
        cross_fitted=cross_fitted,
    )
    threshold = operating.threshold
    # Every text at the threshold the router picks for it: what serving will do.
    val_routes = operating.route_all(val_verdicts)
    t_val, b_val = per_text_thresholds(val_routes), per_text_human_below(val_routes)
    test_routes = operating.route_all(test_verdicts)
    t_test, b_test = per_text_thresholds(test_routes), per_text_human_below(test_routes)
    val_metrics = classification_metrics(y_val, p_val, t_val)
    test_metrics = classification_metrics(y_test, p_test, t_test)
    train_seconds = time.perf_counter() - start + feature_seconds
    pipeline = build_pipeline(vectorizers, spec, classifier)

    started = time.perf_counter()
    lodo = None
    if settings.leave_one_domain_out:
        say(f"    {spec.name}: leave-one-domain-out")
        lodo = leave_one_domain_out(
            lambda x, y: spec.make_classifier(params, settings.seed).fit(x, y),
            [
                (x_train, y_train, np.asarray(splits.train.domains)),
                (x_val, y_val, d_val),
                (x_test, y_test, d_test),
            ],
            fpr_target=settings.fpr_target,
            min_human=settings.threshold_min_human,
            refit_parts=cache.supervised_refit(spec),
        )
    lodo_seconds = time.perf_counter() - started
    test_domains = by_domain(y_test, p_test, d_test, t_test, b_test)
    evaluation = evaluation_document(
        threshold=threshold,
        fpr_target=settings.fpr_target,
        domains=test_domains,
        generators=by_generator(
            y_test, p_test, d_test, splits.test[GENERATOR_COLUMN].to_numpy(), t_test
        ),
        leave_one_domain_out=lodo,
        operating_thresholds=operating,
        routing=routing_by_domain(
            d_test, [v.domain for v in test_verdicts], [r.domain for r in test_routes]
        ),
        kept_wording=by_kept_wording(y_test, p_test, t_test, b_test, cache.test_kept_wording()),
    )
    _log_domain_evaluation(
        spec.name,
        evaluation,
        by_domain(y_val, p_val, d_val, t_val, b_val),
        operating,
        (y_test, p_test, d_test),
    )

    mlflow.log_params({**params, "features": "+".join(spec.features), "n_trials": n_trials})
    mlflow.log_params({f"split_{k}": v for k, v in splits.sizes().items()})
    mlflow.log_params({"fpr_target": settings.fpr_target, "platt_a": platt[0], "platt_b": platt[1]})
    mlflow.log_metrics(
        {
            "threshold": threshold,
            "train_seconds": train_seconds,
            "lodo_seconds": lodo_seconds,
            "cross_fit_seconds": cross_fit_seconds,
            "n_features": float(x_train.shape[1]),
            **{f"val_{k}": v for k, v in val_metrics.items()},
            **{f"test_{k}": v for k, v in test_metrics.items()},
            **_served_band_metrics("val", y_val, p_val, t_val, b_val),
            **_served_band_metrics("test", y_test, p_test, t_test, b_test),
        }
    )
    for split_name, y, p, t in (
        ("test", y_test, p_test, t_test),
        ("validation", y_val, p_val, t_val),
    ):
        figures = evaluation_figures(y, p, t, f"{spec.name} ({split_name})")
        for file_name, figure in figures.items():
            mlflow.log_figure(figure, f"plots/{split_name}_{file_name}")
        close_figures(figures)

    sample = behaviour_sample(len(splits.test), seed=settings.seed)
    behaviour = run_behaviour_tests(
        lambda texts: pipeline.predict_proba(texts)[:, 1],
        threshold,
        splits.test[TEXT_COLUMN].iloc[sample].tolist(),
        sample_thresholds=t_test[sample].tolist(),
    )
    mlflow.log_dict(behaviour.details, "behaviour_tests.json")
    mlflow.log_metric("behaviour_tests_passed", float(behaviour.passed))
    mlflow.set_tag(contract.VersionTag.BEHAVIOUR_TESTS, "passed" if behaviour.passed else "failed")

    _log_reference_profile(splits, p_val, threshold)
    mlflow.log_text(scope_reference.to_json(), contract.SCOPE_REFERENCE_ARTIFACT)
    model_uri, log_seconds, load_seconds, size, sha256 = _log_model(pipeline, splits)
    mlflow.log_metrics(
        {
            "log_model_seconds": log_seconds,
            "load_model_seconds": load_seconds,
            "model_size_bytes": size,
        }
    )
    return CandidateResult(
        name=spec.name,
        run_id=run_id,
        model_uri=model_uri,
        params=params,
        threshold=threshold,
        validation_metrics=val_metrics,
        test_metrics=test_metrics,
        behaviour=behaviour,
        n_trials=n_trials,
        train_seconds=train_seconds,
        log_seconds=log_seconds,
        load_seconds=load_seconds,
        model_size_bytes=size,
        evaluation=evaluation,
        lodo_seconds=lodo_seconds,
        model_sha256=sha256,
        pipeline=pipeline,
        operating_thresholds=operating,
    )


def _cross_fitted(
    spec: CandidateSpec,
    params: dict[str, Any],
    splits: Splits,
    settings: RegistrySettings,
    cache: _FeatureCache,
    x_train: Any,
    x_val: Any,
    say: Callable[[str], None],
) -> CrossFittedScores | None:
    """The training rows scored by models fitted without them (``cross_fitting``), with their
    routes; ``None`` when cross-fitting is off or the data too small for its folds."""
    if settings.threshold_folds < 2:
        return None
    folds = settings.threshold_folds
    say(f"    {spec.name}: cross-fitted scores of the training split ({folds} folds)")
    train = splits.train
    y_train = train[LABEL_COLUMN].to_numpy()
    d_train = np.asarray(train.domains)
    scores = cross_fitted_scores(
        lambda x, y: spec.make_classifier(params, settings.seed).fit(x, y),
        x_train,
        y_train,
        x_val,
        splits.validation[LABEL_COLUMN].to_numpy(),
        strata=fold_strata(d_train, y_train),
        groups=train[GROUP_COLUMN].tolist(),
        folds=folds,
        seed=settings.seed,
        refit_parts=cache.supervised_refit(spec, with_test=False),
        progress=lambda step: say(f"      {step}"),
    )
    if scores is None:
        return None
    return CrossFittedScores(
        y=y_train,
        p=scores,
        domains=d_train,
        routed=routes_of(cache.train_verdicts()),
        folds=folds,
    )


#: One trial's fit: the fitted classifier, its validation probabilities and the fit's seconds.
TrialFit = tuple[Any, np.ndarray, float]
#: Fits this process ran for trials (on a Dask worker: the trials the cluster gave it).
trial_fits = 0


def fit_trial(
    candidate: str, params: dict[str, Any], seed: int, x_train: Any, y_train: Any, x_val: Any
) -> TrialFit:
    """Fit one trial's classifier and score the validation split (here or on a Dask worker)."""
    global trial_fits
    started = time.perf_counter()
    classifier = CANDIDATES[candidate].make_classifier(params, seed).fit(x_train, y_train)
    p_val = classifier.predict_proba(x_val)[:, 1]
    trial_fits += 1
    return classifier, p_val, time.perf_counter() - started


#: Runs a batch of trials' fits (their parameters) and returns them in the same order.
TrialRunner = Callable[[Sequence[dict[str, Any]]], list[TrialFit]]


@contextmanager
def _trial_runner(
    spec: CandidateSpec, x_train: Any, y_train: np.ndarray, x_val: Any, settings: RegistrySettings
) -> Iterator[tuple[TrialRunner, int]]:
    """The runner of the trials' fits and how many it runs at once: the Dask cluster's threads
    when ``settings.dask_scheduler_address`` is set (the matrices sent to every worker once),
    one at a time in this process otherwise."""
    address = settings.dask_scheduler_address
    if address is None:
        yield (
            lambda batch: [
                fit_trial(spec.name, p, settings.seed, x_train, y_train, x_val) for p in batch
            ],
            1,
        )
        return
    from distributed import Client

    with Client(address, timeout=30) as client:
        workers = client.scheduler_info()["workers"]
        # One slot per worker thread: a batch's trials go one to a slot. Left to itself the
        # scheduler may queue a whole batch on one worker (the fits' cost is unknown to it and
        # every worker holds the data), which serialises the batch; `allow_other_workers` keeps
        # a trial moving if its worker dies.
        slots = [worker for worker, w in workers.items() for _ in range(int(w["nthreads"]))]
        width = max(1, len(slots))
        data = client.scatter([x_train, y_train, x_val], broadcast=True, hash=False)
        log.info("tuning %s on %s: %d trials at a time", spec.name, address, width)

        def on_cluster(batch: Sequence[dict[str, Any]]) -> list[TrialFit]:
            futures = [
                client.submit(
                    fit_trial,
                    spec.name,
                    p,
                    settings.seed,
                    *data,
                    pure=False,
                    workers=[slots[i % len(slots)]] if slots else None,
                    allow_other_workers=True,
                )
                for i, p in enumerate(batch)
            ]
            return list(client.gather(futures))

        yield on_cluster, width


def _tune(
    spec: CandidateSpec,
    x_train: Any,
    y_train: np.ndarray,
    x_val: Any,
    y_val: np.ndarray,
    settings: RegistrySettings,
    say: Callable[[str], None],
) -> tuple[Any, dict[str, Any], int]:
    """Optuna search of the classifier on cached features; returns the fitted classifier of the
    trial ``trial_choice.choose_trial`` keeps, its parameters and the number of trials.

    Ask-and-tell in batches as wide as the runner (one trial at a time without a cluster, which
    is exactly ``study.optimize``): the batch's fits run together, then each trial is logged
    (nested MLflow run) and told in trial order.
    """
    import mlflow
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials: list[tuple[Any, dict[str, Any], float]] = []  # (classifier, params, val F1)
    asked = 0  # not len(study.trials): that counts the enqueued trial before it is asked
    with _trial_runner(spec, x_train, y_train, x_val, settings) as (run_trials, width):
        # Trials asked together: the "constant liar" keeps TPE from proposing the same region
        # twice in one batch (Optuna's advice for parallel trials); one at a time, plain TPE.
        sampler = optuna.samplers.TPESampler(seed=settings.seed, constant_liar=width > 1)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.enqueue_trial(spec.default_params)
        while asked < settings.trials:
            batch = [study.ask() for _ in range(min(width, settings.trials - asked))]
            asked += len(batch)
            batch_params = [spec.suggest(trial) for trial in batch]
            fits = run_trials(batch_params)
            for trial, params, (classifier, p_val, seconds) in zip(
                batch, batch_params, fits, strict=True
            ):
                threshold = tune_threshold(y_val, p_val)
                metrics = classification_metrics(y_val, p_val, threshold)
                with mlflow.start_run(run_name=f"{spec.name}-trial-{trial.number}", nested=True):
                    mlflow.log_params(params)
                    mlflow.log_metrics(
                        {
                            **{f"val_{k}": metrics[k] for k in METRIC_NAMES},
                            "threshold": threshold,
                            "fit_seconds": seconds,
                        }
                    )
                # TPE's objective: F1, ties broken by PR-AUC. Which trial is kept is decided
                # after the search (``choose_trial``), not by this score.
                study.tell(trial, metrics["f1"] + 1e-3 * metrics["pr_auc"])
                trials.append((classifier, params, metrics["f1"]))
                say(
                    f"    trial {trial.number + 1}/{settings.trials}: {params} "
                    f"val F1 {metrics['f1']:.4f}"
                )
    kept = choose_trial(
        [f1 for _, _, f1 in trials], [spec.complexity(p) for _, p, _ in trials], len(y_val)
    )
    classifier, params, f1 = trials[kept]
    say(
        f"    kept trial {kept + 1}: {params} (val F1 {f1:.4f}; the most regularised within one "
        "standard error of the best)"
    )
    return classifier, dict(params), len(study.trials)


def _log_inputs(splits: Splits, context: TrainingContext) -> None:
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

    from model_registry.dataset_store import dataset_digest

    for name, part in (
        ("training", splits.train),
        ("validation", splits.validation),
        ("test", splits.test),
    ):
        digest = context.test_split_digest if name == "test" else dataset_digest(part)
        dataset = from_pandas(
            part,
            source=context.dataset_source,
            targets=LABEL_COLUMN,
            name=f"{name}-{digest[:12]}",
            digest=digest[:32],
        )
        mlflow.log_input(
            dataset,
            context=name,
            tags={"dataset_digest": context.dataset_digest, "split_digest": digest},
        )


def _served_band_metrics(
    split: str, y: np.ndarray, p: np.ndarray, thresholds: np.ndarray, human_below: np.ndarray
) -> dict[str, float]:
    """What serving answers on ``split``: the share left "uncertain" by the "too close to call"
    band, and the F1 of the texts it does answer (``group_metrics``)."""
    band = group_metrics(y, p, thresholds, human_below)
    return {
        f"{split}_{key}": float(band[key])
        for key in ("uncertain_share", "answered_f1")
        if band.get(key) is not None
    }


def _log_domain_evaluation(
    name: str,
    evaluation: dict[str, Any],
    validation_domains: dict[str, dict[str, Any]],
    operating: OperatingThresholds,
    test_scores: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """``evaluation/by_domain.json``, the per-domain / generator / LODO / routing tables, the
    thresholds, heatmap and reliability plot, and the headline figures as metrics."""
    import mlflow

    from model_registry.domain_evaluation import worst_domain

    mlflow.log_dict(evaluation, contract.EVALUATION_BY_DOMAIN_ARTIFACT)

    def table(rows: dict[str, dict[str, Any]], key: str) -> pd.DataFrame:
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis(key).reset_index()

    mlflow.log_table(table(evaluation["domains"], "domain"), "evaluation/test_by_domain.json")
    mlflow.log_table(table(validation_domains, "domain"), "evaluation/validation_by_domain.json")
    mlflow.log_table(
        table(evaluation["generators"], "generator"), "evaluation/test_by_generator.json"
    )
    if evaluation.get("kept_wording"):
        mlflow.log_table(
            table(evaluation["kept_wording"], "kept_wording"),
            "evaluation/test_by_kept_wording.json",
        )
        mlflow.log_metrics(
            {
                f"test_tpr_ai_kept_wording_{band}": m["tpr_ai"]
                for band, m in evaluation["kept_wording"].items()
            }
        )
    lodo = evaluation.get("leave_one_domain_out") or {}
    if lodo.get("domains"):
        mlflow.log_table(table(lodo["domains"], "left_out_domain"), "evaluation/lodo.json")
        mlflow.log_metrics(
            {f"lodo_roc_auc_{d}": m["roc_auc"] for d, m in lodo["domains"].items() if m["roc_auc"]}
        )
        mlflow.log_metrics(
            {"lodo_mean_roc_auc": lodo["mean_roc_auc"], "lodo_worst_roc_auc": lodo["worst_roc_auc"]}
        )
    mlflow.log_dict(operating.to_dict(), "evaluation/operating_thresholds.json")
    mlflow.log_metrics({f"threshold_{d}": t.threshold for d, t in operating.domains.items()})
    routing = evaluation.get("routing") or {}
    if routing:
        mlflow.log_table(table(routing, "domain"), "evaluation/test_routing.json")
        mlflow.log_metrics(
            {
                f"test_routing_accuracy_{d}": m["accuracy"]
                for d, m in routing.items()
                if m["accuracy"] is not None
            }
        )
    for domain, metrics in evaluation["domains"].items():
        mlflow.log_metrics(
            {f"test_{k}_{domain}": v for k, v in metrics.items() if isinstance(v, float)}
        )
    _, worst_f1 = worst_domain(evaluation["domains"], "f1")
    _, worst_fpr = worst_domain(evaluation["domains"], "fpr_human", highest_is_worst=True)
    if worst_f1 is not None and worst_fpr is not None:
        mlflow.log_metrics({"test_worst_domain_f1": worst_f1, "test_worst_domain_fpr": worst_fpr})
    figures = domain_figures(*test_scores, evaluation["domains"], f"{name} (test)")
    for file_name, figure in figures.items():
        mlflow.log_figure(figure, f"plots/test_{file_name}")
    close_figures(figures)


def _log_reference_profile(splits: Splits, p_val: np.ndarray, threshold: float) -> None:
    import mlflow

    from model_monitoring.profile import build_reference_profile

    profile = build_reference_profile(
        splits.train[TEXT_COLUMN].tolist(),
        splits.validation[TEXT_COLUMN].tolist(),
        p_val.tolist(),
        threshold=threshold,
    )
    mlflow.log_text(profile.to_json(), contract.REFERENCE_PROFILE_ARTIFACT)


def pip_requirements() -> list[str]:
    """Exact versions of what unpickling and running the pipeline needs (nothing else)."""
    import cloudpickle
    import scipy
    import sklearn

    return [
        f"scikit-learn=={sklearn.__version__}",
        f"cloudpickle=={cloudpickle.__version__}",
        f"numpy=={np.__version__}",
        f"scipy=={scipy.__version__}",
    ]


def pickle_model_code_by_value() -> None:
    """From now on in this process, pickle the code of the pipeline's own steps into the model
    (``cloudpickle`` by value): the artifact then loads and scores wherever scikit-learn does,
    without this package, and runs the code it was trained with."""
    import cloudpickle

    from model_registry import ensemble, lm_features, pipeline_input, style_features

    for module in (pipeline_input, style_features, lm_features, ensemble):
        cloudpickle.register_pickle_by_value(module)


def _log_model(pipeline: Any, splits: Splits) -> tuple[str, float, float, int, str]:
    """Log the pipeline (cloudpickle), reload it, check it predicts the same; return the URI,
    timings, size and the SHA-256 of the stored model (hashed from that one download, which
    registration records on the version)."""
    import tempfile
    from pathlib import Path

    import cloudpickle
    import mlflow
    from mlflow.models import infer_signature

    pickle_model_code_by_value()
    examples = splits.test[TEXT_COLUMN].head(2).str.slice(0, INPUT_EXAMPLE_CHARS).tolist()
    input_example = pd.DataFrame({TEXT_COLUMN: examples})
    signature = infer_signature(input_example, pipeline.predict_proba(input_example))
    size = len(cloudpickle.dumps(pipeline))

    start = time.perf_counter()
    info = mlflow.sklearn.log_model(
        pipeline,
        name=contract.MODEL_ARTIFACT_PATH,
        serialization_format="cloudpickle",
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements(),
        pyfunc_predict_fn="predict_proba",
    )
    log_seconds = time.perf_counter() - start

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="registry-model-") as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=info.model_uri, dst_path=tmp)
        sha256 = contract.model_artifact_sha256(Path(local))
        loaded = mlflow.sklearn.load_model(local)
    load_seconds = time.perf_counter() - start
    check = splits.test[TEXT_COLUMN].head(20).tolist()
    if not np.allclose(loaded.predict_proba(check), pipeline.predict_proba(check)):
        raise RuntimeError(f"reloaded model {info.model_uri} predicts differently")
    log.info("logged model in %.1fs (%d bytes), reloaded in %.1fs", log_seconds, size, load_seconds)
    return (info.model_uri, log_seconds, load_seconds, size, sha256)

"""Load benchmark: this service's ``/v1/predict`` vs ``mlflow models serve`` on the same model.

One run, one machine, one load generator (Debian's ``wrk`` with ``bench/lua/post_bodies.lua``,
16 connections, ``--duration`` seconds per measurement), real texts the model did not train on.
The model: the candidate ``--candidate`` of ``model_registry/candidates.py`` (default the
champion, ``word_style_lm_stack``: word TF-IDF + style profile + n-gram LM likelihood block,
log-odds summed), fitted with the registry's own code (its feature blocks from
``FEATURE_FACTORIES``, the supervised LM block given the labels, its classifier at the default
parameters, ``build_pipeline``; no tuning) on ``--n-train`` texts of both shipped corpora
(``data/ai_human_essays.csv.gz`` and ``data/ai_human_multidomain.csv.gz``, split by
``model_registry.splits.make_splits`` as training splits them), Platt-calibrated and given its
per-domain thresholds on the validation split. It is logged once (cloudpickle with the model code
by value, ``pyfunc_predict_fn="predict_proba"`` and no signature, so that ``mlflow models serve``
returns correct probabilities -- checked against the in-process pipeline before every
measurement) and registered as ``@champion`` in a temporary SQLite MLflow store with what a
trained version carries: reference profile, scope reference of its training texts with its word
router (so serving runs every scope check and routes as it would), ``operating_thresholds`` with
the "too close to call" band, and ``model_sha256`` tags. Both servers load
that same version; the requests are the texts of the test split (shuffled).

Measured per server configuration: startup-to-ready time, RSS after warm-up (whole process
group), single-text requests (req/s, p50/p90/p99) and batch requests of 32 texts (texts/s).
This service runs with batching on and off, 1 and 2 workers, and once (2 workers, batching on)
with ``SERVING_COMPILED_SCORER=false`` so that the pipeline itself scores; ``mlflow models serve``
with 1 and 2 workers. All seven servers are started first (one at a time, so startup is timed
alone) and stay up; the measurements then run in interleaved rounds (order rotated each round)
and the medians are reported, so that the shared machine's noise falls on every configuration
alike. The model alone in this process (one core, single vs batches of 32; the scikit-learn
pipeline and the compiled scorer that serving uses, ``model_registry/linear_scorer.py``) is
measured too, and each feature block's own ``transform`` alone (where a single text's time goes).
Results go to ``bench/results/serve.json``, with the target ratios in ``summary`` (single texts:
at least 3x ``mlflow models serve`` at a p99 no higher; batches of 32: at least 1.5x).

    uv run --frozen python bench/serve.py            # ~15 minutes
    uv run --frozen python bench/serve.py --candidate word_tfidf_lr   # the word TF-IDF baseline
    uv run --frozen python bench/serve.py --duration 3 --rounds 1 --n-train 2000  # smoke run

``--compare-with DIR`` measures only this service (1 worker, batching on) served from ``DIR`` (an
earlier source tree, e.g. ``git worktree add /tmp/before <commit>``) against the same
configuration served from this tree, interleaved, and writes ``bench/results/serve_compare.json``:
the before/after check of a change to the request path.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.pipeline import Pipeline

from model_registry import contract
from model_registry.candidates import CANDIDATES
from model_registry.labelled_csv import DOMAIN_COLUMN, GROUP_COLUMN, LABEL_COLUMN, TEXT_COLUMN
from model_registry.operating_thresholds import OperatingThresholds
from model_registry.registration import record_model_sha256
from model_registry.settings import RegistrySettings, default_data_paths
from model_registry.training import pickle_model_code_by_value
from model_serving.settings import ServingSettings
from platform_processes import commands
from platform_processes.launcher import ServerProcess, free_port, start_process, stop_all
from platform_processes.serving import start_serving
from tests.support.model_fixtures import log_and_register

if TYPE_CHECKING:
    from model_monitoring.scope import ScopeReference

REPO = commands.REPO_ROOT

logger = logging.getLogger("bench.serve")
LUA = REPO / "bench" / "lua" / "post_bodies.lua"
RESULTS = REPO / "bench" / "results" / "serve.json"
COMPARE_RESULTS = REPO / "bench" / "results" / "serve_compare.json"
CONNECTIONS = 16
BATCH = 32
MODEL_NAME = "bench-ai-text-detector"
Bodies = dict[str, Path]
PIPELINE_SCORER = {"SERVING_COMPILED_SCORER": "false"}
CHAMPION = "word_style_lm_stack"
#: Training's defaults: the seed of the splits and the false-positive-rate target of the thresholds.
REGISTRY_DEFAULTS = {
    name: RegistrySettings.model_fields[name].default
    for name in ("seed", "fpr_target", "threshold_min_human", "ai_miss_target")
}


# --- the model ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchData:
    """The shipped corpora split as training splits them: the model's training rows, the
    validation rows (calibration, thresholds, reference profile) and the held-out request texts."""

    train: pd.DataFrame
    validation: pd.DataFrame
    requests: list[str]
    split_sizes: dict[str, int]


def bench_data(n_train: int, seed: int) -> BenchData:
    """Both shipped corpora, validated and split by group as training does; ``n_train`` training
    rows drawn class-balanced (domains in proportion); the test split's texts, shuffled, are the
    requests (no text or group of them is in train or validation)."""
    from model_registry.labelled_csv import load_corpus
    from model_registry.settings import default_data_paths
    from model_registry.splits import make_splits
    from model_registry.validation import validate
    from model_registry.workflow import balanced_sample

    splits = make_splits(validate(load_corpus(default_data_paths())).accepted, seed=seed)
    train = splits.train
    if len(train) > n_train:
        train = balanced_sample(train, n_train, seed)
    requests = splits.test.sample(frac=1.0, random_state=seed)[TEXT_COLUMN].tolist()
    return BenchData(train, splits.validation, requests, splits.sizes())


def fit_candidate(
    name: str, data: BenchData, seed: int
) -> tuple[Pipeline, ScopeReference, OperatingThresholds, np.ndarray]:
    """The candidate's pipeline fitted as training fits it, at its default parameters (no tuning):
    each feature block fitted on the training rows (the supervised ``lm`` block with the labels),
    the classifier on their matrices, Platt-calibrated on validation, the scope reference of the
    training rows with its word router, the per-domain thresholds chosen on validation with each
    row routed as serving routes it. Returns the pipeline, the scope reference, the thresholds and
    the validation P(AI)."""
    from model_monitoring.scope import ScopeChecker, build_scope_reference
    from model_registry.candidates import FEATURE_FACTORIES, build_pipeline, fit_block
    from model_registry.domain_evaluation import select_routed_thresholds
    from model_registry.evaluation import calibrate_linear

    spec = CANDIDATES[name]
    texts, labels = data.train[TEXT_COLUMN].tolist(), data.train[LABEL_COLUMN].to_numpy(dtype=int)
    blocks = {block: FEATURE_FACTORIES[block]() for block in spec.features}
    groups = data.train[GROUP_COLUMN].to_numpy()
    matrices = [fit_block(n, block, texts, labels, groups) for n, block in blocks.items()]
    classifier = spec.make_classifier(spec.default_params, seed)
    classifier.fit(sp.hstack(matrices, format="csr"), labels)
    pipeline = build_pipeline(blocks, spec, classifier)
    x_val = pipeline[:-1].transform(data.validation[TEXT_COLUMN].tolist())
    y_val = data.validation[LABEL_COLUMN].to_numpy(dtype=int)
    calibrate_linear(classifier, x_val, y_val)  # in place: the pipeline holds this classifier
    p_val = classifier.predict_proba(x_val)[:, 1]
    scope = build_scope_reference(texts, data.train[DOMAIN_COLUMN].tolist(), with_router=True)
    thresholds = select_routed_thresholds(
        y_val,
        p_val,
        data.validation[DOMAIN_COLUMN].to_numpy(),
        ScopeChecker(scope).assess(data.validation[TEXT_COLUMN].tolist()),
        word_router=scope.router is not None,
        target=REGISTRY_DEFAULTS["fpr_target"],
        min_human=REGISTRY_DEFAULTS["threshold_min_human"],
        ai_miss_target=REGISTRY_DEFAULTS["ai_miss_target"],
    )
    return pipeline, scope, thresholds, p_val


def describe_pipeline(name: str, pipeline: Pipeline) -> dict[str, Any]:
    """The candidate, its description and the width of each feature block."""
    features = pipeline.named_steps["features"]
    blocks = getattr(features, "transformer_list", [(CANDIDATES[name].features[0], features)])
    return {
        "candidate": name,
        "pipeline": CANDIDATES[name].description,
        "steps": " -> ".join(type(step).__name__ for _, step in pipeline.steps),
        "feature_blocks": {
            block_name: len(block.get_feature_names_out()) for block_name, block in blocks
        },
        "n_features": int(np.asarray(pipeline[-1].coef_).shape[-1]),
        "default_params": CANDIDATES[name].default_params,
    }


def register_bench_model(
    workdir: Path,
    n_train: int,
    candidate: str = CHAMPION,
    seed: int = REGISTRY_DEFAULTS["seed"],
) -> dict[str, Any]:
    """Fit, log and register the benchmark model as training registers a version; return its
    URI, pipeline, description and the request texts.

    As for a trained version: the model code pickled by value, the reference profile and the
    scope reference with the run, the version tagged with its per-domain thresholds and the
    SHA-256 of its artifact (checked by serving before unpickling). Logged with
    ``pyfunc_predict_fn="predict_proba"`` and no signature, so that ``mlflow models serve``
    returns the probabilities (checked against the in-process pipeline before every
    measurement).
    """
    import mlflow
    from mlflow import MlflowClient

    from model_monitoring.profile import build_reference_profile

    data = bench_data(n_train, seed)
    started = time.perf_counter()
    pipeline, scope, thresholds, p_val = fit_candidate(candidate, data, seed)
    fit_seconds = time.perf_counter() - started
    train_texts = data.train[TEXT_COLUMN].tolist()
    profile = build_reference_profile(
        train_texts,
        data.validation[TEXT_COLUMN].tolist(),
        p_val.tolist(),
        threshold=thresholds.threshold,
    )
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)  # the registry URI is global too
    experiment = mlflow.create_experiment(
        "bench-serve", artifact_location=(workdir / "artifacts").as_uri()
    )
    pickle_model_code_by_value()
    version = log_and_register(
        uri,
        pipeline,
        profile,
        model_name=MODEL_NAME,
        tags={
            contract.VersionTag.THRESHOLD: f"{thresholds.threshold:.6f}",
            contract.VersionTag.OPERATING_THRESHOLDS: thresholds.to_json(),
            contract.VersionTag.CANDIDATE: candidate,
        },
        alias=contract.CHAMPION_ALIAS,
        experiment_id=experiment,
        pyfunc_predict_fn="predict_proba",
    )
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run_id = client.get_model_version(MODEL_NAME, str(version)).run_id
    assert run_id is not None
    client.log_text(run_id, scope.to_json(), contract.SCOPE_REFERENCE_ARTIFACT)
    record_model_sha256(client, MODEL_NAME, str(version), stored_model_sha256(workdir, version))
    return {
        "tracking_uri": uri,
        "version": str(version),
        "pipeline": pipeline,
        "texts": data.requests,
        "fit_seconds": round(fit_seconds, 2),
        "description": describe_pipeline(candidate, pipeline),
        "split_sizes": data.split_sizes,
        "n_train": len(data.train),
        "thresholds": json.loads(thresholds.to_json()),
    }


def stored_model_sha256(workdir: Path, version: str) -> str:
    """The SHA-256 of the version's serialized model, from a download of its artifact."""
    import mlflow

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{MODEL_NAME}/{version}", dst_path=tmp
        )
        return contract.model_artifact_sha256(Path(local))


# --- processes ------------------------------------------------------------------------------------


def group_rss_mb(pgid: int) -> float:
    """Resident memory of every process in a process group (the server and its workers)."""
    total_kb = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != pgid:
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return round(total_kb / 1024, 1)


def start_ours(
    model: dict[str, Any],
    workdir: Path,
    workers: int,
    batching: bool,
    *,
    name: str,
    extra_env: dict[str, str] | None = None,
    source_tree: Path | None = None,
) -> ServerProcess:
    """Start this service on the benchmark model (``extra_env``: any other SERVING_* setting;
    ``source_tree``: serve the code of another checkout)."""
    env = {
        "MLFLOW_TRACKING_URI": model["tracking_uri"],
        "SERVING_MODEL_NAME": MODEL_NAME,
        "SERVING_WORKERS": str(workers),
        "SERVING_BATCHING_ENABLED": str(batching).lower(),
        "SERVING_DATABASE_URL": f"sqlite:///{workdir / f'{name}.db'}",
        "SERVING_LOG_LEVEL": "warning",
        **(extra_env or {}),
    }
    if workers > 1:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(workdir / f"metrics-{name}")
    return start_serving(
        env, workdir / "logs", name=name, wait_ready=True, timeout=300, cwd=source_tree
    )


def start_mlflow_serve(model: dict[str, Any], workdir: Path, workers: int) -> ServerProcess:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = commands.python_module(
        "mlflow",
        "models",
        "serve",
        "-m",
        f"models:/{MODEL_NAME}@{contract.CHAMPION_ALIAS}",
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        str(workers),
    )
    return start_process(
        f"mlflow-serve-w{workers}",
        args,
        log_dir=workdir / "logs",
        url=url,
        health=f"{url}/ping",
        env={"MLFLOW_TRACKING_URI": model["tracking_uri"], **commands.with_venv_on_path()},
        timeout=300,
    )


# --- requests -------------------------------------------------------------------------------------


def single_body(kind: str, text: str) -> dict[str, Any]:
    return {"text": text} if kind == "serving" else {"inputs": [text]}


def batch_body(kind: str, texts: list[str]) -> dict[str, Any]:
    return {"texts": texts} if kind == "serving" else {"inputs": texts}


def endpoint(kind: str) -> str:
    return "/v1/predict" if kind == "serving" else "/invocations"


def probabilities(kind: str, response: httpx.Response) -> list[float]:
    response.raise_for_status()
    body = response.json()
    if kind == "serving":
        return [p["probability_ai"] for p in body["predictions"]]
    return [row[1] for row in body["predictions"]]


def check_correct(kind: str, url: str, model: dict[str, Any]) -> dict[str, Any]:
    """Compare the server's probabilities with the in-process pipeline on 16 held-out texts."""
    texts = model["texts"][:16]
    expected = model["pipeline"].predict_proba(texts)[:, 1]
    batch = probabilities(
        kind, httpx.post(url + endpoint(kind), json=batch_body(kind, texts), timeout=30)
    )
    singles = []
    for text in texts[:4]:
        response = httpx.post(url + endpoint(kind), json=single_body(kind, text), timeout=30)
        response.raise_for_status()
        body = response.json()
        singles.append(body["probability_ai"] if kind == "serving" else body["predictions"][0][1])
    diff = max(
        max(abs(a - b) for a, b in zip(batch, expected, strict=True)),
        max(abs(a - b) for a, b in zip(singles, expected[:4], strict=True)),
    )
    result: dict[str, Any] = {"max_abs_diff_vs_pipeline": float(diff), "correct": bool(diff < 1e-6)}
    if kind == "serving":
        info = httpx.get(url + "/v1/model", timeout=30).json()
        result["scoring"] = info["scoring"]
        result["scope_checks"] = (
            "with reference"
            if info.get("scope", {}).get("reference")
            else ("length and language" if "scope" in info else "none (before scope existed)")
        )
    return result


def write_bodies(path: Path, bodies: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(b) for b in bodies) + "\n")
    return path


def run_wrk(url: str, bodies: Path, duration: float) -> dict[str, Any]:
    args = [
        "wrk",
        "-t2",
        f"-c{CONNECTIONS}",
        f"-d{int(duration)}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        url,
        "--",
        str(bodies),
    ]
    load_before = os.getloadavg()[0]
    output = subprocess.run(args, capture_output=True, text=True, check=True, timeout=duration + 60)
    for line in output.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            result = json.loads(line.removeprefix("WRK_JSON "))
            result["load_average_1m_before"] = round(load_before, 2)
            return result
    raise RuntimeError(f"wrk printed no result: {output.stdout[-500:]} {output.stderr[-500:]}")


@dataclass
class Running:
    """A started server and what was measured at its start."""

    kind: str
    server: ServerProcess
    info: dict[str, Any]
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def start_and_check(
    kind: str, name: str, start: Callable[[], ServerProcess], model: dict[str, Any], bodies: Bodies
) -> Running:
    """Start a server (timed to ready), check its answers, warm it up, read its RSS."""
    logger.info("%s: starting", name)
    started = time.perf_counter()
    server = start()
    startup = time.perf_counter() - started
    try:
        correctness = check_correct(kind, server.url, model)
        logger.info("%s: ready in %.1fs, %s", name, startup, correctness)
        run_wrk(server.url + endpoint(kind), bodies[f"{kind}-single"], 3.0)  # warm-up
        run_wrk(server.url + endpoint(kind), bodies[f"{kind}-batch"], 3.0)
        rss = group_rss_mb(server.process.pid)
    except BaseException:
        server.stop()
        raise
    info = {
        "server": kind,
        "startup_to_ready_s": round(startup, 2),
        "rss_after_warmup_mb": rss,
        **correctness,
    }
    return Running(kind=kind, server=server, info=info)


def measure_rounds(
    running: dict[str, Running],
    bodies: Bodies,
    duration: float,
    rounds: int,
    kinds: tuple[str, ...] = ("single", "batch"),
) -> None:
    """Interleave the measurements: every round measures every server once (order rotated).

    All servers stay up, idle while another one is measured; interleaving spreads the noise of
    the shared machine over all configurations instead of hitting whichever ran at a bad time.
    """
    names = list(running)
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            entry = running[name]
            url = entry.server.url + endpoint(entry.kind)
            for what in kinds:
                result = run_wrk(url, bodies[f"{entry.kind}-{what}"], duration)
                if what == "batch":
                    result["texts_per_s"] = round(result["requests_per_s"] * BATCH, 1)
                entry.runs.setdefault(what, []).append(result)
                logger.info(
                    "round %d %s %s: %.0f req/s p50 %.1f ms p99 %.1f ms",
                    round_index + 1,
                    name,
                    what,
                    result["requests_per_s"],
                    result["latency_ms"]["p50"],
                    result["latency_ms"]["p99"],
                )


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median over rounds of throughput and latency percentiles, plus every round's figures."""
    out: dict[str, Any] = {
        "requests_per_s": round(statistics.median(r["requests_per_s"] for r in runs), 1),
        "latency_ms": {
            key: round(statistics.median(r["latency_ms"][key] for r in runs), 2)
            for key in ("p50", "p90", "p99")
        },
        "errors": sum(sum(r["errors"].values()) for r in runs),
        "rounds": runs,
    }
    if "texts_per_s" in runs[0]:
        out["texts_per_s"] = round(statistics.median(r["texts_per_s"] for r in runs), 1)
    return out


def stop_running(running: dict[str, Running]) -> None:
    stop_all(entry.server for entry in running.values())


def summarise(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    ours = {k: v for k, v in results.items() if v["server"] == "serving"}
    theirs = {k: v for k, v in results.items() if v["server"] == "mlflow"}
    best_mlflow = max(theirs, key=lambda k: theirs[k]["single"]["requests_per_s"])
    mlflow_p99 = theirs[best_mlflow]["single"]["latency_ms"]["p99"]
    eligible = {k: v for k, v in ours.items() if v["single"]["latency_ms"]["p99"] <= mlflow_p99}
    pool = eligible or ours
    best_ours = max(pool, key=lambda k: pool[k]["single"]["requests_per_s"])
    best_ours_batch = max(ours, key=lambda k: ours[k]["batch32"]["texts_per_s"])
    best_mlflow_batch = max(theirs, key=lambda k: theirs[k]["batch32"]["texts_per_s"])
    ours_rps = ours[best_ours]["single"]["requests_per_s"]
    single_ratio = ours_rps / theirs[best_mlflow]["single"]["requests_per_s"]
    batch_ratio = (
        ours[best_ours_batch]["batch32"]["texts_per_s"]
        / theirs[best_mlflow_batch]["batch32"]["texts_per_s"]
    )
    return {
        "best_serving_single": best_ours,
        "best_mlflow_single": best_mlflow,
        "single_throughput_ratio": round(single_ratio, 2),
        "serving_p99_ms": ours[best_ours]["single"]["latency_ms"]["p99"],
        "mlflow_p99_ms": mlflow_p99,
        "p99_no_higher": ours[best_ours]["single"]["latency_ms"]["p99"] <= mlflow_p99,
        "single_target_3x_met": single_ratio >= 3.0
        and ours[best_ours]["single"]["latency_ms"]["p99"] <= mlflow_p99,
        "best_serving_batch": best_ours_batch,
        "best_mlflow_batch": best_mlflow_batch,
        "batch_texts_per_s_ratio": round(batch_ratio, 2),
        "batch_target_1_5x_met": batch_ratio >= 1.5,
        "all_correct": all(v["correct"] for v in results.values()),
    }


def compare(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """After / before ratios of the ``--compare-with`` run."""
    before, after = results["before"], results["after"]
    return {
        "single_requests_per_s_after_over_before": round(
            after["single"]["requests_per_s"] / before["single"]["requests_per_s"], 3
        ),
        "batch32_texts_per_s_after_over_before": round(
            after["batch32"]["texts_per_s"] / before["batch32"]["texts_per_s"], 3
        ),
        "single_p99_ms": {
            "before": before["single"]["latency_ms"]["p99"],
            "after": after["single"]["latency_ms"]["p99"],
        },
        "all_correct": all(v["correct"] for v in results.values()),
    }


def write_all_bodies(workdir: Path, texts: list[str]) -> Bodies:
    """Request bodies for wrk: single texts and batches of 32, for both servers."""
    batches = [texts[i : i + BATCH] for i in range(0, 32 * BATCH, BATCH)]
    return {
        f"{kind}-single": write_bodies(
            workdir / f"{kind}-1.jsonl", [single_body(kind, t) for t in texts]
        )
        for kind in ("serving", "mlflow")
    } | {
        f"{kind}-batch": write_bodies(
            workdir / f"{kind}-32.jsonl", [batch_body(kind, b) for b in batches]
        )
        for kind in ("serving", "mlflow")
    }


def in_process_rates(pipeline: Any, texts: list[str]) -> dict[str, dict[str, float]]:
    """The model alone in this process (one core): texts/s and ms per text, scored one by one
    and 32 at a time, by the scikit-learn pipeline and by the compiled scorer serving uses."""
    from model_registry.linear_scorer import compile_linear_scorer

    scorer = compile_linear_scorer(pipeline)
    if scorer is None:
        raise SystemExit("the benchmark model should compile to a LinearTextScorer")
    return {
        name: scoring_rates(model.predict_proba, texts)
        for name, model in (("pipeline", pipeline), ("compiled_scorer", scorer))
    }


def scoring_rates(score: Callable[[list[str]], Any], texts: list[str]) -> dict[str, float]:
    """Texts/s and ms per text of ``score``: 300 texts one by one, 960 in batches of 32."""
    score(texts[:BATCH])  # warm-up
    started = time.perf_counter()
    for text in texts[:300]:
        score([text])
    single = 300 / (time.perf_counter() - started)
    started = time.perf_counter()
    for i in range(0, 960, BATCH):
        score(texts[i : i + BATCH])
    batch = 960 / (time.perf_counter() - started)
    return {
        "single_texts_per_s": round(single, 1),
        "single_ms_per_text": round(1000 / single, 3),
        "batch32_texts_per_s": round(batch, 1),
        "batch32_ms_per_text": round(1000 / batch, 3),
    }


def block_rates(pipeline: Any, texts: list[str]) -> dict[str, dict[str, float]]:
    """Each feature block alone, as the compiled scorer runs it (``dense_transform`` when the
    block has one, else ``transform``; the word TF-IDF block's figure is scikit-learn's
    ``transform``, which the scorer replaces): where a single text's time goes."""
    features = pipeline.named_steps["features"]
    blocks = getattr(features, "transformer_list", [("features", features)])
    return {
        name: scoring_rates(getattr(block, "dense_transform", block.transform), texts)
        for name, block in blocks
    }


def describe_setup(args: argparse.Namespace, model: dict[str, Any]) -> dict[str, Any]:
    """The machine, load generator, model and request description every report carries."""
    lengths = [len(t) for t in model["texts"]]
    return {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1m_at_start": round(os.getloadavg()[0], 2),
            "note": (
                "shared machine: 2 cores shared with other engineers' builds and tests running "
                "at the same time; every server is up for the whole run and the measurements "
                "are interleaved in rounds (medians reported, every round kept), so compare "
                "ratios, not absolute figures"
            ),
        },
        "load_generator": {
            "tool": "wrk",
            "script": "bench/lua/post_bodies.lua",
            "threads": 2,
            "connections": CONNECTIONS,
            "duration_s": args.duration,
            "rounds": args.rounds,
        },
        "model": {
            "name": MODEL_NAME,
            "version": model["version"],
            **model["description"],
            "n_train": model["n_train"],
            "fit_seconds": model["fit_seconds"],
            "fitted": (
                "as training fits the candidate (model_registry.candidates: FEATURE_FACTORIES, "
                "make_classifier, build_pipeline) at its default parameters, no tuning; Platt "
                "calibration and per-domain thresholds on the validation split"
            ),
            "data": {
                "files": [f"data/{path.name}" for path in default_data_paths()],
                "splits": model["split_sizes"],
                "split_by": "model_registry.splits.make_splits (groups, domain x label strata)",
            },
            "thresholds": model["thresholds"],
            "logged_with": (
                "cloudpickle (model code by value), pyfunc_predict_fn=predict_proba, no "
                "signature; reference profile and scope reference with the run, model_sha256 "
                "and operating_thresholds tags on the version"
            ),
        },
        "requests": {
            "source": (
                "the test split of both corpora (shuffled): no text or group of them is in the "
                "rows the model was fitted, calibrated or thresholded on"
            ),
            "texts": len(lengths),
            "text_chars_median": statistics.median(lengths),
            "text_chars_mean": round(statistics.mean(lengths)),
            "single_body": {"serving": '{"text": ...}', "mlflow": '{"inputs": [...]}'},
            "batch_size": BATCH,
        },
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--n-train", type=int, default=9000, help="texts to fit the model on")
    parser.add_argument(
        "--candidate",
        choices=sorted(CANDIDATES),
        default=CHAMPION,
        help=f"the candidate (model_registry/candidates.py) to fit and serve; default {CHAMPION}",
    )


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument(
        "--compare-with",
        type=Path,
        default=None,
        help="source tree of an earlier version: measure it against this one (see docstring)",
    )
    args = parser.parse_args()
    args.output = args.output or (COMPARE_RESULTS if args.compare_with else RESULTS)
    setup_logging()
    workdir = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    running: dict[str, Running] = {}
    try:
        model = register_bench_model(workdir, args.n_train, args.candidate)
        bodies = write_all_bodies(workdir, model["texts"])
        ceiling = in_process_rates(model["pipeline"], model["texts"])
        blocks = block_rates(model["pipeline"], model["texts"])

        def ours(
            name: str,
            workers: int,
            batching: bool,
            extra_env: dict[str, str] | None = None,
            source_tree: Path | None = None,
        ) -> tuple[str, str, Callable[[], ServerProcess]]:
            start = partial(
                start_ours,
                model,
                workdir,
                workers,
                batching,
                name=name,
                extra_env=extra_env,
                source_tree=source_tree,
            )
            return "serving", name, start

        plan: list[tuple[str, str, Callable[[], ServerProcess]]] = (
            [
                ("mlflow", f"mlflow_serve_w{w}", partial(start_mlflow_serve, model, workdir, w))
                for w in (1, 2)
            ]
            + [
                ours(f"serving_w{w}_batching_{'on' if b else 'off'}", w, b)
                for w in (1, 2)
                for b in (True, False)
            ]
            + [ours("serving_w2_batching_on_pipeline_scorer", 2, True, PIPELINE_SCORER)]
        )
        if args.compare_with:
            plan = [
                ours("before", 1, True, source_tree=args.compare_with.resolve()),
                ours("after", 1, True),
            ]
        for kind, name, start in plan:
            running[name] = start_and_check(kind, name, start, model, bodies)
        measure_rounds(running, bodies, args.duration, args.rounds)
        results = {
            name: {
                **entry.info,
                "single": median_of(entry.runs["single"]),
                "batch32": median_of(entry.runs["batch"]),
            }
            for name, entry in running.items()
        }
        report = {
            "benchmark": "bench/serve.py",
            **describe_setup(args, model),
            "model_alone_in_process_one_core": ceiling,
            "feature_blocks_alone_in_process_one_core": blocks,
            "serving_defaults": {
                name: ServingSettings.model_fields[name].default
                for name in (
                    "batch_max_wait_ms",
                    "batch_max_size",
                    "compiled_scorer",
                    "log_linger_seconds",
                )
            },
            "summary": compare(results) if args.compare_with else summarise(results),
            "results": results,
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")
        logger.info("wrote %s", args.output)
        logger.info("summary: %s", json.dumps(report["summary"]))
    finally:
        stop_running(running)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

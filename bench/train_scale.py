"""Scaling benchmark of the training pipeline: wall time and peak RSS at 1x, 2x and 4x the corpus;
and (``--full``) the full tuned training run with every candidate, against its targets.

Each scale runs the real workflow (``model_registry.workflow.train``: load CSV -> validate ->
store dataset by digest -> leak-free splits -> features -> fit -> threshold -> evaluation, plots,
behaviour tests, reference profile -> log model (cloudpickle) -> register -> gate) in its own
child process against a fresh embedded store (SQLite + local artifacts under a temporary
``PLATFORM_HOME``), so nothing of the project's state is touched.

The corpus is the shipped one: student essays + the multi-domain file (27,634 rows). To keep the
scaling runs affordable only one candidate (``--candidate``, default the champion's) is trained,
with its fixed hyperparameters and no tuning (``REGISTRY_TRIALS=1``: the single trial is the
candidate's enqueued default parameters), leave-one-domain-out included. ``--full`` runs the
default configuration instead (every candidate, default trials, LODO) once at 1x and writes
``bench/results/train_full.json``.

Replicas: copy 0 is the corpus as shipped; copy k >= 1 perturbs every text with a seeded RNG
(drops ~3% of its words and swaps ~3% of adjacent word pairs), so rows stay unique even after
the validator's normalisation (NFKC, whitespace, case): the script asserts it before training,
otherwise the validator would reject the copies as duplicates and the scale would be fake. A copy
keeps its original's domain, generator and ``group_id``, so the grouped splits put every copy of
a text on the same side (no inflated test F1 from near-copies across splits).

Peak RSS: ``ru_maxrss`` of the child from ``os.wait4`` (the kernel's high-water mark of the
training process), plus the peak of the summed RSS of the child's process tree sampled from
``/proc`` every 0.2 s. Ratios are against 1x within the same run; CPU seconds
(user + system of the child) are reported beside wall time because the machine is shared.

    uv run --frozen python bench/train_scale.py --scales 1 2    # scaling, one candidate
    uv run --frozen python bench/train_scale.py --full          # full tuned train
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

CANDIDATE = "word_tfidf_lr"
DATA = (REPO / "data" / "ai_human_essays.csv.gz", REPO / "data" / "ai_human_multidomain.csv.gz")
RESULTS = REPO / "bench" / "results" / "train_scale.json"
FULL_RESULTS = REPO / "bench" / "results" / "train_full.json"
FULL_TARGET_SECONDS = 600
MEMORY_TARGET_MB = 4096
DROP_SHARE = 0.03
SWAP_SHARE = 0.03


def perturb(text: str, rng: random.Random) -> str:
    """Drop ~3% of the words and swap ~3% of adjacent pairs (at least one change)."""
    words = text.split(" ")
    kept = [w for w in words if rng.random() >= DROP_SHARE] or words
    n_swaps = max(1, int(len(kept) * SWAP_SHARE))
    for _ in range(n_swaps):
        if len(kept) < 2:
            break
        i = rng.randrange(len(kept) - 1)
        kept[i], kept[i + 1] = kept[i + 1], kept[i]
    return " ".join(kept)


def replicate(sources: list[Path], copies: int, out: Path, seed: int = 7) -> dict[str, int]:
    """Write the corpus ``copies`` times (perturbed after the first); assert uniqueness."""
    import pandas as pd

    from model_registry.labelled_csv import TEXT_COLUMN, load_corpus
    from model_registry.text_normalisation import normalised_key
    from model_registry.validation import validate

    base = validate(load_corpus(sources)).accepted  # the optional columns with their defaults
    parts = [base]
    for k in range(1, copies):
        rng = random.Random(seed * 1_000 + k)
        parts.append(base.assign(**{TEXT_COLUMN: [perturb(t, rng) for t in base[TEXT_COLUMN]]}))
    data = pd.concat(parts, ignore_index=True)
    keys = data[TEXT_COLUMN].map(normalised_key)
    base_unique = base[TEXT_COLUMN].map(normalised_key).nunique()
    # Every copy adds as many distinct normalised texts as the original has.
    assert keys.nunique() == base_unique * copies, (keys.nunique(), base_unique, copies)
    data.to_csv(out, index=False, compression="gzip")
    return {"rows": len(data), "unique_normalised_texts": int(keys.nunique())}


def _tree_rss_kb(pid: int) -> int:
    """Summed VmRSS (kB) of ``pid`` and its descendants, read from /proc."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
            )
            for task in Path(f"/proc/{current}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, StopIteration, ValueError):
            continue
    return total


def run_child(data: Path, home: Path, candidate: str | None) -> dict[str, Any]:
    """Train in a child process; return its wall time, peak RSS and the workflow's own figures.

    ``candidate`` None: the default configuration (every candidate, default trials)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MLFLOW_", "REGISTRY_", "AWS_"))
    }
    env.update({"PLATFORM_HOME": str(home), "REGISTRY_DATA_PATH": str(data)})
    if candidate is not None:
        env.update({"REGISTRY_CANDIDATES": candidate, "REGISTRY_TRIALS": "1"})
    summary = home / "summary.json"
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", str(summary)],
        env=env,
        cwd=REPO,
    )
    peak_tree_kb = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_tree_kb
        while not done.wait(0.2):
            peak_tree_kb = max(peak_tree_kb, _tree_rss_kb(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"training child failed with exit code {process.returncode}")
    child = json.loads(summary.read_text())
    return {
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "peak_tree_rss_mb_sampled": round(peak_tree_kb / 1024, 1),
        **child,
    }


def child_main(summary: Path) -> None:
    """In the child: the whole workflow on REGISTRY_DATA_PATH; figures to ``summary``."""
    from model_registry.settings import RegistrySettings
    from model_registry.workflow import train

    outcome = train(RegistrySettings())
    best = outcome.best
    summary.write_text(
        json.dumps(
            {
                "phase_seconds": {k: round(v, 2) for k, v in outcome.seconds.items()},
                "champion_candidate": best.name,
                "candidate_train_seconds": round(best.train_seconds, 2),
                "lodo_seconds": round(best.lodo_seconds, 2),
                "log_model_seconds": round(best.log_seconds, 2),
                "load_model_seconds": round(best.load_seconds, 2),
                "model_size_mb": round(best.model_size_bytes / 2**20, 1),
                "split_sizes": outcome.split_sizes,
                "params": best.params,
                "test_f1": round(best.test_f1, 4),
                "gate": outcome.decision.to_dict(),
                "quality_targets": quality_targets(best.evaluation),
                "kept_wording": best.evaluation.get("kept_wording"),
                "candidates": outcome.to_dict()["candidates"],
            }
        )
    )


ESSAY_F1_TARGET = 0.985
DOMAIN_F1_TARGET = 0.95
DOMAIN_FPR_TARGET = 0.02


def _at_most(value: float | None, target: float) -> bool:
    return value is not None and value <= target


def _meets(f1: float | None, fpr: float | None) -> bool:
    return f1 is not None and f1 >= DOMAIN_F1_TARGET and _at_most(fpr, DOMAIN_FPR_TARGET)


def quality_targets(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The champion's frozen-test figures against issue 13's targets, every text judged at the
    threshold the router picked for it (``evaluation/by_domain.json``), two ways: every text
    called AI or human at that threshold (``f1``), and as serving answers (``answered_f1``: the
    texts outside the "too close to call" band; ``uncertain_share`` the rest). The band never
    makes a text AI, so ``fpr_human`` is the same both ways."""
    routing = evaluation.get("routing") or {}
    thresholds = (evaluation.get("operating_thresholds") or {}).get("domains") or {}
    domains = {}
    for name, m in sorted((evaluation.get("domains") or {}).items()):
        f1, answered, fpr = m.get("f1"), m.get("answered_f1"), m.get("fpr_human")
        domains[name] = {
            "n_human": m.get("n_human"),
            "n_ai": m.get("n_ai"),
            "f1": f1,
            "answered_f1": answered,
            "uncertain_share": m.get("uncertain_share"),
            "fpr_human": fpr,
            "fpr_human_upper95": m.get("fpr_human_upper95"),
            "tpr_ai": m.get("tpr_ai"),
            "roc_auc": m.get("roc_auc"),
            "own_threshold": (thresholds.get(name) or {}).get("threshold"),
            "own_human_below": (thresholds.get(name) or {}).get("human_below"),
            "routing_accuracy": (routing.get(name) or {}).get("accuracy"),
            "global_threshold_share": (routing.get(name) or {}).get("global_share"),
            "met_every_text_called": _meets(f1, fpr),
            "met_as_served": _meets(answered, fpr),
            # Whether the test texts are enough to show the FPR target at 95 % confidence.
            "fpr_target_shown_at_95": _at_most(m.get("fpr_human_upper95"), DOMAIN_FPR_TARGET),
        }
    essay = domains.get("student_essay", {})
    essay_f1, essay_answered = essay.get("f1"), essay.get("answered_f1")
    return {
        "judged_at": "the threshold the router picked for each text (never its true domain's)",
        "global_threshold": evaluation.get("threshold"),
        "student_essay_f1": essay_f1,
        "student_essay_answered_f1": essay_answered,
        "student_essay_f1_target": ESSAY_F1_TARGET,
        "student_essay_met_every_text_called": essay_f1 is not None and essay_f1 >= ESSAY_F1_TARGET,
        "student_essay_met_as_served": essay_answered is not None
        and essay_answered >= ESSAY_F1_TARGET,
        "domain_f1_target": DOMAIN_F1_TARGET,
        "domain_fpr_target": DOMAIN_FPR_TARGET,
        "domains": domains,
        "domains_met_every_text_called": [
            d for d, m in domains.items() if m["met_every_text_called"]
        ],
        "domains_met_as_served": [d for d, m in domains.items() if m["met_as_served"]],
        "domains_fpr_target_shown_at_95": [
            d for d, m in domains.items() if m["fpr_target_shown_at_95"]
        ],
    }


def full_run(sources: list[Path], out: Path) -> None:
    """The default tuned training (every candidate) once, with its targets."""
    with tempfile.TemporaryDirectory(prefix="train-full-") as tmp:
        home = Path(tmp)
        data = home / "corpus.csv.gz"
        rows = replicate(sources, 1, data)
        load_start = os.getloadavg()
        run = run_child(data, home, None)
    result = {
        "benchmark": "train_full",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "uv run --frozen python bench/train_scale.py --full",
        "store": "embedded default (SQLite + local artifacts) under a temporary PLATFORM_HOME",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_start": [round(x, 2) for x in load_start],
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
            "note": "shared 2-core machine: other helpers' tests and benchmarks ran at the same "
            "time; CPU seconds are the figure that does not depend on them",
        },
        **rows,
        **run,
        "target": {
            "wall_under_seconds": FULL_TARGET_SECONDS,
            "wall_met": run["wall_seconds"] < FULL_TARGET_SECONDS,
            "cpu_seconds_under_wall_target": run["cpu_seconds"] < FULL_TARGET_SECONDS,
            "memory_under_mb": MEMORY_TARGET_MB,
            "memory_met": run["peak_tree_rss_mb_sampled"] < MEMORY_TARGET_MB,
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["target"], indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--data", type=Path, nargs="+", default=list(DATA))
    parser.add_argument("--candidate", default=CANDIDATE)
    parser.add_argument("--full", action="store_true", help="the full tuned train instead")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child)
        return
    if args.full:
        full_run(args.data, args.out or FULL_RESULTS)
        return
    args.out = args.out or RESULTS

    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="train-scale-") as tmp:
        for scale in args.scales:
            home = Path(tmp) / f"x{scale}"
            home.mkdir()
            data = home / "corpus.csv.gz"
            rows = replicate(args.data, scale, data)
            print(f"{scale}x: {rows['rows']} rows, training...", flush=True)
            run = run_child(data, home, args.candidate)
            run.pop("candidates", None)  # the one candidate's figures are above already
            runs[f"{scale}x"] = {"scale": scale, **rows, **run}
            print(f"{scale}x: {json.dumps(runs[f'{scale}x'])}", flush=True)

    base = runs.get("1x")
    if base:
        for run in runs.values():
            run["time_per_1x"] = round(run["wall_seconds"] / base["wall_seconds"], 2)
            run["train_phase_per_1x"] = round(
                run["phase_seconds"]["train"] / base["phase_seconds"]["train"], 2
            )
            run["cpu_per_1x"] = round(run["cpu_seconds"] / base["cpu_seconds"], 2)
            run["rss_per_1x"] = round(run["peak_rss_mb"] / base["peak_rss_mb"], 2)
    largest = runs[f"{max(args.scales)}x"]
    result = {
        "benchmark": "train_scale",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "note": "shared 2-core machine; other engineers' tests ran at the same time",
        },
        "setup": {
            "candidate": args.candidate,
            "data": [p.name for p in args.data],
            "tuning": "none: REGISTRY_TRIALS=1, the single trial is the candidate's fixed "
            "default hyperparameters",
            "pipeline": "whole workflow.train in a child process: load, validate, store, split, "
            "features, fit, threshold, evaluation + plots, behaviour tests, reference profile, "
            "log model (cloudpickle), register, gate; embedded SQLite store in a temp dir",
            "replication": f"copy 0 as shipped; copies k>=1 drop {DROP_SHARE:.0%} of words and "
            f"swap {SWAP_SHARE:.0%} of adjacent pairs (seeded); normalised texts asserted unique",
            "test_f1_note": "perturbed copies keep their original's group_id, so the grouped "
            "splits keep them on one side; this benchmark measures cost, not quality",
            "peak_rss": "ru_maxrss of the training child (os.wait4); "
            "peak_tree_rss_mb_sampled sums /proc VmRSS over its process tree every 0.2 s",
        },
        "runs": runs,
        "acceptance": {
            "largest_scale": max(args.scales),
            "largest_peak_rss_mb": largest["peak_rss_mb"],
            "under_4gb": largest["peak_rss_mb"] < MEMORY_TARGET_MB,
            "time_growth_at_most_linear": all(
                min(r["time_per_1x"], r["cpu_per_1x"]) <= r["scale"] * 1.1 for r in runs.values()
            )
            if base
            else None,
            "rss_growth_at_most_linear": all(
                r["rss_per_1x"] <= r["scale"] * 1.1 for r in runs.values()
            )
            if base
            else None,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["acceptance"], indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

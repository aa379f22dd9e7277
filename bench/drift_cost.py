"""Cost of live drift tracking: single-text throughput of ``/v1/predict`` with it on vs off.

Same model, machine and load generator as ``bench/serve.py`` (whose functions this reuses):
wrk with 16 connections posting single held-out texts to three servers that are up at the
same time and measured in interleaved rounds (medians reported, every round kept):

- ``drift_off``: ``SERVING_DRIFT_ENABLED=false``;
- ``drift_on``: the default settings (every text observed up to
  ``SERVING_DRIFT_MAX_OBSERVATIONS_PER_SECOND`` = 100 per worker, a uniform sample above);
- ``drift_on_every_text``: ``SERVING_DRIFT_MAX_OBSERVATIONS_PER_SECOND=0`` (no sampling).

The drift window of each "on" server is read from ``/metrics`` at the end, to show the monitor
was really fed. Results go to ``bench/results/drift_cost.json``; the target is
``throughput_ratio_on_vs_off`` >= 0.90.

    uv run --frozen python bench/drift_cost.py            # ~5 minutes
    uv run --frozen python bench/drift_cost.py --duration 3 --rounds 1 --n-train 2000  # smoke
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

from bench.serve import (
    REPO,
    Running,
    add_arguments,
    describe_setup,
    measure_rounds,
    median_of,
    register_bench_model,
    setup_logging,
    start_and_check,
    start_ours,
    stop_running,
    write_all_bodies,
)
from platform_processes.serving import metric

logger = logging.getLogger("bench.drift_cost")
RESULTS = REPO / "bench" / "results" / "drift_cost.json"
CONFIGS: dict[str, dict[str, str]] = {
    "drift_off": {"SERVING_DRIFT_ENABLED": "false"},
    "drift_on": {},
    "drift_on_every_text": {"SERVING_DRIFT_MAX_OBSERVATIONS_PER_SECOND": "0"},
}


def ratios(on: list[dict[str, Any]], off: list[dict[str, Any]]) -> dict[str, float]:
    """On/off throughput: ratio of the medians and median of the per-round ratios."""
    on_rps = [r["requests_per_s"] for r in on]
    off_rps = [r["requests_per_s"] for r in off]
    return {
        "ratio_of_medians": round(statistics.median(on_rps) / statistics.median(off_rps), 3),
        "median_of_round_ratios": round(
            statistics.median(a / b for a, b in zip(on_rps, off_rps, strict=True)), 3
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.set_defaults(rounds=3)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers per server")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    setup_logging()
    workdir = Path(tempfile.mkdtemp(prefix="bench-drift-"))
    running: dict[str, Running] = {}
    try:
        model = register_bench_model(workdir, args.n_train, args.candidate)
        bodies = write_all_bodies(workdir, model["texts"])
        for name, env in CONFIGS.items():
            running[name] = start_and_check(
                "serving",
                name,
                partial(start_ours, model, workdir, args.workers, True, name=name, extra_env=env),
                model,
                bodies,
            )
        measure_rounds(running, bodies, args.duration, args.rounds, kinds=("single",))
        # None (null in the JSON) when drift tracking is off: no window gauge exported.
        windows = {
            name: metric(entry.server.url, "detector_drift_window_size", default=None)
            for name, entry in running.items()
        }
        results = {
            name: {
                **entry.info,
                "env": CONFIGS[name],
                "drift_window_size_at_end": windows[name],
                "single": median_of(entry.runs["single"]),
            }
            for name, entry in running.items()
        }
        off = running["drift_off"].runs["single"]
        default = ratios(running["drift_on"].runs["single"], off)
        every = ratios(running["drift_on_every_text"].runs["single"], off)
        summary = {
            "throughput_ratio_on_vs_off": default["ratio_of_medians"],
            "throughput_ratio_on_vs_off_round_median": default["median_of_round_ratios"],
            "throughput_ratio_every_text_vs_off": every["ratio_of_medians"],
            "throughput_ratio_every_text_vs_off_round_median": every["median_of_round_ratios"],
            "target_0_90_met": default["ratio_of_medians"] >= 0.90,
            "drift_monitor_fed": all(windows[n] for n in ("drift_on", "drift_on_every_text")),
        }
        report = {
            "benchmark": "bench/drift_cost.py",
            **describe_setup(args, model),
            "serving": {"workers": args.workers, "batching": True},
            "summary": summary,
            "results": results,
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")
        logger.info("wrote %s", args.output)
        logger.info("summary: %s", json.dumps(summary))
    finally:
        stop_running(running)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

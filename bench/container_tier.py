"""The container tier's timings, measured by running it: build, first boot, restart, retrain loop.

Runs ``pytest tests/containers`` (``REQUIRE_SERVICES=1``: a missing engine is a failure, not a
skip) exactly as ``make test-containers`` does, then writes what the tier measured to
``bench/results/container-tier.json``: the tier's wall time, its test outcome, and the timings
its ``stack`` fixture recorded (``container-timings.json`` in its server-logs directory): image
builds, every service healthy after ``up``, serving ready with the first champion, restart on
the same volumes, the drift alert's retraining run, the Dask profile. The README quotes this file.

The four project images are built with ``--no-cache`` by the tier itself; the base images and the
stand-ins for the third-party images (``tests/containers/build-base-images.sh``, run by
``.ci/run``) are reused when they exist, which ``base_and_standin_images_s`` shows.

    uv run --frozen python bench/container_tier.py     # ~20 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "container-tier.json"
TIMINGS_FILE = "container-timings.json"

NOTES = {
    "base_and_standin_images_s": "base images and third-party stand-ins (reused when built)",
    "build <image>_s": "`podman build --no-cache` of each project image",
    "first_up_healthy_s": "from `docker compose up -d` until every service healthy (one-shots "
    "exited 0)",
    "first_boot_ready_s": "from `docker compose up -d` on empty volumes until serving /readyz is "
    "200 (champion trained, registered, loaded); small-data first boot (the tier's override)",
    "stop_serving_after_burst_s": "`docker compose stop serving` right after a burst of "
    "predictions (none of them lost)",
    "restart_ready_s": "`docker compose down` then `up -d` on the same volumes until serving is "
    "ready",
    "alert_to_retrain_run_s": "a firing drift alert posted to the webhook until the retraining "
    "flow run exists",
    "retrain_run_s": "that flow run until it completed",
}


def tier_outcome(junit: Path) -> dict[str, int]:
    """Tests, failures, errors and skips of the tier's run (its JUnit report)."""
    suite = ET.parse(junit).getroot()  # noqa: S314 (our pytest run wrote it, in our temp dir)
    if suite.tag == "testsuites":
        suite = suite[0]
    counts = {key: int(suite.get(key, "0")) for key in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return counts


def engine_version() -> str:
    try:
        done = subprocess.run(["podman", "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "podman not found"
    return done.stdout.strip()


def run_tier(basetemp: Path, junit: Path, extra: list[str]) -> tuple[int, float]:
    """Run the container tier; its exit code and wall seconds."""
    env = {**os.environ, "REQUIRE_SERVICES": "1"}
    args = [
        sys.executable,
        "-m",
        "pytest",
        "tests/containers",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--basetemp={basetemp}",
        f"--junitxml={junit}",
        *extra,
    ]
    started = time.monotonic()
    code = subprocess.run(args, cwd=REPO, env=env, check=False).returncode
    return code, round(time.monotonic() - started, 1)


def measured_timings(basetemp: Path) -> dict[str, Any]:
    """What the tier's ``stack`` fixture wrote (one server-logs directory per session)."""
    found = sorted(basetemp.glob(f"server-logs*/{TIMINGS_FILE}"))
    if not found:
        raise SystemExit(f"the tier wrote no {TIMINGS_FILE} under {basetemp}: see its output")
    measured: dict[str, Any] = json.loads(found[-1].read_text(encoding="utf-8"))
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest (after --)")
    args = parser.parse_args()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="container-tier-") as scratch:
        basetemp = Path(scratch) / "pytest"
        junit = Path(scratch) / "junit.xml"
        code, wall = run_tier(basetemp, junit, args.pytest_args)
        outcome = tier_outcome(junit) if junit.exists() else {}
        measured = measured_timings(basetemp)
    result = {
        "benchmark": "container_tier",
        "command": "uv run --frozen python bench/container_tier.py",
        "what": "tests/containers: the four project images built with podman build --no-cache, "
        "then the compose stack (Grafana not run: no package here) through docker compose on "
        "Podman, third-party images replaced by local stand-ins; small-data first boot",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "engine": engine_version(),
            "load_average_start": [round(x, 2) for x in load_start],
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
            "note": "shared 2-core machine: wall times are upper bounds",
        },
        "exit_code": code,
        "tier_wall_s": wall,
        "tests": outcome,
        "timings": measured["timings"],
        "healthy_after_first_up_s": measured["healthy_after_first_up_s"],
        "notes": NOTES,
    }
    args.output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.output}: exit {code}, {wall} s, {outcome}")
    if code != 0:
        raise SystemExit(code)


if __name__ == "__main__":
    main()

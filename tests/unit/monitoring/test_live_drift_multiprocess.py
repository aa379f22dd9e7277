"""The drift gauges aggregate correctly across worker processes (Prometheus multiprocess mode)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry, multiprocess

from tests.support.servers import REPO_ROOT

WORKER = """
import sys
from model_monitoring.live_drift import LiveDriftMonitor
from model_monitoring.profile import build_reference_profile
essays = ["The students wrote a long essay about cars and cities. " * 20] * 60
profile = build_reference_profile(essays, essays, [0.2] * 60)
monitor = LiveDriftMonitor(100, 600, min_samples=10, recompute_interval_seconds=0)
monitor.set_reference(profile, 0.5, "1")
shifted = sys.argv[1] == "shifted"
for _ in range(int(sys.argv[2])):
    monitor.observe("lol 2nite?? $5 :)" if shifted else essays[0], 0.2)
monitor.refresh()
"""


def run_worker(directory: Path, kind: str, n: int) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run([sys.executable, "-c", WORKER, kind, str(n)], env=env, check=True, cwd=REPO_ROOT)


def test_scores_take_the_max_and_window_sizes_add_up(tmp_path: Path) -> None:
    run_worker(tmp_path, "in_domain", 40)
    run_worker(tmp_path, "shifted", 30)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(tmp_path))
    length_score = registry.get_sample_value("detector_drift_score", {"signal": "length_chars"})
    assert length_score is not None and length_score > 0.5  # the shifted worker's score
    assert registry.get_sample_value("detector_drift_window_size") == 70
    combined = registry.get_sample_value("detector_drift_combined_score")
    assert combined is not None and combined > 0.2  # the shifted worker, not the mean

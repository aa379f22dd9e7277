"""What the fault tests share: a paced load generator and the results file they all write.

:class:`PacedLoad` sends requests to 127.0.0.1 only, at a fixed rate (not as fast as possible), and
records every outcome; :func:`record` merges one fault's figures into
``bench/results/faults.json``.
"""

from __future__ import annotations

import json
import platform
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.support.load_threads import ThreadedLoad
from tests.support.model_fixtures import sample
from tests.support.servers import REPO_ROOT

RESULTS = REPO_ROOT / "bench" / "results" / "faults.json"
_results_lock = threading.Lock()


def record(fault: str, figures: dict[str, Any]) -> None:
    """Merge one fault's measured figures into ``bench/results/faults.json``."""
    with _results_lock:
        data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        data["machine"] = f"{platform.machine()}, {platform.python_version()}"
        data.setdefault("faults", {})[fault] = {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **figures,
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


class PacedLoad(ThreadedLoad):
    """Send ``rate`` single-text predictions per second (paced, not as fast as possible) from a
    few threads until stopped; every outcome is recorded (status, transport error, id, time)."""

    def __init__(self, url: str, rate: float, threads: int = 4, timeout: float = 10.0) -> None:
        super().__init__(threads)
        self.url = url
        self.interval = threads / rate
        self.timeout = timeout
        self.texts = sample(40, seed=7)["text"].tolist()
        self.statuses: Counter[int] = Counter()
        self.errors: list[tuple[float, str]] = []
        self.prediction_ids: list[str] = []
        self.versions: set[str] = set()
        self.non_200: list[tuple[float, int, str]] = []
        self._lock = threading.Lock()

    @property
    def sent(self) -> int:
        return sum(self.statuses.values()) + len(self.errors)

    def answered(self) -> int:
        """Requests answered 200 so far."""
        with self._lock:
            return self.statuses[200]

    def failed(self) -> int:
        """Requests that failed so far: transport errors and every status but 200."""
        with self._lock:
            return len(self.errors) + sum(n for code, n in self.statuses.items() if code != 200)

    def _run(self, offset: int) -> None:
        deadline = time.monotonic() + offset * self.interval / len(self._threads)
        client = httpx.Client(base_url=self.url, timeout=self.timeout)
        i = offset
        while not self._stop.is_set():
            pause = deadline - time.monotonic()
            if pause > 0 and self._stop.wait(pause):
                break
            deadline = max(deadline + self.interval, time.monotonic() - self.interval)
            at = time.monotonic() - self.started
            try:
                response = client.post(
                    "/v1/predict", json={"text": self.texts[i % len(self.texts)]}
                )
            except httpx.HTTPError as exc:
                with self._lock:
                    self.errors.append((at, type(exc).__name__))
                client.close()  # a connection to a dead worker: open a new one
                client = httpx.Client(base_url=self.url, timeout=self.timeout)
                continue
            finally:
                i += 1
            with self._lock:
                self.statuses[response.status_code] += 1
                if response.status_code == 200:
                    body = response.json()
                    self.prediction_ids.append(body["prediction_id"])
                    self.versions.add(body["model_version"])
                else:
                    self.non_200.append((at, response.status_code, response.text[:200]))
        client.close()

    def summary(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.started
        return {
            "requests": self.sent,
            "seconds": round(elapsed, 1),
            "rate_per_second": round(self.sent / elapsed, 1) if elapsed else 0.0,
            "status_counts": {str(k): v for k, v in sorted(self.statuses.items())},
            "transport_errors": len(self.errors),
        }

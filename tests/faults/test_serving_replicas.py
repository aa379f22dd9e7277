"""Three serving replicas behind HAProxy (Debian's package, the committed deploy/haproxy config
rendered for loopback) under paced load: a replica killed and brought back, and a champion move.

- SIGKILL of one replica: the requests it held die with it (a POST that reached a replica is not
  replayed, deploy/haproxy/haproxy.cfg says why), so the bound is the load's concurrency (4
  requests in flight at most); every request after the kill goes to a live replica (connection
  refused -> retried on another one). Measured: failed requests, seconds until the proxy marks
  the replica DOWN, answered rate with two replicas, and with three again once it returns.
- An alias move: every replica serves the new version within one poll interval (+ its load),
  and no request fails meanwhile.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from platform_processes.haproxy import backend_servers, start_haproxy
from platform_processes.launcher import stop_all
from tests.conftest import service_or_skip
from tests.faults.load import PacedLoad, record
from tests.support.model_fixtures import register_small_model
from tests.support.servers import ServerProcess, wait_until
from tests.support.serving_servers import start_serving

pytestmark = pytest.mark.timeout(420)

REPLICAS = 3
RATE = 30.0
THREADS = 4
POLL_INTERVAL_SECONDS = 2.0


@dataclass
class Replicas:
    """The serving processes (by slot) and the proxy in front of them."""

    servers: list[ServerProcess]
    proxy: ServerProcess
    start: Callable[[int, int | None], ServerProcess]

    @property
    def stats_url(self) -> str:
        return self.proxy.extra["stats_url"]

    def states(self) -> dict[str, str]:
        """Proxy server name (serving1..N, in slot order) -> UP / DOWN / ..."""
        return {name: row["status"] for name, row in backend_servers(self.stats_url).items()}

    def wait_states(self, wanted: dict[str, str], timeout: float = 60) -> float:
        started = time.monotonic()
        wait_until(
            lambda: {k: v.split()[0] for k, v in self.states().items()} == wanted,
            timeout=timeout,
            what=f"proxy server states {wanted}",
            interval=0.1,
        )
        return time.monotonic() - started


def predict_requests(url: str) -> float:
    """POST /v1/predict requests this serving process has answered (all statuses)."""
    total = 0.0
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith("detector_http_requests_total{") and 'route="/v1/predict"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def all_up(n: int = REPLICAS) -> dict[str, str]:
    return {f"serving{i}": "UP" for i in range(1, n + 1)}


@pytest.fixture
def replicas(
    champion: str,
    mlflow_env: dict[str, str],
    model_name: str,
    server_logs: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Replicas]:
    logs = server_logs / request.node.name[:60]
    env = {
        **mlflow_env,
        "SERVING_MODEL_NAME": model_name,
        "SERVING_POLL_INTERVAL_SECONDS": str(POLL_INTERVAL_SECONDS),
        "SERVING_RETRY_MIN_SECONDS": "0.2",
        "SERVING_RETRY_MAX_SECONDS": "1",
    }
    started: list[ServerProcess] = []

    def start(slot: int, port: int | None = None) -> ServerProcess:
        server = service_or_skip(
            lambda: start_serving(env, logs, name=f"replica-{slot}", port=port, wait_ready=True)
        )
        started.append(server)
        return server

    try:
        servers = [start(slot) for slot in range(1, REPLICAS + 1)]
        addresses = [server.url.removeprefix("http://") for server in servers]
        proxy = service_or_skip(lambda: start_haproxy(addresses, logs))
        started.append(proxy)
        cluster = Replicas(servers=servers, proxy=proxy, start=start)
        cluster.wait_states(all_up())
        yield cluster
    finally:
        stop_all(started)


def test_a_replica_killed_under_load_costs_at_most_its_requests_in_flight(
    replicas: Replicas,
) -> None:
    victim = replicas.servers[1]
    port = int(victim.url.rsplit(":", 1)[1])
    with PacedLoad(replicas.proxy.url, RATE, threads=THREADS) as load:
        time.sleep(4)
        before_kill = load.answered()
        killed_at = time.monotonic()
        os.killpg(victim.pid, signal.SIGKILL)
        down_after = replicas.wait_states({**all_up(), "serving2": "DOWN"})
        # Two replicas carry the load: measure what they answer.
        window_start, answered_start = time.monotonic(), load.answered()
        time.sleep(5)
        two_replica_rate = (load.answered() - answered_start) / (time.monotonic() - window_start)
        returned = replicas.start(2, port)
        up_after_start = replicas.wait_states(all_up())
        returned_before = predict_requests(returned.url)
        window_start, answered_start = time.monotonic(), load.answered()
        time.sleep(5)
        three_replica_rate = (load.answered() - answered_start) / (time.monotonic() - window_start)
        returned_share = (predict_requests(returned.url) - returned_before) / max(
            1, load.answered() - answered_start
        )
    stats = backend_servers(replicas.stats_url)
    lost = load.failed()
    kill_offset = killed_at - load.started
    figures = {
        **load.summary(),
        "replicas": REPLICAS,
        "offered_rate_per_second": RATE,
        "concurrency": THREADS,
        "answered_before_kill": before_kill,
        "failed_requests": lost,
        "failed_bound": THREADS,
        "failure_kinds": sorted(
            {kind for _, kind in load.errors} | {str(code) for _, code, _ in load.non_200}
        ),
        "seconds_until_proxy_marks_replica_down": round(down_after, 1),
        "answered_per_second_with_two_replicas": round(two_replica_rate, 1),
        "answered_per_second_after_return": round(three_replica_rate, 1),
        "share_of_requests_on_returned_replica": round(returned_share, 2),
        "seconds_returned_replica_up_in_proxy_after_ready": round(up_after_start, 1),
        "proxy_retries": sum(int(row["wretr"] or 0) for row in stats.values()),
        "proxy_redispatches": sum(int(row["wredis"] or 0) for row in stats.values()),
    }
    record("serving_replica_sigkill_behind_proxy", figures)

    # Only requests the killed replica was holding may fail: at most the load's concurrency,
    # all at the moment of the kill (none once the proxy had marked it down).
    assert lost <= THREADS, (figures, load.errors, load.non_200[:5])
    late = [at for at, _ in load.errors if at > kill_offset + down_after + 1]
    late += [at for at, _, _ in load.non_200 if at > kill_offset + down_after + 1]
    assert not late, (late, load.non_200[:5])
    # Two replicas keep up with the offered rate, and the returned one takes its share again.
    assert two_replica_rate >= 0.9 * RATE, figures
    assert three_replica_rate >= 0.9 * RATE, figures
    assert returned_share >= 0.15, figures


def test_a_champion_move_reaches_every_replica_within_a_poll_interval_without_errors(
    replicas: Replicas, mlflow_env: dict[str, str], model_name: str, champion: str
) -> None:
    def versions() -> list[str | None]:
        return [
            httpx.get(f"{server.url}/readyz", timeout=5).json().get("model_version")
            for server in replicas.servers
        ]

    assert versions() == [champion] * REPLICAS
    with PacedLoad(replicas.proxy.url, RATE, threads=THREADS) as load:
        time.sleep(2)
        new = register_small_model(
            mlflow_env["MLFLOW_TRACKING_URI"], model_name=model_name, n_train=300, seed=11
        )
        moved_at = time.monotonic()
        converged: dict[int, float] = {}

        def all_on_new() -> bool:
            for slot, version in enumerate(versions()):
                if version == new and slot not in converged:
                    converged[slot] = time.monotonic() - moved_at
            return len(converged) == REPLICAS

        wait_until(all_on_new, timeout=60, what="every replica on the new version", interval=0.1)
        time.sleep(3)
        answered_total = load.answered()
    # After convergence every answer through the proxy names the new version.
    with httpx.Client(base_url=replicas.proxy.url, timeout=10) as client:
        after = {
            client.post("/v1/predict", json={"text": load.texts[i]}).json()["model_version"]
            for i in range(REPLICAS * 3)
        }
    lost = load.failed()
    figures = {
        **load.summary(),
        "replicas": REPLICAS,
        "poll_interval_seconds": POLL_INTERVAL_SECONDS,
        "seconds_from_alias_move_to_each_replica_serving_it": sorted(
            round(seconds, 2) for seconds in converged.values()
        ),
        "failed_requests": lost,
        "answered": answered_total,
    }
    record("serving_replicas_champion_move", figures)

    assert lost == 0, (figures, load.errors, load.non_200[:5])
    assert load.versions == {champion, new}, load.versions
    assert after == {new}
    # One poll interval to see the move, plus the load and warm-up of a small model.
    assert max(converged.values()) <= POLL_INTERVAL_SECONDS + 5.0, figures

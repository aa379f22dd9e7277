"""Serving replicas behind HAProxy: the cost of the proxy hop and what a second replica buys.

Three configurations, all up at once on one machine, measured in interleaved rounds (order
rotated each round, medians reported, so the shared machine's noise falls on each alike):

- ``direct``: one serving replica called directly (what ``make local`` runs);
- ``proxy_1``: HAProxy (Debian's package, the committed ``deploy/haproxy/haproxy.cfg`` rendered
  for loopback by ``platform_processes.haproxy``) in front of that same replica;
- ``proxy_2``: a second HAProxy in front of that replica and a second one.

Each measurement is Debian's ``hey`` sending single-text ``POST /v1/predict`` requests (a held-out
text) at a FIXED rate (``--rate`` requests/s over ``--concurrency`` workers, not as fast as
possible) for ``--duration`` seconds; latency percentiles come from hey's per-request CSV. The
ratios (``summary``) are proxy_1 / direct (the hop) and proxy_2 / proxy_1 (a second replica).
Each replica is one serving process with one worker, on the ``bench/serve.py`` model.

    uv run --frozen python bench/serve_replicas.py        # ~6 minutes (15 runs of 15 s)
    uv run --frozen python bench/serve_replicas.py --duration 5 --rounds 1 --n-train 2000
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

from bench.serve import CHAMPION, register_bench_model, start_ours  # noqa: E402
from model_registry.candidates import CANDIDATES  # noqa: E402
from platform_processes.haproxy import backend_servers, start_haproxy  # noqa: E402
from platform_processes.launcher import ServerProcess, stop_all, wait_until  # noqa: E402

logger = logging.getLogger("bench.serve_replicas")
RESULTS = REPO / "bench" / "results" / "serve_replicas.json"
CONFIGURATIONS = ("direct", "proxy_1", "proxy_2")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def run_hey(url: str, body: Path, rate: float, concurrency: int, duration: float) -> dict[str, Any]:
    """``hey`` at ``rate`` requests/s for ``duration`` s; latency percentiles in milliseconds."""
    args = [
        "hey",
        "-z", f"{int(duration)}s",
        "-c", str(concurrency),
        "-q", f"{rate / concurrency:g}",
        "-m", "POST",
        "-T", "application/json",
        "-D", str(body),
        "-t", "10",
        "-o", "csv",
        url,
    ]  # fmt: skip
    load_before = os.getloadavg()[0]
    output = subprocess.run(args, capture_output=True, text=True, check=True, timeout=duration + 60)
    rows = list(csv.DictReader(output.stdout.splitlines()))
    latencies = [float(row["response-time"]) * 1000 for row in rows if row["status-code"] == "200"]
    if not latencies:
        raise RuntimeError(
            f"no request answered 200: {output.stdout[-300:]} {output.stderr[-300:]}"
        )
    return {
        "requests": len(rows),
        "non_200": len(rows) - len(latencies),
        "achieved_rate_per_second": round(len(rows) / duration, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p90_ms": round(percentile(latencies, 90), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "load_average_1m_before": round(load_before, 2),
    }


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("p50_ms", "p90_ms", "p99_ms", "achieved_rate_per_second")
    return {
        **{key: round(statistics.median(run[key] for run in runs), 2) for key in keys},
        "non_200": sum(run["non_200"] for run in runs),
        "requests": sum(run["requests"] for run in runs),
    }


def replicas_up(proxy: ServerProcess, wanted: int) -> bool:
    """Exactly ``wanted`` replicas are UP in ``proxy``'s stats page."""
    rows = backend_servers(proxy.extra["stats_url"]).values()
    return sum(row["status"] == "UP" for row in rows) == wanted


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second (fixed)")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n-train", type=int, default=8000)
    parser.add_argument("--candidate", choices=sorted(CANDIDATES), default=CHAMPION)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="bench-replicas-") as tmp:
        workdir = Path(tmp)
        model = register_bench_model(workdir, args.n_train, args.candidate)
        body = workdir / "body.json"
        body.write_text(json.dumps({"text": model["texts"][0]}))
        started: list[ServerProcess] = []
        try:
            replicas = []
            for name in ("replica-a", "replica-b"):
                replicas.append(start_ours(model, workdir, 1, True, name=name))
                started.append(replicas[-1])
            addresses = [server.url.removeprefix("http://") for server in replicas]
            proxy_1 = start_haproxy(addresses[:1], workdir / "logs", name="haproxy-1")
            started.append(proxy_1)
            proxy_2 = start_haproxy(addresses, workdir / "logs", name="haproxy-2")
            started.append(proxy_2)
            for proxy, wanted in ((proxy_1, 1), (proxy_2, 2)):
                wait_until(
                    partial(replicas_up, proxy, wanted),
                    timeout=60,
                    what=f"{proxy.name}: {wanted} replica(s) UP",
                )
            urls = {
                "direct": replicas[0].url,
                "proxy_1": proxy_1.url,
                "proxy_2": proxy_2.url,
            }
            for url in urls.values():  # warm-up
                run_hey(f"{url}/v1/predict", body, args.rate, args.concurrency, 3)
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CONFIGURATIONS}
            for round_number in range(args.rounds):
                shift = round_number % len(CONFIGURATIONS)
                for name in CONFIGURATIONS[shift:] + CONFIGURATIONS[:shift]:
                    result = run_hey(
                        f"{urls[name]}/v1/predict", body, args.rate, args.concurrency, args.duration
                    )
                    logger.info("round %d %s: %s", round_number + 1, name, result)
                    runs[name].append(result)
                    time.sleep(1)
        finally:
            stop_all(reversed(started))

    medians = {name: median_of(runs[name]) for name in CONFIGURATIONS}
    summary = {
        "proxy_hop_p50_added_ms": round(
            medians["proxy_1"]["p50_ms"] - medians["direct"]["p50_ms"], 2
        ),
        "proxy_hop_p99_ratio": round(medians["proxy_1"]["p99_ms"] / medians["direct"]["p99_ms"], 2),
        "two_replicas_vs_one_p99_ratio": round(
            medians["proxy_2"]["p99_ms"] / medians["proxy_1"]["p99_ms"], 2
        ),
        "non_200_total": sum(m["non_200"] for m in medians.values()),
    }
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "settings": {
            "rate_per_second": args.rate,
            "concurrency": args.concurrency,
            "duration_s": args.duration,
            "rounds": args.rounds,
            "n_train": args.n_train,
            "candidate": args.candidate,
            "replica": "one serving process, one worker, batching on",
            "proxy": "HAProxy " + haproxy_version(),
            "text_chars": len(model["texts"][0]),
        },
        "medians": medians,
        "summary": summary,
        "runs": runs,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    logger.info("summary: %s (written to %s)", summary, RESULTS)


def haproxy_version() -> str:
    output = subprocess.run(["haproxy", "-v"], capture_output=True, text=True, check=True).stdout
    return output.split()[2] if output.startswith("HAProxy version") else output.splitlines()[0]


if __name__ == "__main__":
    main()

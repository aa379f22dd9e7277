"""``make local``'s command line and main loop: start everything, print the URLs, stop on Ctrl-C."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from platform_processes import commands
from platform_processes.commands import LOCALHOST
from platform_processes.launcher import ServiceUnavailable, log_tail
from platform_processes.logging_config import configure_logging
from scripts.local_stack.components import (
    alertmanager_component,
    mlflow_component,
    plan_services,
    prometheus_component,
)
from scripts.local_stack.config import (
    ENV_FILE,
    QUICK_TRAINING,
    StackError,
    effective_config,
    local_state_dir,
    port_plan,
)
from scripts.local_stack.supervisor import Stack, has_champion, train_first_champion

MONITORING_DIR = commands.REPO_ROOT / "model_monitoring"
log = logging.getLogger("local_stack")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="make local",
        description="Run the whole platform as local processes (no Docker); Ctrl-C stops it.",
    )
    parser.add_argument("--env-file", type=Path, default=ENV_FILE, help="default: .env")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="train the first champion on a small sample with one trial (demo; a few seconds)",
    )
    parser.add_argument("--no-train", action="store_true", help="never train a first champion")
    parser.add_argument(
        "--prefect-server",
        action="store_true",
        help="also run a local Prefect server (UI on PREFECT_PORT); else flows run without one",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["frontend", "webhook", "worker", "prometheus", "alertmanager"],
        help="do not start this component (repeatable)",
    )
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def print_urls(stack: Stack, skipped: Mapping[str, str]) -> None:
    width = max(len(name) for name in [*(s.name for s in stack.running), *skipped])
    lines = ["", "The platform is up:"]
    lines += [f"  {s.name:<{width}}  {s.url or '(background process)'}" for s in stack.running]
    lines += [f"  {name:<{width}}  skipped: {reason}" for name, reason in skipped.items()]
    lines += [f"Logs: {stack.logs}", "Press Ctrl-C to stop everything.", ""]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def start_monitoring(
    stack: Stack, args: argparse.Namespace, config: Mapping[str, str], ports: Mapping[str, int]
) -> dict[str, str]:
    """Alertmanager, then Prometheus (it sends its alerts there), where installed; returns the
    skipped ones with the reason."""
    builds = {
        "alertmanager": (commands.ALERTMANAGER_BINARIES, alertmanager_component),
        "prometheus": (commands.PROMETHEUS_BINARIES, prometheus_component),
    }
    skipped: dict[str, str] = {}
    for name, (names, build) in builds.items():
        if name in args.skip:
            continue
        binary = commands.find_binary(names)
        if binary is None:
            skipped[name] = f"binary {' or '.join(names)} not found on PATH"
        elif not (MONITORING_DIR / name / f"{name}.yml").is_file():
            skipped[name] = f"no {MONITORING_DIR.name}/{name}/{name}.yml in this checkout"
        if name in skipped or binary is None:
            log.warning("%s skipped: %s", name, skipped[name])
            continue
        stack.start(build(binary, stack.state_dir, ports, config))
    return skipped


def run(args: argparse.Namespace) -> int:
    config = effective_config(args.env_file)
    ports = port_plan(config)
    state = local_state_dir()
    state.mkdir(parents=True, exist_ok=True)
    stack = Stack(state)
    skipped: dict[str, str] = {name: "--skip" for name in args.skip}
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        # One Ctrl-C reaches every process of the terminal's group and `uv run` forwards it once
        # more: only the first signal interrupts; later ones must not break off the shutdown.
        if stopping:
            log.info("%s received while stopping: already stopping", signal.Signals(signum).name)
            return
        stopping = True
        raise KeyboardInterrupt

    # Explicit handlers: a shell may start this script with SIGINT ignored (background job).
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        mlflow = stack.start(mlflow_component(state, ports))
        from model_registry import contract

        train_env = {"MLFLOW_TRACKING_URI": mlflow.url}
        if args.quick:
            train_env |= {k: v for k, v in QUICK_TRAINING.items() if k not in os.environ}
        if has_champion(mlflow.url, contract.MODEL_NAME, contract.CHAMPION_ALIAS):
            log.info("the registry already has a champion: no training")
        elif args.no_train:
            log.warning("no champion and --no-train: serving stays not ready until one exists")
        else:
            train_first_champion(train_env)

        for component in plan_services(config, ports, state, args.prefect_server):
            if component.name in args.skip:
                continue
            module = component.args[2] if component.args[1:2] == ["-m"] else ""
            if module.startswith("model_") and importlib.util.find_spec(module) is None:
                skipped[component.name] = f"module {module} is not in this checkout"
                log.warning("%s skipped: %s", component.name, skipped[component.name])
                continue
            if component.name == "serving" and args.no_train:
                component.health = f"http://{LOCALHOST}:{ports['serving']}/healthz"
            stack.start(component)
        skipped |= start_monitoring(stack, args, config, ports)
        skipped["grafana"] = "runs in the compose stack only"

        print_urls(stack, skipped)
        while True:
            dead = stack.dead()
            for server in dead:
                log.error(
                    "%s exited with code %s; last lines of %s:\n%s",
                    server.name,
                    server.process.returncode,
                    server.log,
                    log_tail(server.log),
                )
            if dead:
                return 1
            time.sleep(1.0)
    except KeyboardInterrupt:
        log.info("interrupted: stopping every process")
        return 0
    except (StackError, ServiceUnavailable) as exc:
        log.error("%s", exc)
        return 1
    finally:
        stopping = True
        stack.stop()
        log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    return run(parse_args(argv))

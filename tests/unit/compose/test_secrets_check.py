"""The compose preflight `secrets-check` (deploy/preflight/check_secrets.py): committed
development secrets or short ones stop the stack unless ALLOW_DEV_SECRETS=true."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

from tests.unit.compose.conftest import ENV_FILE, REPO_ROOT

SCRIPT = REPO_ROOT / "deploy" / "preflight" / "check_secrets.py"
SECRET_NAME = re.compile(r"(PASSWORD|SECRET_KEY|TOKEN)$")


def run_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30
    )


def secrets(dotenv: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in dotenv.items() if SECRET_NAME.search(k)}


def test_committed_env_is_refused_without_the_switch(dotenv: dict[str, str]) -> None:
    result = run_check({**secrets(dotenv), "ALLOW_DEV_SECRETS": dotenv["ALLOW_DEV_SECRETS"]})
    assert result.returncode == 1
    for name in secrets(dotenv):
        assert f"{name} is still the committed development value" in result.stderr


def test_the_development_switch_lets_it_start(dotenv: dict[str, str]) -> None:
    result = run_check({**secrets(dotenv), "ALLOW_DEV_SECRETS": "true"})
    assert result.returncode == 0 and "WARNING" in result.stderr


def test_real_secrets_pass_and_short_ones_do_not(dotenv: dict[str, str]) -> None:
    strong = {name: f"r3al-{name.lower()}-0123456789abcdef" for name in secrets(dotenv)}
    assert run_check(strong).returncode == 0
    short = {**strong, "APP_DB_PASSWORD": "Short-but-12"}
    result = run_check(short)
    assert result.returncode == 1 and "APP_DB_PASSWORD is shorter than 16" in result.stderr


def test_committed_values_are_marked_dev(dotenv: dict[str, str]) -> None:
    """The check recognises the committed values by their `dev-` prefix: keep it true."""
    assert dotenv["ALLOW_DEV_SECRETS"] == "false"
    assert all(value.startswith("dev-") for value in secrets(dotenv).values())


def test_every_secret_is_checked_and_every_service_waits(compose: dict[str, Any]) -> None:
    from scripts.local_stack import read_dotenv

    check = compose["services"]["secrets-check"]
    assert set(secrets(read_dotenv(ENV_FILE))) <= set(check["environment"])
    roots = [
        n
        for n, s in compose["services"].items()
        if n != "secrets-check" and not s.get("depends_on")
    ]
    assert not roots, f"{roots} start without waiting for secrets-check"
    for name in ("mysql", "minio", "postgres"):
        condition = compose["services"][name]["depends_on"]["secrets-check"]["condition"]
        assert condition == "service_completed_successfully"

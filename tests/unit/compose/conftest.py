"""Fixtures of the compose checks: the resolved compose model, the raw file, .env, pyproject."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_FILE = REPO_ROOT / ".env"
COMPOSE_BIN = Path(sys.executable).parent / "docker-compose"


def run_compose_config(
    *extra: str, global_args: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`docker compose config` with the venv's official Compose binary (no engine needed)."""
    if not COMPOSE_BIN.exists():
        pytest.fail(f"{COMPOSE_BIN} missing: `uv sync --frozen --all-extras` installs it")
    # Only the variables compose needs from the shell: .env alone must be enough.
    base_env = {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}
    return subprocess.run(
        [
            str(COMPOSE_BIN),
            "-f",
            str(COMPOSE_FILE),
            "--project-directory",
            str(REPO_ROOT),
            *global_args,
            "config",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base_env, **(env or {})},
        cwd=REPO_ROOT,
    )


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """The compose model as `docker compose config` resolves it (interpolated from .env)."""
    result = run_compose_config("--format", "json")
    assert result.returncode == 0, f"docker compose config failed:\n{result.stderr}"
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def raw_compose() -> dict[str, Any]:
    """docker-compose.yml as written (before interpolation)."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="session")
def dotenv() -> dict[str, str]:
    """The variables defined in .env."""
    from scripts.local_stack import read_dotenv

    return read_dotenv(ENV_FILE)


@pytest.fixture(scope="session")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())

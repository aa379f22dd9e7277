"""What ``make local`` reads: the compose ``.env`` file overlaid with the shell, and the port plan.

Ports and secrets come from the repository's ``.env`` (the file docker compose reads), with the
same variable names as compose; a variable exported in the shell wins, as with compose. The file
is parsed with python-dotenv (the parser pydantic-settings uses); a line it cannot parse is an
error that names the line, not a silently skipped setting.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

from dotenv.parser import parse_stream

from model_orchestration import prefect_security
from platform_processes.commands import REPO_ROOT

ENV_FILE = REPO_ROOT / ".env"

#: Compose service name -> the .env variable holding its published port (one source of truth:
#: compose publishes these ports, make local listens on them).
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


class StackError(RuntimeError):
    """The local stack cannot be configured or started; the message says which and why."""


def read_dotenv(path: Path) -> dict[str, str]:
    """A compose-style .env file: ``KEY=VALUE`` lines, ``#`` comments, optional quotes and
    ``export``; a line that is not an assignment raises :class:`StackError` naming it."""
    if not path.exists():
        return {}
    values: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(path.read_text(encoding="utf-8"))):
        if binding.key is None and not binding.error:
            continue  # blank line or comment
        if binding.error or binding.key is None or binding.value is None:
            line = binding.original.line
            raise StackError(f"{path}:{line}: not a KEY=VALUE line: {binding.original.string!r}")
        values[binding.key] = binding.value
    return values


def effective_config(
    env_file: Path = ENV_FILE, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
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

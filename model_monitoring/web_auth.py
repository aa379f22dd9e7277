"""Basic-auth web configuration of Prometheus and Alertmanager (their ``--web.config.file``), and
the secret files their configurations read.

Both servers check HTTP Basic logins against bcrypt hashes in a web configuration file; with
one, every route asks for the login (``/-/ready`` and ``/metrics`` included). No hash is ever
committed: ``write_web_config`` computes one from the password at start. Compose runs
``python -m model_monitoring.web_auth OUTPUT_DIR --secrets-dir DIR`` as the one-shot
``monitoring-auth`` (``PROMETHEUS_PASSWORD``, ``ALERTMANAGER_PASSWORD`` and
``ORCHESTRATION_WEBHOOK_TOKEN`` from .env; web configs on the ``monitoring-auth`` volume).

With ``--secrets-dir`` it also writes ``DIR/<server>/<name>`` for each of :data:`SECRET_FILES`:
the files a server's configuration names (``password_file``, ``credentials_file``), each server
only its own. Compose mounts ``DIR/<server>`` (one volume per server) read-only at
``/run/secrets`` of that server, which lets both run on a read-only root filesystem: Compose's own
environment-sourced secrets cannot be copied into one. ``make local`` and the tests call
``write_web_config`` and ``write_secret_file`` directly.

The login name is :data:`USERNAME` for both; the file is JSON, which is valid YAML.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from platform_processes.logging_config import configure_logging

logger = logging.getLogger(__name__)

#: The login of both servers (people, Grafana's datasource, Prometheus' alerting and scrapes).
USERNAME = "admin"
#: bcrypt cost: the servers cache a checked login, so a repeated scrape does not pay it again.
BCRYPT_ROUNDS = 10
#: Server -> its secret files (``/run/secrets/<name>`` in compose) and the variable of each:
#: Prometheus logs in to itself (self-scrape) and to Alertmanager (alerts, scrape); Alertmanager
#: posts alerts to the webhook with its token, and its healthcheck logs in with its password.
SECRET_FILES = {
    "prometheus": {
        "prometheus_password": "PROMETHEUS_PASSWORD",
        "alertmanager_password": "ALERTMANAGER_PASSWORD",
    },
    "alertmanager": {
        "alertmanager_password": "ALERTMANAGER_PASSWORD",
        "webhook_token": "ORCHESTRATION_WEBHOOK_TOKEN",
    },
}
#: Server name -> the variable holding its password (compose and ``make local`` alike).
PASSWORD_VARIABLES = {server: files[f"{server}_password"] for server, files in SECRET_FILES.items()}
#: A container server runs as another user than the one-shot that writes its secret files.
CONTAINER_SECRET_MODE = 0o444


def web_config(password: str, username: str = USERNAME) -> dict[str, dict[str, str]]:
    """The web configuration accepting ``username`` / ``password`` (bcrypt hash, fresh salt)."""
    import bcrypt

    if not password:
        raise ValueError("an empty password would lock the server or open it")
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()
    return {"basic_auth_users": {username: hashed}}


def write_web_config(path: Path, password: str, username: str = USERNAME) -> Path:
    """Write the web configuration to ``path`` (mode 0644: the server runs as another user)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(web_config(password, username), indent=1) + "\n")
    path.chmod(0o644)
    return path


def web_config_path(output_dir: Path, server: str) -> Path:
    return output_dir / f"{server}-web.yml"


def write_secret_file(path: Path, value: str, mode: int = 0o600) -> Path:
    """``value`` in ``path`` with ``mode`` (default: only its owner reads it); a configuration
    names the file, never the value. Replaces an earlier file whole, read-only or not, so a
    changed secret takes effect at the next start."""
    if not value:
        raise ValueError(f"{path.name}: an empty secret")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    # Created owner-only, so the value is never readable by others before the chmod.
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value)
        os.fchmod(handle.fileno(), mode)
    os.replace(partial, path)
    return path


def missing_variables(env: Mapping[str, str], *, secret_files: bool) -> list[str]:
    """The variables ``env`` lacks (or holds empty): the passwords, and with ``secret_files``
    every variable of :data:`SECRET_FILES`."""
    needed = set(PASSWORD_VARIABLES.values())
    if secret_files:
        needed |= {variable for files in SECRET_FILES.values() for variable in files.values()}
    return sorted(variable for variable in needed if not env.get(variable))


def write_secret_files(
    secrets_dir: Path, env: Mapping[str, str], mode: int
) -> dict[str, dict[str, Path]]:
    """Every file of :data:`SECRET_FILES` as ``secrets_dir/<server>/<name>``; their paths."""
    return {
        server: {
            name: write_secret_file(secrets_dir / server / name, env[variable], mode)
            for name, variable in files.items()
        }
        for server, files in SECRET_FILES.items()
    }


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir", type=Path, help="folder for <server>-web.yml")
    parser.add_argument(
        "--secrets-dir", type=Path, help="also write <server>/<name> secret files under it"
    )
    args = parser.parse_args(argv)
    configure_logging()
    env: Mapping[str, str] = os.environ if environ is None else environ
    missing = missing_variables(env, secret_files=args.secrets_dir is not None)
    if missing:
        logger.error("missing: %s", ", ".join(missing))
        return 1
    for server, variable in PASSWORD_VARIABLES.items():
        path = write_web_config(web_config_path(args.output_dir, server), env[variable])
        logger.info("wrote %s (login %s)", path, USERNAME)
    if args.secrets_dir is not None:
        for files in write_secret_files(args.secrets_dir, env, CONTAINER_SECRET_MODE).values():
            logger.info("wrote %s", ", ".join(str(path) for path in files.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

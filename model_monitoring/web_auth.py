"""Basic-auth web configuration of Prometheus and Alertmanager (their ``--web.config.file``).

Both servers check HTTP Basic logins against bcrypt hashes in a web configuration file; with
one, every route asks for the login (``/-/ready`` and ``/metrics`` included). No hash is ever
committed: ``write_web_config`` computes one from the password at start. Compose runs
``python -m model_monitoring.web_auth OUTPUT_DIR`` as the one-shot ``monitoring-auth``
(``PROMETHEUS_PASSWORD`` and ``ALERTMANAGER_PASSWORD`` from .env, files on the
``monitoring-auth`` volume); ``make local`` and the tests call ``write_web_config`` directly.

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
#: Server name -> the variable holding its password (compose and ``make local`` alike).
PASSWORD_VARIABLES = {"prometheus": "PROMETHEUS_PASSWORD", "alertmanager": "ALERTMANAGER_PASSWORD"}


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


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir", type=Path, help="folder for <server>-web.yml")
    args = parser.parse_args(argv)
    configure_logging()
    env: Mapping[str, str] = os.environ if environ is None else environ
    missing = [variable for variable in PASSWORD_VARIABLES.values() if not env.get(variable)]
    if missing:
        logger.error("missing: %s", ", ".join(missing))
        return 1
    for server, variable in PASSWORD_VARIABLES.items():
        path = write_web_config(web_config_path(args.output_dir, server), env[variable])
        logger.info("wrote %s (login %s)", path, USERNAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())

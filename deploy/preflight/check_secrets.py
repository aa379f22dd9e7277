"""Refuse to start the compose stack on development secrets (compose one-shot `secrets-check`).

Every variable passed in whose name ends in PASSWORD, SECRET_KEY or TOKEN must be at least 16
characters long and must not be a committed development value (the values in the repository's
.env all start with ``dev-``). ``ALLOW_DEV_SECRETS=true`` is the explicit development switch:
the problems are then printed as warnings and the stack starts. Standard library only (it runs
in the MLflow image before anything else starts).
"""

from __future__ import annotations

import os
import sys

SECRET_SUFFIXES = ("PASSWORD", "SECRET_KEY", "TOKEN")
MIN_LENGTH = 16
DEV_PREFIX = "dev-"


def problems(environ: dict[str, str]) -> list[str]:
    found = []
    for name in sorted(environ):
        if not name.endswith(SECRET_SUFFIXES):
            continue
        value = environ[name]
        if value.startswith(DEV_PREFIX):
            found.append(f"{name} is still the committed development value")
        elif len(value) < MIN_LENGTH:
            found.append(f"{name} is shorter than {MIN_LENGTH} characters")
    return found


def main(environ: dict[str, str]) -> int:
    found = problems(environ)
    allowed = environ.get("ALLOW_DEV_SECRETS", "").strip().lower() in {"1", "true", "yes"}
    for problem in found:
        print(f"secrets-check: {'WARNING' if allowed else 'ERROR'}: {problem}", file=sys.stderr)
    if found and not allowed:
        print(
            "secrets-check: refusing to start. Set real values in .env (README, 'Changing "
            "secrets for a real deployment'), or run with ALLOW_DEV_SECRETS=true on a "
            "development machine.",
            file=sys.stderr,
        )
        return 1
    print(f"secrets-check: {'development secrets allowed' if found else 'ok'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(dict(os.environ)))

"""Where a model came from: the git commit of the code that trained it."""

from __future__ import annotations

import subprocess

from model_registry import contract


def git_commit() -> str:
    """``HEAD`` of the project repository, or ``"unknown"`` outside a git checkout."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=contract.project_root(),
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"

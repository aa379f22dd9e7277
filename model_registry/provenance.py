"""Where a model came from: the git commit of the code that trained it."""

from __future__ import annotations

import subprocess
from pathlib import Path

#: The checkout holding this code (not ``PLATFORM_HOME``, which may point elsewhere).
CODE_ROOT = Path(__file__).resolve().parents[1]


def git_commit() -> str:
    """``HEAD`` of the project repository, or ``"unknown"`` outside a git checkout."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=CODE_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"

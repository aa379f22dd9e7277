"""Dockerfiles of our images: multi-stage uv builds of existing extras, non-root, healthcheck."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.unit.compose.conftest import REPO_ROOT

DOCKERFILES = {
    "model_registry/Dockerfile": "registry",
    "model_serving/Dockerfile": "serving",
    "model_orchestration/Dockerfile": "orchestration",
    "frontend/Dockerfile": "frontend",
}


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    result = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


@pytest.mark.parametrize(("dockerfile", "extra"), DOCKERFILES.items())
def test_dockerfile_is_a_locked_multi_stage_uv_build(
    dockerfile: str, extra: str, pyproject: dict[str, Any]
) -> None:
    steps = instructions(REPO_ROOT / dockerfile)
    stages = [args for keyword, args in steps if keyword == "FROM"]
    assert len(stages) >= 3, f"{dockerfile}: expected uv + builder + runtime stages"
    for image in stages:
        reference = image.split()[0]
        if not reference.startswith("$"):
            assert re.search(r":\d", reference), f"{dockerfile}: unpinned base image {reference}"
    syncs = [args for keyword, args in steps if keyword == "RUN" and "uv sync" in args]
    assert syncs, f"{dockerfile}: no `uv sync`"
    for sync in syncs:
        for flag in ("--frozen", "--no-dev", "--compile-bytecode", "--mount=type=cache"):
            assert flag in sync, f"{dockerfile}: `uv sync` without {flag}"
        extras = set(re.findall(r"--extra[ =](\S+)", sync))
        assert extras == {extra}, f"{dockerfile}: installs extras {extras}, expected {extra}"
        assert extras <= set(pyproject["project"]["optional-dependencies"])


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_runs_as_non_root_with_a_healthcheck(dockerfile: str) -> None:
    steps = instructions(REPO_ROOT / dockerfile)
    runtime = steps[max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM") :]
    users = [args for keyword, args in runtime if keyword == "USER"]
    assert users, f"{dockerfile}: the runtime stage sets no USER"
    assert users[-1] not in {"root", "0", "0:0"}, f"{dockerfile}: runs as root"
    checks = [args for keyword, args in runtime if keyword == "HEALTHCHECK"]
    assert checks and "CMD" in checks[-1], f"{dockerfile}: no HEALTHCHECK"
    assert [args for keyword, args in runtime if keyword == "CMD"], f"{dockerfile}: no CMD"


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_copies_only_existing_paths(dockerfile: str) -> None:
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    for keyword, args in instructions(REPO_ROOT / dockerfile):
        if keyword != "COPY" or "--from=" in args:
            continue
        sources = [part for part in args.split() if not part.startswith("--")][:-1]
        for source in sources:
            assert (REPO_ROOT / source).exists(), f"{dockerfile}: COPY {source}: no such path"
            top = source.strip("/").split("/")[0]
            assert top not in ignored, f"{dockerfile}: COPY {source} but .dockerignore drops it"

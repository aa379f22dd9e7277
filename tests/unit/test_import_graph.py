"""The project's import graph between packages: inner layers never import outer ones.

Layers, innermost first (a package may import its own layer and the layers inside it):

0. ``platform_processes``: process launcher and logging configuration (standard library only
   at import time, so every image can copy it);
1. ``model_registry``, ``model_monitoring``: the model contract, training, scope and drift code
   shared by every service;
2. ``model_serving``;
3. ``model_orchestration`` (reads serving's prediction log schema);
4. ``frontend``, ``scripts`` (``make local``).

``frontend`` talks to serving over HTTP only: its image holds ``frontend`` and
``platform_processes`` and nothing else, so it may import nothing else. Inside ``model_serving``,
``tests/unit/serving/test_layers.py`` keeps the HTTP modules from importing each other.
"""

from __future__ import annotations

import ast

from platform_processes.commands import REPO_ROOT

LAYERS = {
    "platform_processes": 0,
    "model_registry": 1,
    "model_monitoring": 1,
    "model_serving": 2,
    "model_orchestration": 3,
    "frontend": 4,
    "scripts": 4,
}
#: Packages whose image copies only some of the others: what they may import, exhaustively.
ONLY = {"frontend": {"platform_processes"}}


def project_imports(source: str) -> set[str]:
    """The project packages ``source`` imports (anywhere: top level, functions, TYPE_CHECKING)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found.update(name.split(".")[0] for name in names)
    return found & set(LAYERS)


def violations(package: str, source: str) -> list[str]:
    """Why importing what ``source`` imports breaks the layering of ``package`` (empty: fine)."""
    wrong = []
    for imported in sorted(project_imports(source) - {package}):
        if LAYERS[imported] > LAYERS[package]:
            wrong.append(f"imports outer {imported}")
        elif package in ONLY and imported not in ONLY[package]:
            wrong.append(f"imports {imported}, which its image does not hold")
    return wrong


def test_inner_packages_never_import_outer_ones() -> None:
    wrong = [
        f"{path.relative_to(REPO_ROOT)} {reason}"
        for package in LAYERS
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
        for reason in violations(package, path.read_text())
    ]
    assert not wrong, wrong


def test_the_check_catches_an_outward_import() -> None:
    assert violations("model_registry", "from model_serving.app import create_app") == [
        "imports outer model_serving"
    ]
    lazy = "def f():\n    import model_orchestration.worker\n"
    assert violations("model_serving", lazy) == ["imports outer model_orchestration"]
    assert violations("frontend", "from model_registry import contract") == [
        "imports model_registry, which its image does not hold"
    ]
    assert (
        violations("model_orchestration", "from model_serving.prediction_log import schema") == []
    )

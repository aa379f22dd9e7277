"""The serving package's import graph: layers import downwards only, HTTP modules not each other."""

from __future__ import annotations

import ast
from pathlib import Path

import model_serving

PACKAGE = Path(model_serving.__file__).parent

#: Outermost first. A module may import modules of its own layer or of layers below it.
LAYERS: dict[str, int] = {
    **dict.fromkeys(("__main__", "app", "workers"), 0),
    **dict.fromkeys(("middleware", "fast_predict", "routes", "dependencies", "error_handlers"), 1),
    **dict.fromkeys(("prediction", "request_parsing", "invocations", "feedback_intake"), 2),
    **dict.fromkeys(
        (
            "wiring",
            "batching",
            "model_holder",
            "model_checks",
            "model_version",
            "mlflow_source",
            "feedback",
            "prediction_log",
            "metrics",
            "explain",
            "model_check_texts",
            "linear_scorer",
            "rate_limit",
        ),
        3,
    ),
    **dict.fromkeys(("errors", "schemas", "settings"), 4),
}
HTTP = {name for name, layer in LAYERS.items() if layer == 1}
#: Routes read their FastAPI dependencies (the full-stack-fastapi-template ``deps`` pattern).
ALLOWED_HTTP_IMPORTS = {("routes", "dependencies")}


def serving_imports(path: Path) -> set[str]:
    """First component under ``model_serving`` of every module ``path`` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "model_serving" and len(parts) > 1:
                found.add(parts[1])
    return found & set(LAYERS)


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def test_every_module_has_a_layer() -> None:
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")} - {"__init__"}
    assert modules <= set(LAYERS), modules - set(LAYERS)


def test_layers_import_downwards_only_and_http_modules_not_each_other() -> None:
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        if name == "__init__":
            continue
        for imported in serving_imports(path) - {name}:
            if LAYERS[imported] < LAYERS[name]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports outer {imported}")
            if name in HTTP and imported in HTTP and (name, imported) not in ALLOWED_HTTP_IMPORTS:
                wrong.append(f"{path.relative_to(PACKAGE)} imports HTTP module {imported}")
    assert not wrong, wrong

"""README.md stays true to the code: ports table = compose, commands it documents exist."""

from __future__ import annotations

import importlib.util
import re
from typing import Any

from scripts import local_stack
from tests.unit.compose.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def readme_ports_table() -> dict[str, int]:
    """compose service -> port, from the README rows `| UI | `service` | port | URL |`."""
    rows = re.findall(
        r"^\|[^|]+\|\s*`([\w-]+)`\s*\|\s*(\d+)\s*\|\s*http://localhost:(\d+)\S*\s*\|$",
        README,
        flags=re.MULTILINE,
    )
    table = {}
    for service, port, url_port in rows:
        assert port == url_port, f"README: {service} lists port {port} but its URL uses {url_port}"
        table[service] = int(port)
    return table


def test_readme_ports_match_what_compose_publishes(compose: dict[str, Any]) -> None:
    published = {
        name: int(service["ports"][0]["published"])
        for name, service in compose["services"].items()
        if service.get("ports")
    }
    assert readme_ports_table() == published


def test_readme_ports_match_the_contracts_table() -> None:
    contracts = (REPO_ROOT / "docs" / "CONTRACTS.md").read_text()
    contract_ports = {
        int(p) for p in re.findall(r"\|\s*(\d{4})\s*\|\s*http://localhost", contracts)
    }
    assert set(readme_ports_table().values()) == contract_ports


def test_readme_names_make_test_as_the_test_command() -> None:
    assert "make test" in README
    assert re.search(r"^test:", (REPO_ROOT / "Makefile").read_text(), flags=re.MULTILINE)


def test_documented_make_targets_exist() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([\w-]+):", makefile, flags=re.MULTILINE))
    documented = set(re.findall(r"`make ([\w-]+)", README)) | set(
        re.findall(r"^make ([\w-]+)", README, flags=re.MULTILINE)
    )
    assert documented, "README documents no make target"
    assert documented <= targets, f"README documents missing targets {documented - targets}"


def test_documented_python_modules_exist() -> None:
    modules = set(re.findall(r"python -m ([\w.]+)", README))
    assert "model_registry" in modules
    missing = sorted(m for m in modules if importlib.util.find_spec(m) is None)
    assert not missing, f"README documents `python -m` modules that do not exist: {missing}"


def test_documented_local_mode_options_exist() -> None:
    documented = set(re.findall(r"^\| `(--[\w-]+)", README, flags=re.MULTILINE))
    assert {"--quick", "--no-train", "--skip"} <= documented
    parser = local_stack.build_parser()
    options = {option for action in parser._actions for option in action.option_strings}
    assert documented <= options, f"README documents unknown options {documented - options}"


def test_readme_mentions_every_compose_service(compose: dict[str, Any]) -> None:
    for service in compose["services"]:
        assert f"`{service}`" in README, f"README does not mention compose service {service}"


def test_readme_quickstart_counts_the_services_up_starts(compose: dict[str, Any]) -> None:
    """The quickstart's "starts N services" and "the K one-shots" are what `up` starts."""
    started = re.search(r"compose up -d\s+# builds our \d images, starts (\d+) services", README)
    one_shots = re.search(r"and the (\w+) one-shots `exited` with code 0", README)
    assert started and one_shots, "README quickstart: service counts not found"
    services = compose["services"]
    assert int(started.group(1)) == len(services)
    numbers = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}
    exiting = [name for name, service in services.items() if service.get("restart") == "no"]
    assert numbers[one_shots.group(1)] == len(exiting), sorted(exiting)

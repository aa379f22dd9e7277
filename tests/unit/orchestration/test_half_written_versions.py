"""A registration attempt that failed half-way leaves no version behind once the flow is done."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from model_registry import contract
from model_registry.workflow import unfinished_versions


class FakeClient:
    def __init__(self, versions: list[Any]) -> None:
        self.versions = versions

    def search_model_versions(self, query: str) -> list[Any]:
        assert query == "name = 'm'"
        return self.versions


def version(number: int, run_id: str, tags: dict[str, str]) -> Any:
    return SimpleNamespace(version=str(number), run_id=run_id, tags=tags)


def test_only_this_runs_versions_without_a_gate_decision_are_unfinished() -> None:
    gated = {contract.VersionTag.GATE_DECISION: "promoted"}
    client = FakeClient(
        [
            version(1, "old-run", {}),  # another training's version: not ours to delete
            version(2, "run-a", gated),  # finished
            version(3, "run-a", {contract.VersionTag.DATASET_DIGEST: "d"}),  # gate never ran
            version(4, "run-b", {}),  # registered, then tagging failed
        ]
    )
    assert unfinished_versions(client, "m", {"run-a", "run-b"}) == ["3", "4"]
    assert unfinished_versions(client, "m", {"run-c"}) == []

"""A training that fails after registration leaves nothing half-done, whichever way it ran.

``model_registry.workflow.train`` is the one chain behind ``python -m model_registry train`` and
the Prefect ``train`` flow. A failure after the version was registered (while recording the
model's hash, before the gate) or inside the gate (after the gate moved ``@champion``) must leave
the registry as it was: the same versions, ``@champion`` and ``@challenger`` where they were, and
the attempt's MLflow runs ``FAILED``, not ``RUNNING``. Before the clean-up moved into the
workflow, the CLI left the half-registered version behind (only the Prefect flow deleted it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from model_orchestration.flows.train import train as train_flow
from model_registry import contract, gate, registration
from model_registry.cli import main
from tests.support.model_fixtures import sample

pytestmark = pytest.mark.usefixtures("prefect_harness")


class InjectedFault(RuntimeError):
    """The failure a test injects (not an I/O error: the flow does not retry it)."""


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An embedded stack (MLflow on SQLite in a temp PLATFORM_HOME) with champion version 1."""
    home = tmp_path_factory.mktemp("cleanup")
    seed = home / "seed.csv"
    sample(240, seed=7).to_csv(seed, index=False)
    model_name = f"cleanup-{home.name}"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv("PLATFORM_HOME", str(home))
        mp.setenv("REGISTRY_DATA_PATH", str(seed))
        mp.setenv("REGISTRY_DATASET_STORE", str(home / "datasets"))
        mp.setenv("REGISTRY_MODEL_NAME", model_name)
        mp.setenv("REGISTRY_EXPERIMENT", model_name)
        mp.setenv("REGISTRY_CANDIDATES", "word_tfidf_lr")
        mp.setenv("REGISTRY_TRIALS", "1")
        mp.setenv("REGISTRY_F1_FLOOR", "0.5")
        mp.setenv("REGISTRY_GATE_MARGIN", "0.05")
        mp.setenv("REGISTRY_CLEANUP_TIMEOUT_SECONDS", "5")
        mp.setenv("ORCHESTRATION_IO_RETRIES", "0")
        assert main(["train"]) == 0
        yield model_name


def registry_state(model_name: str) -> dict[str, Any]:
    from mlflow import MlflowClient

    client = MlflowClient(contract.tracking_uri())
    versions = client.search_model_versions(f"name = '{model_name}'")
    experiment = client.get_experiment_by_name(model_name)
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    return {
        "versions": sorted(str(v.version) for v in versions),
        "aliases": {
            alias: str(version)
            for alias, version in client.get_registered_model(model_name).aliases.items()
        },
        "running": [r.info.run_name for r in runs if r.info.status == "RUNNING"],
        "runs": len(runs),
    }


def fail_recording_the_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registration fails after the version exists and is tagged, before ``@challenger`` moves."""

    def broken(*_args: object) -> str:
        raise InjectedFault("could not record the model hash")

    monkeypatch.setattr(registration, "record_model_sha256", broken)


def fail_after_promotion(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gate promotes (decision tagged, ``@champion`` moved), then fails."""
    set_champion = gate.set_champion

    def promote_then_fail(client: Any, model_name: str, version: str) -> str | None:
        set_champion(client, model_name, version)
        raise InjectedFault("lost the registry right after moving @champion")

    monkeypatch.setattr(gate, "set_champion", promote_then_fail)
    monkeypatch.setattr(gate, "decide", lambda *_a, **_k: (True, "forced promotion"))


def by_cli() -> None:
    with pytest.raises(InjectedFault):
        main(["train"])


def by_flow() -> None:
    state = train_flow(return_state=True)
    assert state.is_failed()
    with pytest.raises(InjectedFault):
        state.result()


@pytest.mark.parametrize("fault", [fail_recording_the_hash, fail_after_promotion])
@pytest.mark.parametrize("run", [by_cli, by_flow])
def test_a_failure_after_registration_leaves_no_version_and_no_alias_move(
    trained_once: str,
    monkeypatch: pytest.MonkeyPatch,
    fault: Callable[[pytest.MonkeyPatch], None],
    run: Callable[[], None],
    tmp_path: Path,
) -> None:
    before = registry_state(trained_once)
    assert before["aliases"] == {contract.CHAMPION_ALIAS: "1", contract.CHALLENGER_ALIAS: "1"}
    # New data each time (the flow trains on LATEST: the same set would be the same digest).
    extra = tmp_path / "more.csv"
    sample(260, seed=len(tmp_path.name)).to_csv(extra, index=False)
    monkeypatch.setenv("REGISTRY_DATA_PATH", str(extra))
    fault(monkeypatch)
    run()
    after = registry_state(trained_once)
    assert after["versions"] == before["versions"]
    assert after["aliases"] == before["aliases"]
    assert after["runs"] > before["runs"], "the attempt trained (its runs exist)"
    assert after["running"] == [], f"runs left RUNNING: {after['running']}"

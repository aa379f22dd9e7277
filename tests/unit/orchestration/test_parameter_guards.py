"""Run parameters cannot weaken the promotion gate nor point the worker outside its areas."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_orchestration.flows.guards import UnsafeParameter, inside
from model_orchestration.flows.ingest import ingest
from model_orchestration.flows.train import train


@pytest.mark.parametrize(
    "parameters",
    [
        {"gate_margin": 1.0},
        {"f1_floor": 0.0},
        {"dataset_digest": "../../etc/passwd"},
        {"data_path": "/etc/passwd"},
    ],
)
@pytest.mark.usefixtures("prefect_harness")
def test_train_refuses_parameters_that_weaken_it(
    orchestration_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch, parameters: dict
) -> None:
    monkeypatch.setenv("REGISTRY_GATE_MARGIN", "0.05")
    monkeypatch.setenv("REGISTRY_F1_FLOOR", "0.9")
    # Nothing may be reached: a tracking server that does not exist proves no step ran.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    state = train(**parameters, return_state=True)
    assert state.is_failed()
    with pytest.raises(UnsafeParameter, match=next(iter(parameters))):
        state.result()


@pytest.mark.usefixtures("prefect_harness")
def test_a_stricter_gate_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    from model_orchestration.flows.guards import check_train_parameters

    monkeypatch.setenv("REGISTRY_GATE_MARGIN", "0.05")
    monkeypatch.setenv("REGISTRY_F1_FLOOR", "0.9")
    check_train_parameters("a" * 64, None, f1_floor=0.95, gate_margin=0.0)


@pytest.mark.parametrize(
    "parameters",
    [
        {"source": "/etc"},
        {"quarantine": "/tmp/elsewhere"},
        {"dataset_store": "s3://other-bucket/store"},
        {"http_source_url": "http://169.254.169.254/latest/meta-data"},
    ],
)
@pytest.mark.usefixtures("prefect_harness")
def test_ingest_refuses_paths_outside_its_areas(
    orchestration_env: dict[str, Path], parameters: dict
) -> None:
    state = ingest(**parameters, return_state=True)
    assert state.is_failed()
    with pytest.raises(UnsafeParameter, match=r"outside|may only"):
        state.result()
    assert not (orchestration_env["datasets"] / "LATEST").exists(), "ingest ran anyway"


def test_inside_resolves_dots_links_and_prefixes(tmp_path: Path) -> None:
    area = tmp_path / "incoming"
    (area / "sub").mkdir(parents=True)
    inside(str(area / "sub"), str(area), "source")
    inside(None, str(area), "source")
    with pytest.raises(UnsafeParameter):
        inside(str(area / ".." / "other"), str(area), "source")
    (area / "link").symlink_to(tmp_path)
    with pytest.raises(UnsafeParameter):
        inside(str(area / "link"), str(area), "source")
    inside("s3://bucket/prefix/incoming/x", "s3://bucket/prefix/incoming", "source")
    for outside in ("s3://bucket/prefix/incoming2", "s3://bucket/prefix/incoming/../x", "/tmp"):
        with pytest.raises(UnsafeParameter):
            inside(outside, "s3://bucket/prefix/incoming", "source")

"""Settings from REGISTRY_* variables; the CLI's validate command and exit codes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from model_registry.cli import main
from model_registry.settings import ALL_CANDIDATES, RegistrySettings


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_CANDIDATES", "word_tfidf_lr, word_tfidf_cnb")
    monkeypatch.setenv("REGISTRY_TRIALS", "3")
    monkeypatch.setenv("REGISTRY_F1_FLOOR", "0.9")
    settings = RegistrySettings()
    assert settings.candidates == ("word_tfidf_lr", "word_tfidf_cnb")
    assert (settings.trials, settings.f1_floor) == (3, 0.9)
    assert RegistrySettings(candidates=ALL_CANDIDATES).candidates == ALL_CANDIDATES


def test_unknown_candidate_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("REGISTRY_CANDIDATES", "word_tfidf_lr,gpt5")
    path = tmp_path / "d.csv"
    path.write_text("text,generated\n")
    assert main(["validate", str(path)]) == 2
    assert "gpt5" in capsys.readouterr().err


def test_validate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    long = "A sufficiently long text for the minimum length rule of validation, "
    good = tmp_path / "good.csv"
    good.write_text(f'text,generated\n"{long} one",0\n"{long} two",1\n')
    assert main(["validate", str(good)]) == 0
    assert "valid: 2 rows accepted" in capsys.readouterr().out

    bad = tmp_path / "bad.csv"
    bad.write_text(f'text,generated\n"{long} one",0\n"{long} two",3\n"{long} three",1\n')
    assert main(["validate", str(bad)]) == 3
    captured = capsys.readouterr()
    assert "row 1: label_in_0_1" in captured.out
    assert captured.err.strip().startswith("error (DataValidationError): invalid:")
    assert len(captured.err.strip().splitlines()) == 1

    assert main(["validate", str(tmp_path / "missing.csv")]) == 3


def _mlflow_lost_mid_run(*_args: object, **_kwargs: object) -> None:
    """What MLflow raises when its server goes away during a run: the connection error is the
    context of an ``MlflowException`` (``rest_utils.http_request``)."""
    import requests
    from mlflow.exceptions import MlflowException

    try:
        raise requests.exceptions.ConnectionError("Max retries exceeded (Connection refused)")
    except requests.exceptions.ConnectionError as exc:
        # As MLflow raises it: the connection error is the context, not the cause.
        raise MlflowException(f"API request to /api/2.0/mlflow/runs/create failed: {exc}")  # noqa: B904


def test_connection_lost_during_train_is_exit_4_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import model_registry.workflow

    monkeypatch.setattr(model_registry.workflow, "train", _mlflow_lost_mid_run)
    assert main(["train"]) == 4
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error (RegistryUnavailable): connection lost: API request")


def test_other_errors_during_train_still_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    import model_registry.workflow

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(model_registry.workflow, "train", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["train"])


def test_remote_tracking_retries_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from model_registry.tracking import limit_remote_retries

    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    limit_remote_retries("http://mlflow:5000")
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "5"  # the environment wins

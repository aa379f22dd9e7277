"""Settings from REGISTRY_* variables; the CLI's validate command and exit codes."""

from __future__ import annotations

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

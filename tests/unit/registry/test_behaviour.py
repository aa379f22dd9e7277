"""The behavioural tests themselves must be able to fail."""

from __future__ import annotations

from model_registry.behaviour import MFT_AI, MFT_HUMAN, run_behaviour_tests

SAMPLE = [f"Essay number {i} about cars and the electoral college." for i in range(50)]


def oracle(texts: list[str]) -> list[float]:
    """Knows the hand-written examples; otherwise decides on content, not on padding/names."""
    out = []
    for text in texts:
        if text in MFT_AI:
            out.append(0.9)
        elif text in MFT_HUMAN:
            out.append(0.1)
        else:
            out.append(0.8 if "number 1" in text else 0.2)
    return out


def test_a_well_behaved_model_passes() -> None:
    result = run_behaviour_tests(oracle, 0.5, SAMPLE)
    assert result.passed, result.details
    assert set(result.details) == {
        "invariance_trailing_whitespace",
        "invariance_changed_name",
        "mft_human_examples",
        "mft_ai_examples",
    }


def test_whitespace_sensitivity_fails_invariance() -> None:
    def model(texts: list[str]) -> list[float]:
        return [0.9 if t.endswith("\n") else p for t, p in zip(texts, oracle(texts), strict=True)]

    result = run_behaviour_tests(model, 0.5, SAMPLE)
    assert not result.passed
    assert "invariance_trailing_whitespace" in result.failed_tests


def test_name_sensitivity_fails_invariance() -> None:
    def model(texts: list[str]) -> list[float]:
        return [0.9 if "Maria" in t or "Emily" in t or "Carlos" in t else 0.1 for t in texts]

    result = run_behaviour_tests(model, 0.5, SAMPLE)
    assert "invariance_changed_name" in result.failed_tests


def test_constant_model_fails_minimum_functionality() -> None:
    result = run_behaviour_tests(lambda texts: [0.9] * len(texts), 0.5, SAMPLE)
    assert result.failed_tests == ["mft_human_examples"]

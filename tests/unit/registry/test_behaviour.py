"""The behavioural tests themselves must be able to fail."""

from __future__ import annotations

import pytest

from model_registry.behaviour import MFT_AI, MFT_HUMAN, behaviour_sample, run_behaviour_tests

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


def test_the_sample_reaches_the_genres_at_the_end_of_the_split() -> None:
    """The test split holds the multi-domain corpus first and the essays after it: the first
    100 rows (what the tests once took) hold no essay, the seeded sample holds them in
    proportion."""
    genres = ["review"] * 2_400 + ["student_essay"] * 1_760
    rows = behaviour_sample(len(genres), size=1_000, seed=13)
    sampled = [genres[i] for i in rows]
    assert len(set(rows.tolist())) == 1_000
    assert 0.35 < sampled.count("student_essay") / len(sampled) < 0.50
    assert (behaviour_sample(len(genres), size=1_000, seed=13) == rows).all()
    assert len(behaviour_sample(40, size=1_000)) == 40


def test_each_text_is_judged_at_its_own_threshold() -> None:
    """A name that moves a score across its text's routed threshold is a flip, though the global
    threshold (higher) would not see it."""

    def model(texts: list[str]) -> list[float]:
        return [
            0.6 if "Emily" in t else 0.4 if "Sincerely" in t else p
            for t, p in zip(texts, oracle(texts), strict=True)
        ]

    at_global = run_behaviour_tests(model, 0.9, SAMPLE)
    assert "invariance_changed_name" not in at_global.failed_tests
    routed = run_behaviour_tests(model, 0.9, SAMPLE, sample_thresholds=[0.5] * len(SAMPLE))
    assert "invariance_changed_name" in routed.failed_tests
    assert routed.details["invariance_changed_name"]["judged_at"] == "routed"


def test_sample_thresholds_must_match_the_texts() -> None:
    with pytest.raises(ValueError, match="2 sample thresholds for 50"):
        run_behaviour_tests(oracle, 0.5, SAMPLE, sample_thresholds=[0.5, 0.5])

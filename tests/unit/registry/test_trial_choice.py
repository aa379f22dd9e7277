"""The trial a candidate keeps: the most regularised one within a standard error of the best."""

from __future__ import annotations

import pytest

from model_registry.candidates import CANDIDATES
from model_registry.trial_choice import choose_trial, f1_standard_error


def test_the_standard_error_shrinks_with_the_validation_split() -> None:
    assert f1_standard_error(0.9656, 4160) == pytest.approx(0.00282, abs=1e-5)
    assert f1_standard_error(0.9656, 416_000) < f1_standard_error(0.9656, 4160) / 9


def test_trials_within_the_noise_go_to_the_most_regularised() -> None:
    # The champion candidate's four trials on the shipped corpus (C: 30, 184, 9.95, 15.7): the
    # highest F1 (C 184) is 0.0002 above C 30, well inside one standard error on 4,160 texts.
    f1s = [0.9656, 0.9658, 0.9639, 0.9643]
    complexities = [30.0, 184.08, 9.95, 15.69]
    assert choose_trial(f1s, complexities, 4160) == 2


def test_a_trial_outside_the_noise_is_not_kept_for_being_simpler() -> None:
    f1s = [0.90, 0.97]
    assert choose_trial(f1s, [1.0, 100.0], 4160) == 1
    # On a large enough split the same two F1 values are told apart the other way round too.
    assert choose_trial([0.9656, 0.9658], [30.0, 184.0], 1_000_000) == 1


def test_equal_complexity_keeps_the_higher_f1_then_the_earlier_trial() -> None:
    assert choose_trial([0.95, 0.951], [1.0, 1.0], 4160) == 1
    assert choose_trial([0.95, 0.95], [1.0, 1.0], 4160) == 0


def test_mismatched_or_empty_trials_are_refused() -> None:
    with pytest.raises(ValueError, match="2 F1 values for 1 trials"):
        choose_trial([0.9, 0.8], [1.0], 100)
    with pytest.raises(ValueError):
        choose_trial([], [], 100)


def test_complexity_grows_with_c_and_shrinks_with_smoothing() -> None:
    lr = CANDIDATES["word_style_lm_stack"]
    assert lr.complexity({"C": 10.0}) < lr.complexity({"C": 100.0})
    nb = CANDIDATES["word_tfidf_cnb"]
    assert nb.complexity({"alpha": 0.5}) < nb.complexity({"alpha": 0.01})
